// Benchmark: QoS 0 publish throughput through keygate vs bare aedes measured in the same run (issue 7,
// targets 1 and 2). Both brokers run in their own processes; the clients are raw TCP sockets that send
// pre-encoded packets (mqtt-packet's `generate`), so the client side is not the bottleneck.
// keygate: 10,000 registered devices, keys restricted to 1,000 of them by device IDs and a tag, one
// subscriber on `losant/+/state` (every delivery is scope-checked) and BENCH_PUBLISHERS publishers, each
// on its own `losant/<id>/state`. Runs alternate bare, keygate, bare, keygate, ... BENCH_RUNS times each;
// medians and the ratio keygate/bare are reported. Around every keygate run the benchmark reads Redis
// `INFO commandstats` and reports the commands per SUBSCRIBE and per publish (+ its delivery).
// Each broker's CPU time is read from /proc around every run too: CPU per message, keygate's over bare's.
// The ratio keygate/bare is the median of the rounds' paired ratios: in each round bare and keygate run
// back to back, in alternating order (bench/lib.mjs medianPairedRatio); the ratio of medians is kept too.
// When Debian's mosquitto is installed it runs too, as the native reference (bench/lib.mjs startMosquitto:
// password file, ACL: a client writes under losant/<its client ID>/, reads losant/#), interleaved with
// the others; keygate is also reported against it. Not installed (or BENCH_MOSQUITTO=off): "skipped".
// Profiling: BENCH_NODE_ARGS (keygate) and BENCH_BARE_NODE_ARGS (bare aedes) are put before the script.
// KEYGATE_MAIN=<path> runs another keygate build (default dist/server/main.js): an A/B of two builds.
// Run: npm run bench:throughput. Sizes: BENCH_DEVICES (10000), BENCH_MESSAGES (200000 per run),
// BENCH_PUBLISHERS (10), BENCH_RUNS (5, on each of BENCH_PROCESSES (6) pairs of broker processes started one
// pair after the other), BENCH_PAYLOAD (64 bytes). --json prints one JSON object, --save
// also writes docs/bench-results/throughput.json (for bench/chart.mjs).
// A/A control: KEYGATE_MAIN=bench/bare-aedes.mjs runs bare aedes in keygate's slot (bench/lib.mjs isControl):
// the ratio then reads the benchmark's noise floor.
import { Redis } from 'ioredis';
import { freeLoopbackPort, startThrowawayRedis } from '../dist/demo/redis-server.js';
import {
  benchProcesses,
  brokerNodeArgs,
  isControl,
  keygateBenchEnv,
  keygateMain,
  median,
  medianPairedRatio,
  saveResults,
  startBroker,
  startMosquitto,
  stopChild,
  valuesByProcess,
  withCpuOf,
} from './lib.mjs';
import { oneRun, PREFIX, SECRET, seedPublishScope } from './publish-run.mjs';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 10_000);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200_000);
const PUBLISHERS = Number(process.env.BENCH_PUBLISHERS ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
// Pairs of broker processes, one pair after the other, RUNS rounds each (bench/lib.mjs benchProcesses).
const PROCESSES = benchProcesses(6);
const CONTROL = isControl();
const PAYLOAD = Number(process.env.BENCH_PAYLOAD ?? 64);
const SIZES = { messages: MESSAGES, publishers: PUBLISHERS, payload: PAYLOAD };
const json = process.argv.includes('--json');

/**
 * Runs `run` and adds the broker's CPU per message (µs, user + system, every thread, from /proc: bench/lib.mjs
 * withCpuOf) to its result: unlike the rate, it hardly depends on how much of the machine the load
 * generator and the neighbours took during the run. undefined where /proc is missing.
 */
async function withBrokerCpu(pid, run) {
  const { result, cpuMs } = await withCpuOf(pid, run);
  return { ...result, cpuUsPerMessage: cpuMs === undefined ? undefined : (cpuMs * 1000) / result.messages };
}

async function main() {
  const redisServer = await startThrowawayRedis();
  const redis = new Redis(redisServer.url);
  const scope = await seedPublishScope(redis, DEVICES);

  const mosquittoPort = await freeLoopbackPort();
  const inScope = [...scope.byId, ...scope.byTag];
  const mosquitto = await startMosquitto(
    mosquittoPort,
    inScope.map((i) => [`key-${i}`, SECRET]),
    ['pattern write losant/%c/#', 'pattern read losant/#'],
  );
  const runs = [];
  const progress = (r) => {
    if (!json) process.stderr.write(`${r.variant} ${Math.round(r.deliveredPerSec)} delivered msg/s\n`);
    return r;
  };
  let bare;
  let keygate;
  try {
    for (let g = 0; g < PROCESSES; g++) {
      const barePort = await freeLoopbackPort();
      bare = await startBroker([...brokerNodeArgs('BENCH_BARE_NODE_ARGS'), 'bench/bare-aedes.mjs'], {
        MQTT_PORT: String(barePort),
        MQTT_HOST: '127.0.0.1',
      });
      const keygatePort = await freeLoopbackPort();
      keygate = await startBroker([...brokerNodeArgs('BENCH_NODE_ARGS'), keygateMain()], {
        ...keygateBenchEnv(redisServer.url, PREFIX),
        MQTT_PORT: String(keygatePort),
        MQTT_HOST: '127.0.0.1',
        HTTP_PORT: '0',
      });
      // One warm-up run each (JIT), not reported.
      await oneRun('bare', barePort, scope, undefined, SIZES);
      await oneRun('keygate', keygatePort, scope, undefined, SIZES);
      if (mosquitto && g === 0) await oneRun('mosquitto', mosquittoPort, scope, undefined, SIZES);
      for (let r = 0; r < RUNS; r++) {
        // bare and keygate back to back, in alternating order (their paired ratio is the target's).
        const bareRun = () =>
          withBrokerCpu(bare.pid, () => oneRun('bare', barePort, scope, undefined, SIZES));
        const keygateRun = () =>
          withBrokerCpu(keygate.pid, () => oneRun('keygate', keygatePort, scope, redis, SIZES));
        const round = g * RUNS + r;
        for (const run of round % 2 === 0 ? [bareRun, keygateRun] : [keygateRun, bareRun]) {
          runs.push(progress({ round, processes: g + 1, ...(await run()) }));
        }
        if (mosquitto)
          runs.push(
            progress({
              round,
              processes: g + 1,
              ...(await withBrokerCpu(mosquitto.child.pid, () =>
                oneRun('mosquitto', mosquittoPort, scope, undefined, SIZES),
              )),
            }),
          );
      }
      await stopChild(bare);
      await stopChild(keygate);
    }
  } finally {
    await mosquitto?.stop();
    await stopChild(bare);
    await stopChild(keygate);
    redis.disconnect();
    await redisServer.stop();
  }

  const cpuOf = (mine) => {
    const cpu = mine.map((r) => r.cpuUsPerMessage).filter((c) => c !== undefined);
    return cpu.length === 0 ? undefined : median(cpu);
  };
  const summary = (variant) => {
    const mine = runs.filter((r) => r.variant === variant);
    return {
      acceptedPerSec: median(mine.map((r) => r.acceptedPerSec)),
      deliveredPerSec: median(mine.map((r) => r.deliveredPerSec)),
      lost: mine.reduce((sum, r) => sum + (r.messages - r.delivered), 0),
      cpuUsPerMessage: cpuOf(mine),
    };
  };
  const bareSummary = summary('bare');
  const keygateSummary = summary('keygate');
  const mosquittoSummary = mosquitto ? summary('mosquitto') : undefined;
  const keygateRuns = runs.filter((r) => r.variant === 'keygate');
  const bareRuns = runs.filter((r) => r.variant === 'bare');
  const bareByProcess = valuesByProcess(runs, PROCESSES, 'bare', 'deliveredPerSec');
  const paired = (field) =>
    medianPairedRatio(
      keygateRuns.map((r) => r[field]),
      bareRuns.map((r) => r[field]),
    );
  const publishCommands = keygateRuns.reduce((sum, r) => sum + r.redisDuringPublish.total, 0);
  const subscribeCommands = keygateRuns.reduce((sum, r) => sum + r.redisPerSubscribe.total, 0);
  const published = keygateRuns.reduce((sum, r) => sum + r.messages, 0);
  const report = {
    // An A/A control (KEYGATE_MAIN=bench/bare-aedes.mjs): "keygate" is a second bare aedes.
    control: CONTROL,
    keygateMain: keygateMain(),
    devices: DEVICES,
    scopeSize: scope.byId.length + scope.byTag.length,
    publishers: PUBLISHERS,
    messagesPerRun: keygateRuns[0]?.messages ?? 0,
    payloadBytes: PAYLOAD,
    processes: PROCESSES,
    runsPerProcess: RUNS,
    runsPerVariant: RUNS * PROCESSES,
    bare: bareSummary,
    keygate: keygateSummary,
    mosquitto: mosquittoSummary
      ? { version: mosquitto.version, ...mosquittoSummary }
      : 'skipped (not installed)',
    // The target's ratio: the median of the rounds' keygate/bare ratios (runs back to back).
    ratio: { accepted: paired('acceptedPerSec'), delivered: paired('deliveredPerSec') },
    // The broker's CPU per message, keygate's over bare's, paired like the rates: its inverse is the rate
    // ratio a CPU-bound broker would reach on a machine of its own.
    cpuPerMessageRatio: bareSummary.cpuUsPerMessage === undefined ? undefined : paired('cpuUsPerMessage'),
    // Each pair of processes on its own (how far apart they are is the spread one pair alone had).
    perProcess: valuesByProcess(runs, PROCESSES, 'keygate', 'deliveredPerSec').map((keygate, g) => ({
      delivered: medianPairedRatio(keygate, bareByProcess[g]),
    })),
    // The ratio of the medians, for comparison with earlier reports (more exposed to drift).
    ratioOfMedians: {
      accepted: keygateSummary.acceptedPerSec / bareSummary.acceptedPerSec,
      delivered: keygateSummary.deliveredPerSec / bareSummary.deliveredPerSec,
    },
    ratioToMosquitto: mosquittoSummary
      ? {
          keygateAccepted: keygateSummary.acceptedPerSec / mosquittoSummary.acceptedPerSec,
          keygateDelivered: keygateSummary.deliveredPerSec / mosquittoSummary.deliveredPerSec,
          bareDelivered: bareSummary.deliveredPerSec / mosquittoSummary.deliveredPerSec,
        }
      : undefined,
    redis: {
      commandsPerPublish: publishCommands / published,
      commandsDuringPublish: publishCommands,
      commandsPerSubscribe: subscribeCommands / keygateRuns.length,
      heartbeatSetsDuringPublish: keygateRuns.reduce((sum, r) => sum + r.redisDuringPublish.heartbeat, 0),
      byCommand: keygateRuns.map((r) => ({
        subscribe: r.redisPerSubscribe.byCommand,
        publish: r.redisDuringPublish.byCommand,
      })),
    },
    runs: runs.map(({ redisPerSubscribe, redisDuringPublish, ...r }) => r),
  };
  await saveResults('throughput', report);
  if (json) {
    console.log(JSON.stringify(report));
    return;
  }
  if (CONTROL) {
    console.log(`A/A CONTROL: the "keygate" rows are a second bare aedes (KEYGATE_MAIN=${keygateMain()})\n`);
  }
  console.log(
    `publish throughput: ${DEVICES} devices, keys scoped to ${report.scopeSize}, ${PUBLISHERS} publishers, 1 subscriber on losant/+/state, ${report.messagesPerRun} QoS 0 messages of ${PAYLOAD} B per run, ${RUNS} runs each (interleaved) on each of ${PROCESSES} pairs of broker processes\n`,
  );
  console.log(
    '| processes | run | broker | accepted msg/s | delivered msg/s | delivered/sent | broker CPU µs/msg |',
  );
  console.log('|---|---|---|---|---|---|---|');
  runs.forEach((r) => {
    console.log(
      `| ${r.processes} | ${r.round + 1} | ${r.variant} | ${Math.round(r.acceptedPerSec)} | ${Math.round(r.deliveredPerSec)} | ${r.delivered}/${r.messages} | ${r.cpuUsPerMessage?.toFixed(2) ?? '-'} |`,
    );
  });
  console.log('\n| broker | median accepted msg/s | median delivered msg/s |');
  console.log('|---|---|---|');
  console.log(
    `| bare aedes | ${Math.round(bareSummary.acceptedPerSec)} | ${Math.round(bareSummary.deliveredPerSec)} |`,
  );
  console.log(
    `| keygate | ${Math.round(keygateSummary.acceptedPerSec)} | ${Math.round(keygateSummary.deliveredPerSec)} |`,
  );
  if (mosquittoSummary) {
    console.log(
      `| mosquitto ${mosquitto.version} | ${Math.round(mosquittoSummary.acceptedPerSec)} | ${Math.round(mosquittoSummary.deliveredPerSec)} |`,
    );
  }
  console.log(
    `| keygate / bare (ratio of medians) | ${report.ratioOfMedians.accepted.toFixed(3)} | ${report.ratioOfMedians.delivered.toFixed(3)} |`,
  );
  console.log(
    `| keygate / bare (median of the ${RUNS * PROCESSES} paired rounds: the target's, >= 0.95) | ${report.ratio.accepted.toFixed(3)} | ${report.ratio.delivered.toFixed(3)} |`,
  );
  if (mosquittoSummary) {
    console.log(
      `| keygate / mosquitto | ${report.ratioToMosquitto.keygateAccepted.toFixed(3)} | ${report.ratioToMosquitto.keygateDelivered.toFixed(3)} |`,
    );
  } else {
    console.log('\nmosquitto: skipped (not installed)');
  }
  console.log(
    `\nRedis commands (keygate runs, INFO excluded): ${report.redis.commandsPerSubscribe} per SUBSCRIBE; ${publishCommands} during ${published} publishes + deliveries (${report.redis.commandsPerPublish} per publish); heartbeat canary SETs meanwhile (time-based, not per message): ${report.redis.heartbeatSetsDuringPublish}`,
  );
  if (report.cpuPerMessageRatio !== undefined) {
    const us = (s) => (s?.cpuUsPerMessage === undefined ? '-' : s.cpuUsPerMessage.toFixed(2));
    console.log(
      `broker CPU per message (user + system, all threads, /proc; medians): bare ${us(bareSummary)} µs, keygate ${us(keygateSummary)} µs, mosquitto ${us(mosquittoSummary)} µs; keygate / bare ${report.cpuPerMessageRatio.toFixed(3)} (median of the paired rounds)`,
    );
  }
  console.log(
    `per pair of processes, keygate/bare delivered (median of its paired rounds): ${report.perProcess.map((p) => p.delivered.toFixed(3)).join(', ')}`,
  );
  if (publishCommands > 0) console.log(JSON.stringify(report.redis.byCommand));
}

await main();
