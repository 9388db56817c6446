/**
 * The Node.js (V8) options keygate's broker process runs with: `npm start` and the Dockerfile's CMD put them
 * before `dist/server/main.js`, and the benchmarks start every broker they compare — bare aedes too — with
 * them (test/e2e/dockerfile.test.ts keeps the three in agreement).
 *
 * `--no-allocation-site-pretenuring`: V8 counts how many objects of each allocation site survive a
 * scavenge and, past ~85 %, allocates that site's objects straight in the old generation. A connect storm
 * — CONNECTs held for seconds while bcrypt verifies them — makes aedes' per-connection objects (Client,
 * parser, streams, the outgoing pipeline) survive, so their sites get pretenured; objects born old leave no
 * survival counts to undo it (in the benchmark it held for the process' life). Every later connection's
 * objects are then born old, die old and wait for a mark-compact, while every scavenge scans the pointers
 * they hold into the young generation. Measured after the benchmark's first (cold) pass (docs/BENCHMARKS.md,
 * session 8): per warm CONNECT 19.5 KB outlived the young generation instead of 6.9 KB, scavenges took
 * 10.3 ms instead of 5.2 ms, and the broker's CPU per warm CONNECT was 1.39-1.48x bare aedes' instead of
 * 1.10-1.25x. Long-lived objects (the device directory, sessions) are cheap to copy once instead.
 */
export const BROKER_NODE_OPTIONS: readonly string[] = ['--no-allocation-site-pretenuring'];
