// Benchmark: the cost of one scope decision (`decideDelivery`, the pure policy behind every delivery
// check) with a directory of 10 devices vs 100,000 devices (issue 7, target 7: at most 3x). The key is
// restricted by 1,000 device IDs and a few tags; the subscriber looks at `state` topics of devices drawn
// at random from the whole directory, so both in-scope and out-of-scope answers are timed.
// Run: npm run bench:scope. Sizes: BENCH_SMALL (10), BENCH_LARGE (100000), BENCH_DECISIONS (1000000 per
// sample), BENCH_RUNS (7 samples per size, interleaved). --json prints one JSON object, --save also
// writes docs/bench-results/scope.json.
import { performance } from 'node:perf_hooks';
import { decideDelivery } from '../dist/policy/authorization.js';
import { parseDeviceRecord, parseKeyRecord } from '../dist/store/records.js';
import { median, saveResults } from './lib.mjs';

const SMALL = Number(process.env.BENCH_SMALL ?? 10);
const LARGE = Number(process.env.BENCH_LARGE ?? 100_000);
const DECISIONS = Number(process.env.BENCH_DECISIONS ?? 1_000_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const ID_RESTRICTIONS = Number(process.env.BENCH_ID_RESTRICTIONS ?? 1000);
const TOPICS = 4096;
const json = process.argv.includes('--json');

const deviceId = (i) => `dev-${String(i).padStart(6, '0')}`;

function unwrap(parsed) {
  if (!parsed.ok) throw new Error(parsed.problem);
  return parsed.value;
}

// Deterministic pseudo-random numbers (mulberry32), so every run draws the same topics.
function random(seed) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The same key for both sizes: 1,000 device IDs (every 7th device) and three tags. */
const key = unwrap(
  parseKeyRecord({
    restrictions: [
      ...Array.from({ length: ID_RESTRICTIONS }, (_, i) => deviceId(i * 7)),
      'group=3',
      'group=5',
      'zone=north',
    ].join(','),
  }),
);

function setup(size, addressed = Math.min(size, TOPICS)) {
  const records = new Map();
  for (let i = 0; i < size; i++) {
    const tags = `group=${i % 10},batch=${i % 20},zone=${i % 3 === 0 ? 'north' : 'south'}`;
    records.set(deviceId(i), unwrap(parseDeviceRecord(deviceId(i), { tags })));
  }
  const subscriber = unwrap(parseDeviceRecord('subscriber', { tags: 'group=3' }));
  records.set('subscriber', subscriber);
  const lookup = (id) => records.get(id);
  const next = random(size + addressed);
  // The devices addressed: `addressed` of them picked at random from the whole directory.
  const picked = Array.from({ length: addressed }, () => Math.floor(next() * size));
  const topics = Array.from(
    { length: TOPICS },
    () => `losant/${deviceId(picked[Math.floor(next() * addressed)])}/state`,
  );
  return { principal: { device: subscriber, key }, lookup, topics };
}

/** ns per decision over DECISIONS decisions; `allowed` keeps the loop from being optimised away. */
function sample({ principal, lookup, topics }) {
  let allowed = 0;
  const start = performance.now();
  for (let i = 0; i < DECISIONS; i++) {
    if (decideDelivery(principal, lookup, 'losant', topics[i & (TOPICS - 1)]).allowed) allowed++;
  }
  const ns = ((performance.now() - start) * 1e6) / DECISIONS;
  return { ns, allowedShare: allowed / DECISIONS };
}

const small = setup(SMALL);
const large = setup(LARGE);
// The large directory again, but the topics name only SMALL of its devices: the same working set as the
// small case, which separates the cost of the directory's size from that of touching more memory.
const largeHot = setup(LARGE, SMALL);
const cases = { small, large, largeHot };
// Warm-up (JIT) on all, not reported.
for (const c of Object.values(cases)) sample(c);
const samples = { small: [], large: [], largeHot: [] };
for (let r = 0; r < RUNS; r++) {
  for (const [name, c] of Object.entries(cases)) samples[name].push(sample(c));
}
const report = {
  decisionsPerSample: DECISIONS,
  runs: RUNS,
  idRestrictions: ID_RESTRICTIONS,
  small: {
    devices: SMALL,
    nsPerDecision: median(samples.small.map((s) => s.ns)),
    allowedShare: samples.small[0].allowedShare,
  },
  large: {
    devices: LARGE,
    nsPerDecision: median(samples.large.map((s) => s.ns)),
    allowedShare: samples.large[0].allowedShare,
  },
  largeHot: {
    devices: LARGE,
    devicesAddressed: SMALL,
    nsPerDecision: median(samples.largeHot.map((s) => s.ns)),
    allowedShare: samples.largeHot[0].allowedShare,
  },
  samples: {
    small: samples.small.map((s) => s.ns),
    large: samples.large.map((s) => s.ns),
    largeHot: samples.largeHot.map((s) => s.ns),
  },
};
report.small.devicesAddressed = Math.min(SMALL, TOPICS);
report.large.devicesAddressed = Math.min(LARGE, TOPICS);
report.ratio = report.large.nsPerDecision / report.small.nsPerDecision;
report.ratioSameWorkingSet = report.largeHot.nsPerDecision / report.small.nsPerDecision;
await saveResults('scope', report);
if (json) {
  console.log(JSON.stringify(report));
} else {
  console.log(
    `scope decisions (decideDelivery, subscriber on losant/+/state): key restricted by ${ID_RESTRICTIONS} IDs and 3 tags, ${DECISIONS} decisions per sample, median of ${RUNS} interleaved samples\n`,
  );
  console.log(
    '| devices registered | distinct devices addressed | ns per decision (median) | samples ns | share allowed |',
  );
  console.log('|---|---|---|---|---|');
  for (const name of ['small', 'large', 'largeHot']) {
    const r = report[name];
    console.log(
      `| ${r.devices} | ${r.devicesAddressed} | ${r.nsPerDecision.toFixed(1)} | ${samples[name].map((s) => s.ns.toFixed(1)).join(', ')} | ${r.allowedShare.toFixed(2)} |`,
    );
  }
  console.log(`\nratio ${LARGE} / ${SMALL} devices: ${report.ratio.toFixed(2)}x`);
  console.log(
    `ratio ${LARGE} / ${SMALL} devices, same ${SMALL} devices addressed: ${report.ratioSameWorkingSet.toFixed(2)}x`,
  );
}
