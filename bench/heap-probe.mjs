// Preloaded into a broker process by bench/memory.mjs (`node --expose-gc --import ./bench/heap-probe.mjs
// <broker>`): on SIGUSR2 it collects garbage and prints the heap in use as one JSON line on stdout. With
// BENCH_HEAP_SNAPSHOTS=<dir> it also writes a heap snapshot there each time (compare two with
// `node bench/heap-diff.mjs before after`).
import { writeHeapSnapshot } from 'node:v8';

let taken = 0;
process.on('SIGUSR2', () => {
  for (let i = 0; i < 3; i++) globalThis.gc?.();
  const { heapUsed, rss } = process.memoryUsage();
  const dir = process.env.BENCH_HEAP_SNAPSHOTS;
  if (dir) writeHeapSnapshot(`${dir}/${process.pid}-${taken++}.heapsnapshot`);
  process.stdout.write(`${JSON.stringify({ heapUsed, rss })}\n`);
});
