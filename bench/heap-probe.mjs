// Preloaded into a broker process by bench/memory.mjs (`node --expose-gc --import ./bench/heap-probe.mjs
// <broker>`): on SIGUSR2 it collects garbage and prints the heap in use as one JSON line on stdout.
process.on('SIGUSR2', () => {
  for (let i = 0; i < 3; i++) globalThis.gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ heapUsed, rss })}\n`);
});
