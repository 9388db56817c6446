import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { expect, it } from 'vitest';

// A smoke run of the benchmark code at tiny sizes, so that `npm run bench` keeps working. No timing
// threshold here: speed is measured by the benchmark itself (docs/BENCHMARKS.md).
const run = promisify(execFile);

it('the revocation benchmark runs end to end and reports both change paths', async () => {
  const { stdout } = await run(process.execPath, ['bench/revocation.mjs', '--json'], {
    env: {
      ...process.env,
      BENCH_CLIENTS: '10',
      BENCH_CHANGES: '5',
      BENCH_REVALIDATE_MS: '300',
      REDIS_URL: '',
    },
    timeout: 60_000,
  });
  const results = stdout
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as { path: string; changes: number; p50: number; p99: number });
  expect(results.map((r) => r.path)).toEqual(['notifications', 'backstop']);
  for (const result of results) {
    expect(result.changes).toBe(5);
    expect(result.p99).toBeGreaterThanOrEqual(result.p50);
  }
}, 90_000);
