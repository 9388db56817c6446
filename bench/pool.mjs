// Pools several invocations of one comparing benchmark (the JSON that `--json` prints or `--save` writes) into
// one reading: every paired round of every pair of broker processes, their median, and a 90 % interval for it.
//
// Why: one invocation of bench/connect.mjs or bench/throughput.mjs lands within about ±0.03 of where the
// brokers are (A/A controls, docs/BENCHMARKS.md "How the ratios are taken"), and a target such as "at least
// 0.9×" read by one invocation at 0.91 is a draw. Pooled, ten invocations are fifty pairs of processes.
//
// The interval is a cluster bootstrap: pairs of processes are drawn with replacement (each with all its
// rounds), because rounds of the same pair share that pair's draw — two processes of the same broker differ by
// up to a fifth for their whole life — and are not independent of each other. Seeded: the same files give the
// same interval.
//
// Run: node bench/pool.mjs <result.json>... [--json]
// Reads: connect.mjs's CONNECT rate (keygate warm over bare, by `processes`, in run order) or throughput.mjs's
// delivered rate (keygate over bare, by `processes` and `round`). Refuses a mix of benchmarks, or of A/A controls
// and real runs.
import { readFileSync } from 'node:fs';
import { median, pairedRatios, valuesByProcess } from './lib.mjs';

const RESAMPLES = 10_000;
const NOT_A_RESULT = 'not a result of bench/connect.mjs (with its rate phase) or bench/throughput.mjs';

/** The paired ratios of one invocation, grouped by pair of processes: number[][] (one array per pair). */
export function pairedRounds(report) {
  const kind = benchOf(report);
  if (kind === 'connect') return byProcess(report.rate.runs, report.rate.processes, 'keygate warm', 'perSec');
  if (kind === 'throughput') return byProcess(report.runs, report.processes, 'keygate', 'deliveredPerSec');
  throw new Error(NOT_A_RESULT);
}

/** Which comparing benchmark wrote `report`, known by its shape (`--json` output does not name it). */
export function benchOf(report) {
  if (Array.isArray(report.rate?.runs)) return 'connect';
  if (Array.isArray(report.runs) && report.runs.some((run) => 'deliveredPerSec' in run)) return 'throughput';
  return undefined;
}

/** Within each pair of processes, its keygate runs over its bare ones, round by round (as the benchmarks pair them). */
function byProcess(runs, processes, variant, field) {
  const bare = valuesByProcess(runs, processes, 'bare', field);
  return valuesByProcess(runs, processes, variant, field).map((keygate, g) => pairedRatios(keygate, bare[g]));
}

/** A small seeded generator (mulberry32): the interval does not change from one run of this script to the next. */
function seeded(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Median of every round, and its 90 % cluster-bootstrap interval over the pairs of processes. */
export function pool(pairs, resamples = RESAMPLES) {
  const all = pairs.flat();
  if (all.length === 0) throw new Error('no paired rounds');
  const random = seeded(20261129);
  const medians = [];
  for (let i = 0; i < resamples; i++) {
    const drawn = [];
    for (let p = 0; p < pairs.length; p++) drawn.push(...pairs[Math.floor(random() * pairs.length)]);
    medians.push(median(drawn));
  }
  medians.sort((a, b) => a - b);
  const pairMedians = pairs.map((rounds) => median(rounds));
  return {
    pairsOfProcesses: pairs.length,
    rounds: all.length,
    median: median(all),
    interval90: [medians[Math.floor(resamples * 0.05)], medians[Math.ceil(resamples * 0.95) - 1]],
    pairMedians: {
      median: median(pairMedians),
      lowest: Math.min(...pairMedians),
      highest: Math.max(...pairMedians),
    },
  };
}

function main() {
  const files = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  if (files.length === 0) {
    process.stderr.write('usage: node bench/pool.mjs <result.json>... [--json]\n');
    process.exit(2);
  }
  const fail = (message) => {
    process.stderr.write(`bench/pool.mjs: ${message}\n`);
    process.exit(2);
  };
  const reports = files.map((file) => {
    let report;
    try {
      report = JSON.parse(readFileSync(file, 'utf8'));
    } catch (err) {
      fail(`${file}: ${err.message}`);
    }
    return { file, report };
  });
  const kinds = new Set(
    reports.map(({ report }) => `${benchOf(report) ?? 'unknown'}${report.control ? ' (A/A control)' : ''}`),
  );
  if (kinds.size !== 1) fail(`one benchmark at a time, got: ${[...kinds].join(', ')}`);
  if (kinds.has('unknown')) fail(NOT_A_RESULT);
  const invocations = reports.map(({ file, report }) => {
    const pairs = pairedRounds(report);
    return { file, measuredAt: report.measuredAt, median: median(pairs.flat()), pairs };
  });
  const pooled = pool(invocations.flatMap((i) => i.pairs));
  const result = {
    bench: [...kinds][0],
    invocations: invocations.map(({ file, measuredAt, median: m }) => ({ file, measuredAt, median: m })),
    ...pooled,
  };
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(result));
    return;
  }
  const f = (x) => x.toFixed(3);
  console.log(
    `${result.bench}: keygate/bare pooled over ${files.length} invocation${files.length === 1 ? '' : 's'}`,
  );
  for (const i of result.invocations) console.log(`  ${f(i.median)}  ${i.file}`);
  console.log(
    `median of ${pooled.rounds} paired rounds on ${pooled.pairsOfProcesses} pairs of processes: ${f(pooled.median)}` +
      ` (90 % interval ${f(pooled.interval90[0])}-${f(pooled.interval90[1])}, cluster bootstrap over the pairs)`,
  );
  console.log(
    `pairs of processes (median of each pair's rounds): median ${f(pooled.pairMedians.median)}, ` +
      `${f(pooled.pairMedians.lowest)}-${f(pooled.pairMedians.highest)}`,
  );
}

if (import.meta.url === `file://${process.argv[1]}`) main();
