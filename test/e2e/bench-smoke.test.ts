import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

it('the throughput benchmark runs bare aedes and keygate interleaved and counts Redis commands', async () => {
  const { stdout } = await run(process.execPath, ['bench/throughput.mjs', '--json'], {
    env: {
      ...process.env,
      BENCH_DEVICES: '100',
      BENCH_MESSAGES: '200',
      BENCH_PUBLISHERS: '2',
      BENCH_RUNS: '1',
      BENCH_PROCESSES: '2',
      REDIS_URL: '',
    },
    timeout: 60_000,
  });
  const report = JSON.parse(stdout.trim()) as {
    devices: number;
    runs: { variant: string; messages: number; delivered: number; cpuUsPerMessage?: number }[];
    perProcess: { delivered: number }[];
    ratio: { accepted: number; delivered: number };
    redis: { commandsPerPublish: number; commandsPerSubscribe: number };
  };
  expect(report.devices).toBe(100);
  // mosquitto runs too where it is installed (the native reference).
  // One round on each of two pairs of processes (the second in the other order).
  expect(report.runs.map((r) => r.variant).filter((v) => v !== 'mosquitto')).toEqual([
    'bare',
    'keygate',
    'keygate',
    'bare',
  ]);
  expect(report.perProcess).toHaveLength(2);
  for (const r of report.runs) expect(r.delivered).toBe(r.messages);
  // The broker's CPU per message, read from /proc around every run (whole clock ticks: 0 for runs this small).
  for (const r of report.runs) expect(r.cpuUsPerMessage).toBeGreaterThanOrEqual(0);
  expect(report.ratio.delivered).toBeGreaterThan(0);
  expect(typeof report.redis.commandsPerPublish).toBe('number');
  expect(typeof report.redis.commandsPerSubscribe).toBe('number');
}, 90_000);

it("an A/A control runs bare aedes in keygate's slot and is never saved as keygate's result", async () => {
  const env = {
    ...process.env,
    KEYGATE_MAIN: 'bench/bare-aedes.mjs',
    BENCH_DEVICES: '100',
    BENCH_MESSAGES: '200',
    BENCH_PUBLISHERS: '2',
    BENCH_RUNS: '1',
    BENCH_PROCESSES: '1',
    BENCH_MOSQUITTO: 'off',
    REDIS_URL: '',
  };
  const { stdout } = await run(process.execPath, ['bench/throughput.mjs', '--json'], {
    env,
    timeout: 60_000,
  });
  const report = JSON.parse(stdout.trim()) as { control: boolean; keygateMain: string; runs: unknown[] };
  expect(report.control).toBe(true);
  expect(report.keygateMain).toBe('bench/bare-aedes.mjs');
  expect(report.runs).toHaveLength(2);
  // --save would overwrite keygate's saved result with a control's: refused before anything runs.
  const saved = await readFile('docs/bench-results/throughput.json', 'utf8');
  await expect(
    run(process.execPath, ['bench/throughput.mjs', '--save'], { env, timeout: 30_000 }),
  ).rejects.toThrow(/A\/A control/);
  await expect(
    run(process.execPath, ['bench/connect.mjs'], {
      env: { ...env, BENCH_PHASES: 'rate,storm' },
      timeout: 30_000,
    }),
  ).rejects.toThrow(/BENCH_PHASES=rate only/);
  expect(await readFile('docs/bench-results/throughput.json', 'utf8')).toBe(saved);
}, 90_000);

it('the scope benchmark times decisions at both directory sizes', async () => {
  const { stdout } = await run(process.execPath, ['bench/scope.mjs', '--json'], {
    env: {
      ...process.env,
      BENCH_SMALL: '10',
      BENCH_LARGE: '1000',
      BENCH_DECISIONS: '10000',
      BENCH_RUNS: '1',
      BENCH_ID_RESTRICTIONS: '50',
    },
    timeout: 60_000,
  });
  const report = JSON.parse(stdout.trim()) as {
    small: { devices: number; nsPerDecision: number };
    large: { devices: number; nsPerDecision: number };
    ratio: number;
  };
  expect(report.small.devices).toBe(10);
  expect(report.large.devices).toBe(1000);
  expect(report.small.nsPerDecision).toBeGreaterThan(0);
  expect(report.ratio).toBeGreaterThan(0);
}, 90_000);

it('the memory benchmark reads the heap of both brokers around the connections', async () => {
  const { stdout } = await run(process.execPath, ['bench/memory.mjs', '--json'], {
    env: { ...process.env, BENCH_CONNECTIONS: '20', BENCH_DEVICES: '30', REDIS_URL: '' },
    timeout: 60_000,
  });
  const report = JSON.parse(stdout.trim()) as {
    bare: { connections: number; heapAfter: number };
    keygate: { connections: number; heapAfter: number };
    extraBytesPerConnection: number;
  };
  expect(report.bare.connections).toBe(20);
  expect(report.keygate.connections).toBe(20);
  expect(report.keygate.heapAfter).toBeGreaterThan(0);
  expect(typeof report.extraBytesPerConnection).toBe('number');
}, 90_000);

it('the flood benchmark measures the round trip without, then under, both kinds of flood', async () => {
  const { stdout } = await run(process.execPath, ['bench/flood.mjs', '--json'], {
    env: { ...process.env, BENCH_SECONDS: '1', BENCH_FLOOD_CONNECTIONS: '5', REDIS_URL: '' },
    timeout: 100_000,
  });
  const report = JSON.parse(stdout.trim()) as {
    results: { variant: string; samples: number; p99: number; flood?: { attempts: number } }[];
  };
  expect(report.results.map((r) => r.variant)).toEqual([
    'no flood (baseline)',
    'flood, default bans',
    'flood, bans off',
  ]);
  for (const r of report.results) expect(r.samples).toBeGreaterThan(0);
  expect(report.results[0]?.flood).toBeUndefined();
  for (const r of report.results.slice(1)) expect(r.flood?.attempts).toBeGreaterThan(0);
}, 120_000);

it('the connect benchmark measures CONNECT rates, a cold storm and a restart storm, and the chart draws them', async () => {
  const { stdout } = await run(process.execPath, ['bench/connect.mjs', '--json'], {
    env: {
      ...process.env,
      BENCH_COST: '4',
      BENCH_HASHES: '4',
      BENCH_CONNECTS: '40',
      BENCH_COLD_CONNECTS: '5',
      BENCH_WARM_KEYS: '20',
      BENCH_RUNS: '1',
      BENCH_PROCESSES: '2',
      BENCH_STORM_DEVICES: '10',
      BENCH_RESTART_DEVICES: '10',
      BENCH_STORM_LIMIT_S: '60',
      REDIS_URL: '',
    },
    timeout: 120_000,
  });
  const report = JSON.parse(stdout.trim()) as {
    rate: {
      runs: { variant: string; codes: Record<string, number>; processes: number }[];
      perProcess: { warmOverBare: number }[];
      bare: number;
      warm: number;
      cpuUsPerConnect: { bare: number; warm: number; warmOverBare: number };
    };
    storm: { devices: number; eventLoop: { p99: number } };
    restart: { devices: number; readmitted: number; secondsUntilAllReadmitted: number };
  };
  const variants = report.rate.runs.map((r) => r.variant).filter((v) => v !== 'mosquitto');
  // One round on each of two pairs of processes (the second round in the other order).
  expect(variants).toEqual(['bare', 'keygate warm', 'keygate cold', 'keygate warm', 'bare', 'keygate cold']);
  expect(report.rate.runs.filter((r) => r.variant === 'bare').map((r) => r.processes)).toEqual([1, 2]);
  expect(report.rate.perProcess).toHaveLength(2);
  for (const r of report.rate.runs) expect(r.codes['0']).toBeGreaterThan(0);
  expect(report.rate.bare).toBeGreaterThan(0);
  // The brokers' CPU per CONNECT, read from /proc around each run (Linux, as every machine here).
  expect(report.rate.cpuUsPerConnect.bare).toBeGreaterThan(0);
  expect(report.rate.cpuUsPerConnect.warm).toBeGreaterThan(0);
  expect(report.rate.cpuUsPerConnect.warmOverBare).toBeGreaterThan(0);
  expect(report.storm.devices).toBe(10);
  expect(report.storm.eventLoop.p99).toBeGreaterThan(0);
  expect(report.restart.readmitted).toBe(10);
  expect(report.restart.secondsUntilAllReadmitted).toBeGreaterThan(0);

  // The chart renders those results (a temp dir: docs/ is left alone).
  const dir = await mkdtemp(join(tmpdir(), 'bench-chart-'));
  try {
    await writeFile(join(dir, 'connect.json'), stdout);
    await run(process.execPath, ['bench/chart.mjs', '--results', dir, '--out', join(dir, 'chart.svg')], {
      timeout: 60_000,
    });
    const svg = await readFile(join(dir, 'chart.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('CONNECT rate');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 180_000);

it('the Redis-per-device benchmark counts one device life with the Redis persistence', async () => {
  const { stdout } = await run(process.execPath, ['bench/redis-per-device.mjs', '--json'], {
    env: { ...process.env, BENCH_DEVICES: '5', REDIS_URL: '' },
    timeout: 60_000,
  });
  const report = JSON.parse(stdout.trim()) as { devices: number; perDevice: Record<string, number> };
  expect(report.devices).toBe(5);
  // aedes' $SYS announcements: only new/clients goes out (the other instances' takeover listens to it);
  // disconnect/clients, new/subscribes and new/unsubscribes are not published (src/server/sys-announcements.ts).
  expect(report.perDevice.publish).toBe(1);
  // mqemitter-redis subscribes the SUBSCRIBE's topic on Redis and unsubscribes it.
  expect(report.perDevice.subscribe).toBe(1);
  expect(report.perDevice.unsubscribe).toBe(1);
}, 90_000);

it('the instruction-count benchmark runs both brokers under callgrind (or says valgrind is missing)', async () => {
  const { stdout } = await run(process.execPath, ['bench/instructions.mjs', '--json'], {
    env: {
      ...process.env,
      BENCH_DEVICES: '100',
      BENCH_PUBLISHERS: '2',
      BENCH_CG_WARM_CONNECTS: '40',
      BENCH_CG_CONNECTS: '20',
      BENCH_CG_IN_FLIGHT: '4',
      BENCH_CG_WARM_RUNS: '1',
      BENCH_CG_MESSAGES: '100',
      // Every function with a difference: the table's shape, and that JIT code is named from V8's map.
      BENCH_CG_FUNCTIONS: '100000',
      REDIS_URL: '',
    },
    timeout: 240_000,
  });
  const report = JSON.parse(stdout.trim()) as {
    skipped?: string;
    bare: { instructionsPerConnect: number; instructionsPerMessage: number; delivered: string };
    keygate: {
      instructionsPerConnect: number;
      instructionsPerMessage: number;
      delivered: string;
      redisCommandsPerConnect: number;
    };
    ratio: { connect: number; message: number };
    mainThreadFunctions: Record<'perConnect' | 'perMessage', { function: string; difference: number }[]>;
  };
  if (report.skipped !== undefined) {
    expect(report.skipped).toMatch(/valgrind/);
    return;
  }
  for (const broker of [report.bare, report.keygate]) {
    expect(broker.instructionsPerConnect).toBeGreaterThan(1000);
    expect(broker.instructionsPerMessage).toBeGreaterThan(100);
    expect(broker.delivered).toBe('100/100');
  }
  expect(report.ratio.connect).toBeGreaterThan(0);
  expect(report.ratio.message).toBeGreaterThan(0);
  // Whether the measured CONNECTs were warm ones (none read Redis) is reported, not assumed.
  expect(report.keygate.redisCommandsPerConnect).toBeGreaterThanOrEqual(0);
  for (const rows of Object.values(report.mainThreadFunctions)) {
    expect(rows.length).toBeGreaterThan(100);
    const differences = rows.map((row) => row.difference);
    expect(differences).toEqual([...differences].sort((a, b) => b - a));
    // JIT code is named from V8's code map (JS functions with their file), not left as an address.
    expect(rows.some((row) => /^JIT JS:.*\.js:\d+/.test(row.function))).toBe(true);
  }
}, 300_000);

it('pooling invocations reproduces each saved ratio, and refuses to mix benchmarks', async () => {
  const pooled = async (...files: string[]) =>
    JSON.parse((await run(process.execPath, ['bench/pool.mjs', ...files, '--json'])).stdout) as {
      bench: string;
      median: number;
      interval90: [number, number];
      pairsOfProcesses: number;
    };
  const connect = JSON.parse(await readFile('docs/bench-results/connect.json', 'utf8'));
  const throughput = JSON.parse(await readFile('docs/bench-results/throughput.json', 'utf8'));
  // One invocation pooled alone: the median of its paired rounds is the ratio it reported.
  const one = await pooled('docs/bench-results/connect.json');
  expect(one.bench).toBe('connect');
  expect(one.median).toBeCloseTo(connect.rate.ratio.warmOverBare, 12);
  expect(one.pairsOfProcesses).toBe(connect.rate.processes);
  expect(one.interval90[0]).toBeLessThanOrEqual(one.median);
  expect(one.interval90[1]).toBeGreaterThanOrEqual(one.median);
  expect((await pooled('docs/bench-results/throughput.json')).median).toBeCloseTo(
    throughput.ratio.delivered,
    12,
  );
  // The same file twice: twice the pairs, the same median; the interval is seeded, so the same every time.
  const twice = await pooled('docs/bench-results/connect.json', 'docs/bench-results/connect.json');
  expect(twice.pairsOfProcesses).toBe(2 * connect.rate.processes);
  expect(twice.median).toBeCloseTo(one.median, 12);
  expect(await pooled('docs/bench-results/connect.json', 'docs/bench-results/connect.json')).toEqual(twice);
  await expect(
    run(process.execPath, [
      'bench/pool.mjs',
      'docs/bench-results/connect.json',
      'docs/bench-results/throughput.json',
    ]),
  ).rejects.toMatchObject({
    code: 2,
    stderr: expect.stringMatching(/^bench\/pool.mjs: one benchmark at a time/),
  });
}, 30_000);
