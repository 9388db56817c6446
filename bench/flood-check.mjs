// Benchmark: the cost of the flood check on the publish path (issue 6, floods): `FloodLimits.check` for
// one connection, payload limit only (KEYGATE_RATE_LIMIT=0, the default) and with the rate limit on (a
// limit never reached, so every call reads the clock and counts). Also a bare `Date.now()` for reference.
// Run: npm run build && node bench/flood-check.mjs. Size: BENCH_CHECKS (20000000 per round, 3 rounds).
import { FloodLimits } from '../dist/hooks/flood-limits.js';

const CHECKS = Number(process.env.BENCH_CHECKS ?? 20_000_000);

function nsPer(fn) {
  const started = process.hrtime.bigint();
  const refused = fn();
  return { ns: Number(process.hrtime.bigint() - started) / CHECKS, refused };
}

for (const rateLimit of [0, 1_000_000_000]) {
  const floods = new FloodLimits({ rateLimit, rateWindowMs: 15_000, maxPayloadBytes: 262_144 });
  const state = { floodWindowStart: 0, floodCount: 0, floodViolation: undefined };
  for (let round = 1; round <= 3; round++) {
    const { ns, refused } = nsPer(() => {
      let n = 0;
      for (let i = 0; i < CHECKS; i++) if (floods.check(state, 64) !== undefined) n++;
      return n;
    });
    console.log(
      `rate limit ${rateLimit === 0 ? 'off' : 'on '} round ${round}: ${ns.toFixed(1)} ns per check (${refused} refused)`,
    );
  }
}
const { ns } = nsPer(() => {
  let x = 0;
  for (let i = 0; i < CHECKS; i++) x += Date.now() & 1;
  return x;
});
console.log(`Date.now(): ${ns.toFixed(1)} ns per call`);
