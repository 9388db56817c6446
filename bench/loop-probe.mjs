// Preloaded into a broker process by bench/connect.mjs (`node --import ./bench/loop-probe.mjs <broker>`,
// spawned with an IPC channel): it samples the process' event-loop delay with
// perf_hooks.monitorEventLoopDelay from the start, and answers the parent's messages:
// 'loop-reset' empties the histogram, 'loop-report' sends back { p50, p99, max, count } in ms.
import { monitorEventLoopDelay } from 'node:perf_hooks';

if (process.send) {
  const histogram = monitorEventLoopDelay({ resolution: 5 });
  histogram.enable();
  process.on('message', (message) => {
    if (message === 'loop-reset') histogram.reset();
    if (message === 'loop-report') {
      const ms = (ns) => ns / 1e6;
      process.send({
        loop: {
          p50: ms(histogram.percentile(50)),
          p99: ms(histogram.percentile(99)),
          max: ms(histogram.max),
          count: histogram.count,
        },
      });
    }
  });
  // The IPC channel alone must not keep a broker alive that would otherwise exit.
  process.channel?.unref();
}
