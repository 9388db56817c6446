// Benchmark: CONNECT rates and connect storms (issue 7, targets 3, 4 and 5). Every broker runs in its own
// process; the clients are raw TCP sockets in this process sending CONNECTs pre-encoded with mqtt-packet.
// 1. CONNECT rate, BENCH_IN_FLIGHT clients in flight, each opening a socket, sending CONNECT, waiting for
//    CONNACK 0 and disconnecting. Variants, interleaved BENCH_RUNS (5) times on each of BENCH_PROCESSES (5)
//    pairs of broker processes, one pair after the other: bare aedes, mosquitto (when installed; one
//    process), keygate WARM (its keys were verified by a first, unreported pass; then one unreported run
//    of the measured cycle each warms bare aedes' and keygate's paths up) and keygate COLD (keys
//    never used before: each CONNECT costs one bcrypt verification). Medians, ratios warm/bare and
//    warm/cold. keygate's own /metrics tell how many bcrypt verifications each variant cost. warm/bare is
//    the median of the rounds' paired ratios (bare and keygate warm back to back, alternating order:
//    bench/lib.mjs medianPairedRatio); the ratio of medians is reported too. Around every run the broker
//    process' CPU time is read from /proc (bench/lib.mjs withCpuOf): CPU per CONNECT, medians and
//    keygate warm / bare paired — steadier than the rates on a shared machine (not the target's measure) —
//    and the main thread's alone. BARE_ANNOUNCEMENTS=off runs bare aedes without its $SYS client
//    announcements, which keygate's broker does not publish (bench/bare-aedes.mjs): the ratio is then that
//    of keygate's hooks and process alone.
// 2. Cold connect storm: BENCH_STORM_DEVICES devices, each with its own never-verified key, all connecting
//    at once (retrying after a jittered pause on CONNACK 3 or a closed socket), against the time of one
//    bcrypt verification measured here; the broker's event-loop delay (bench/loop-probe.mjs) while it runs.
// 3. Restart storm: BENCH_RESTART_DEVICES devices connected to a keygate started with
//    KEYGATE_CREDENTIAL_CACHE_KEY_FILE; the broker is killed (SIGKILL) and started again on the same port;
//    every client reconnects as soon as its socket closes (0..BENCH_JITTER_MS jitter). Reported: the time
//    from the new process' spawn until every device has CONNACK 0 again.
// Secrets are bcrypt cost BENCH_COST (10) hashes. Generating one per key would take minutes, so
// BENCH_HASHES distinct (secret, hash) pairs are computed once in worker threads and key i uses pair
// i % BENCH_HASHES: every key still has its own key ID, which is what keygate verifies and caches by.
// The restart storm's keys use cost BENCH_RESTART_COST (4) hashes: only their first admission (setup)
// verifies them; the restarted broker must not (the report gives its verification count).
// Profiling: BENCH_NODE_ARGS (keygate) and BENCH_BARE_NODE_ARGS (bare aedes) are put before the script,
// e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". KEYGATE_MAIN=<path> runs another keygate build (default
// dist/server/main.js): an A/B of two builds. KEYGATE_MAIN=bench/bare-aedes.mjs is an A/A control (bare
// aedes in keygate's slot; BENCH_PHASES=rate only): warm/bare then reads the benchmark's noise floor.
// Run: npm run bench:connect. BENCH_PHASES=rate,storm,restart (default all). --json prints one JSON object,
// --save also writes docs/bench-results/connect.json.
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import bcrypt from 'bcryptjs';
import {
  benchProcesses,
  brokerNodeArgs,
  connectOnce,
  isControl,
  keygateMain,
  spawnBroker,
  startBroker,
  stopChild,
  valuesByProcess,
} from './lib.mjs';

/** An A/A control (KEYGATE_MAIN=bench/bare-aedes.mjs, bench/lib.mjs isControl): rate phase only. */
const CONTROL = isControl();

function settings() {
  const n = (name, fallback) => Number(process.env[name] ?? fallback);
  const phases = (process.env.BENCH_PHASES ?? 'rate,storm,restart').split(',');
  return {
    phases: new Set(phases.map((p) => p.trim())),
    inFlight: n('BENCH_IN_FLIGHT', 50),
    connects: n('BENCH_CONNECTS', 3000),
    coldConnects: n('BENCH_COLD_CONNECTS', 60),
    coldInFlight: n('BENCH_COLD_IN_FLIGHT', 10),
    runs: n('BENCH_RUNS', 5),
    processes: benchProcesses(5),
    warmKeys: n('BENCH_WARM_KEYS', 500),
    stormDevices: n('BENCH_STORM_DEVICES', 2000),
    restartDevices: n('BENCH_RESTART_DEVICES', 10_000),
    restartInFlight: n('BENCH_RESTART_IN_FLIGHT', 200),
    jitterMs: n('BENCH_JITTER_MS', 100),
    retryMs: n('BENCH_RETRY_MS', 500),
    runLimitS: n('BENCH_RUN_LIMIT_S', 60),
    stormLimitS: n('BENCH_STORM_LIMIT_S', 180),
    limitS: n('BENCH_LIMIT_S', 900),
    hashes: n('BENCH_HASHES', 64),
    cost: n('BENCH_COST', 10),
    restartCost: n('BENCH_RESTART_COST', 4),
  };
}

const PREFIX = 'keygate:';
const deviceId = (i) => `dev-${String(i).padStart(7, '0')}`;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** The idle time before every measured run of the rate phase (session 13). */
const SETTLE_MS = 500;
const jitter = (ms) => Math.random() * ms;

/** BENCH_HASHES secrets and their bcrypt hashes, computed in one worker thread per core. */
async function makeHashes(count, cost) {
  const secrets = Array.from(
    { length: count },
    (_, i) => `bench-secret-${i}-${randomBytes(6).toString('hex')}`,
  );
  const threads = Math.min(count, availableParallelism());
  const parts = await Promise.all(
    Array.from({ length: threads }, async (_, t) => {
      const mine = secrets.filter((_, i) => i % threads === t);
      const worker = new Worker(new URL(import.meta.url), { workerData: { secrets: mine, cost } });
      const [hashes] = await once(worker, 'message');
      await worker.terminate();
      return mine.map((secret, k) => [secret, hashes[k]]);
    }),
  );
  const pairs = new Array(count);
  parts.forEach((part, t) => {
    part.forEach((pair, k) => {
      pairs[t + k * threads] = pair;
    });
  });
  return pairs;
}

/**
 * The source address of device `i`: devices are spread over loopback addresses (127.1.0.1 ...), as a
 * fleet is over the internet — keygate's brute-force limits count per source address.
 */
const sourceOf = (i) => `127.1.${(i >> 8) & 255}.${(i & 255) | 0 || 1}`;

/** `clients` ({ packet }) connected and disconnected with `inFlight` at a time; CONNACK 3 is retried. */
async function rateRun(variant, port, clients, inFlight, limitS = Number.POSITIVE_INFINITY, maxAttempts = 5) {
  const codes = {};
  let next = 0;
  let retries = 0;
  const start = performance.now();
  const deadline = start + limitS * 1000;
  await Promise.all(
    Array.from({ length: Math.min(inFlight, clients.length) }, async () => {
      while (next < clients.length && performance.now() < deadline) {
        const client = clients[next++];
        for (let attempt = 0; ; attempt++) {
          const { code } = await connectOnce(port, client.packet, false, client.address);
          if (code === 0 || attempt >= maxAttempts || (code !== 3 && code !== 'closed')) {
            codes[code] = (codes[code] ?? 0) + 1;
            break;
          }
          retries++;
          await sleep(50 + jitter(100));
        }
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  const connects = Object.values(codes).reduce((a, b) => a + b, 0);
  const cut = connects < clients.length ? `stopped after ${limitS} s` : undefined;
  return { variant, connects, perSec: (codes[0] ?? 0) / seconds, codes, retries, cut };
}

/**
 * A device that stays connected: connects (retrying after a jittered pause while the broker is not
 * listening, answers CONNACK 3 or closes the socket first) and, when `reconnect` is armed, connects again
 * as soon as its socket closes. Resolves `admitted` with the time of its CONNACK 0.
 */
class Device {
  constructor(port, packet, counters, settings, address = '127.0.0.1') {
    this.port = port;
    this.packet = packet;
    this.address = address;
    this.counters = counters;
    this.settings = settings;
    this.reconnect = false;
    this.stopped = false;
  }

  async connect() {
    const { jitterMs, retryMs } = this.settings;
    for (;;) {
      if (this.stopped) return undefined;
      this.counters.attempts++;
      const { code, socket } = await connectOnce(this.port, this.packet, true, this.address);
      this.counters.codes[code] = (this.counters.codes[code] ?? 0) + 1;
      if (code === 0 && this.stopped) socket.destroy();
      if (code === 0 && !this.stopped) {
        this.socket = socket;
        socket.once('close', () => this.onClose());
        socket.on('error', () => {});
        return performance.now();
      }
      // Nobody listening yet (restart): try again soon; refused by the broker: back off a little more.
      await sleep(code === 'refused' ? 20 + jitter(jitterMs) : retryMs / 2 + jitter(retryMs));
    }
  }

  onClose() {
    this.socket = undefined;
    if (!this.reconnect || this.stopped) return;
    this.reconnect = false;
    this.readmitted = sleep(jitter(this.settings.jitterMs)).then(() => this.connect());
  }

  stop() {
    this.stopped = true;
    this.socket?.destroy();
  }
}

async function withLimit(promise, seconds, what) {
  let timer;
  const limit = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not done after ${seconds} s`)), seconds * 1000);
  });
  try {
    return await Promise.race([promise, limit]);
  } finally {
    clearTimeout(timer);
  }
}

/** The sum of one of keygate's counters (all labels), read from its /metrics. */
async function counter(httpPort, name, skip = () => false) {
  if (CONTROL) return 0; // bare aedes in keygate's slot: no /metrics, no verifications
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(name) && !skip(line)) total += Number(line.split(' ').pop());
  }
  return total;
}

/** bcrypt verifications done (matches and mismatches; not the ones refused because the queue was full). */
const verifications = (httpPort) =>
  counter(httpPort, 'keygate_bcrypt_verifications_total', (line) => line.includes('result="error"'));
/** CONNECTs keygate accepted from memory, without a Redis read (src/hooks/warm-connects.ts). */
const fromMemory = (httpPort) => counter(httpPort, 'keygate_connects_from_memory_total');

/**
 * Waits until keygate has no verification left to finish (its counter stopped moving): a CONNECT that
 * timed out (CONNACK 3) leaves its bcrypt job in the queue, which would otherwise burn the CPU during the
 * next variant's run.
 */
async function quiet(httpPort) {
  let last = await verifications(httpPort);
  for (let stable = 0, k = 0; stable < 2 && k < 600; k++) {
    await sleep(250);
    const now = await verifications(httpPort);
    stable = now === last ? stable + 1 : 0;
    last = now;
  }
}

/** Asks the broker's loop probe (bench/loop-probe.mjs) for its histogram, or to empty it. */
async function loopDelay(child, message) {
  if (message === 'loop-reset') {
    child.send('loop-reset');
    return undefined;
  }
  const reply = once(child, 'message');
  child.send('loop-report');
  const [{ loop }] = await reply;
  return loop;
}

async function main() {
  const s = settings();
  if (CONTROL && [...s.phases].some((phase) => phase !== 'rate')) {
    throw new Error('an A/A control (KEYGATE_MAIN=bench/bare-aedes.mjs) runs BENCH_PHASES=rate only');
  }
  const json = process.argv.includes('--json');
  const log = (text) => {
    if (!json) process.stderr.write(`${text}\n`);
  };
  const [
    { Redis },
    { freeLoopbackPort, startThrowawayRedis },
    {
      connectPacket,
      keygateBenchEnv,
      median,
      medianPairedRatio,
      saveResults,
      startMosquitto,
      waitForPort,
      withCpuOf,
    },
  ] = await Promise.all([import('ioredis'), import('../dist/demo/redis-server.js'), import('./lib.mjs')]);

  // Device ranges: warm keys, cold keys (one per cold CONNECT, never reused), storm, restart.
  // Each pair of processes (BENCH_PROCESSES) warms up on one slice of cold keys and measures one per round.
  const coldTotal = s.coldConnects * (s.runs + 1) * s.processes;
  const ranges = {};
  let first = 0;
  for (const [name, count] of [
    ['warm', s.phases.has('rate') ? s.warmKeys : 0],
    ['cold', s.phases.has('rate') ? coldTotal : 0],
    ['storm', s.phases.has('storm') ? s.stormDevices : 0],
    ['restart', s.phases.has('restart') ? s.restartDevices : 0],
  ]) {
    ranges[name] = { first, count };
    first += count;
  }
  const devices = first;
  const indices = (name) => Array.from({ length: ranges[name].count }, (_, k) => ranges[name].first + k);

  log(`hashing ${s.hashes} secrets (bcrypt cost ${s.cost}) in ${availableParallelism()} worker threads...`);
  const hashStart = performance.now();
  const pairs = await makeHashes(s.hashes, s.cost);
  const hashSeconds = (performance.now() - hashStart) / 1000;
  // The restart storm's devices may use cheaper hashes (BENCH_RESTART_COST, default 4): their first
  // admission (the setup) is a cold storm of 10,000 verifications, while the measured part — the restarted
  // broker re-admitting them — must cost no verification at all (its count is reported).
  const restartPairs = s.restartCost === s.cost ? pairs : await makeHashes(s.hashes, s.restartCost);
  const inRestart = (i) => i >= ranges.restart.first && i < ranges.restart.first + ranges.restart.count;
  const pairOf = (i) => (inRestart(i) ? restartPairs : pairs)[i % pairs.length];
  const secretOf = (i) => pairOf(i)[0];
  const client = (i) => ({
    i,
    packet: connectPacket(deviceId(i), `key-${i}`, secretOf(i)),
    address: sourceOf(i),
  });

  // One verification's time, on an idle thread of this process (bcryptjs, as keygate's worker pool).
  const verifyMs = [];
  for (let k = 0; k < 5; k++) {
    const t = performance.now();
    bcrypt.compareSync(pairs[k % pairs.length][0], pairs[k % pairs.length][1]);
    verifyMs.push(performance.now() - t);
  }
  const oneVerificationMs = median(verifyMs);
  const cores = availableParallelism();
  // keygate answers CONNACK 3 to a CONNECT whose verification waited longer than its auth timeout
  // (KEYGATE_AUTH_TIMEOUT_MS, 2 s): CONNECTs that must verify are kept to what the pool can verify in
  // a quarter of that (cold rate, first admission of the restart storm): the shared machine is slower
  // for keygate's worker threads than for this idle one.
  const authTimeoutMs = Number(process.env.KEYGATE_AUTH_TIMEOUT_MS || 2000);
  const verifyInFlight = Math.max(1, Math.floor((0.25 * authTimeoutMs * cores) / oneVerificationMs));
  s.coldInFlight = Math.min(s.coldInFlight, verifyInFlight);
  if (s.restartCost === s.cost) s.restartInFlight = Math.min(s.restartInFlight, verifyInFlight);
  log(
    `one verification: ${oneVerificationMs.toFixed(1)} ms; ${cores} cores; ${verifyInFlight} verifying CONNECTs in flight at most`,
  );

  const redisServer = await startThrowawayRedis();
  const redis = new Redis(redisServer.url);
  let pipeline = redis.pipeline();
  for (let i = 0; i < devices; i++) {
    pipeline.hset(`${PREFIX}device:${deviceId(i)}`, { tags: `group=${i % 10}` });
    pipeline.hset(`${PREFIX}key:key-${i}`, { secret: pairOf(i)[1], restrictions: deviceId(i) });
    if (pipeline.length >= 2000) {
      await pipeline.exec();
      pipeline = redis.pipeline();
    }
  }
  await pipeline.exec();

  const keygateEnv = async (extra = {}) => ({
    ...keygateBenchEnv(redisServer.url, PREFIX),
    MQTT_HOST: '127.0.0.1',
    ...extra,
  });
  // The rate phase spawns both brokers, then waits for both; the storms start one (bench/lib.mjs startBroker).
  const spawnProbed = (args, env) => spawnBroker(args, env, { ipc: true });
  const keygateArgs = [
    ...brokerNodeArgs('BENCH_NODE_ARGS'),
    '--import',
    './bench/loop-probe.mjs',
    keygateMain(),
  ];

  const report = {
    // An A/A control (KEYGATE_MAIN=bench/bare-aedes.mjs): "keygate warm" and "keygate cold" are bare aedes.
    control: CONTROL,
    keygateMain: keygateMain(),
    cores,
    bcryptCost: s.cost,
    restartBcryptCost: s.restartCost,
    distinctHashes: s.hashes,
    hashSeconds,
    oneVerificationMs,
    verificationSamplesMs: verifyMs,
  };
  const children = [];
  let mosquitto;
  // The rate phase's current pair of brokers (the last keygate serves the cold storm too).
  let bare;
  let keygate;
  let keygatePort;
  let keygateHttp;
  const tempDir = await mkdtemp(join(tmpdir(), 'bench-connect-'));
  // Interrupted (Ctrl-C, timeout): no broker, mosquitto or Redis left behind.
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.once(signal, () => {
      for (const child of [...children, mosquitto?.child]) child?.kill('SIGKILL');
      Promise.allSettled([redisServer.stop(), rm(tempDir, { recursive: true, force: true })]).then(() =>
        process.exit(130),
      );
    });
  }
  try {
    // --- 1. CONNECT rate -------------------------------------------------------------------------------
    if (s.phases.has('rate')) {
      const mosquittoPort = await freeLoopbackPort();
      mosquitto = await startMosquitto(
        mosquittoPort,
        indices('warm').map((i) => [`key-${i}`, secretOf(i)]),
        ['pattern readwrite losant/%c/#'],
      );
      // Fewer in flight than half the warm keys: the same client ID twice at once would be a takeover.
      s.inFlight = Math.max(1, Math.min(s.inFlight, Math.floor(s.warmKeys / 2)));
      const warmClients = indices('warm').map(client);
      const cycle = Array.from({ length: s.connects }, (_, k) => warmClients[k % warmClients.length]);
      const cold = indices('cold').map(client);
      const coldSlice = (slice) => cold.slice(slice * s.coldConnects, (slice + 1) * s.coldConnects);
      const runs = [];
      // BENCH_PROCESSES pairs of processes (bench/lib.mjs benchProcesses), one pair after the other, each
      // measured over BENCH_RUNS rounds. The last keygate stays up for the cold storm.
      for (let g = 0; g < s.processes; g++) {
        const barePort = await freeLoopbackPort();
        // Bare aedes gets the event-loop probe too: its 5 ms timer wakes the loop ~200 times a second, and
        // only keygate carried that cost before (strace: 5x the epoll_pwait calls of bare aedes).
        bare = spawnProbed(
          [
            ...brokerNodeArgs('BENCH_BARE_NODE_ARGS'),
            '--import',
            './bench/loop-probe.mjs',
            'bench/bare-aedes.mjs',
          ],
          {
            MQTT_PORT: String(barePort),
            MQTT_HOST: '127.0.0.1',
          },
        );
        children.push(bare);
        keygatePort = await freeLoopbackPort();
        keygateHttp = await freeLoopbackPort();
        keygate = spawnProbed(
          keygateArgs,
          await keygateEnv({ MQTT_PORT: String(keygatePort), HTTP_PORT: String(keygateHttp) }),
        );
        children.push(keygate);
        await Promise.all([
          waitForPort(barePort, { child: bare }),
          waitForPort(keygatePort, { child: keygate }),
        ]);
        const coldBase = g * (s.runs + 1);

        // Unreported first pass: JIT everywhere, and keygate verifies (and may remember) the warm keys.
        // Bare aedes gets the same unreported work as keygate's slot, CONNECT for CONNECT (the warm keys at the
        // cold concurrency, then a cold slice): before session 14 it got less (the warm keys at full
        // concurrency only), and the A/A control read 1.01-1.04 in favour of keygate's slot.
        log(`processes ${g + 1} of ${s.processes}: first pass (warm-up, keygate verifies the warm keys)...`);
        await rateRun('bare first pass', barePort, warmClients, s.coldInFlight);
        await rateRun('bare cold warm-up', barePort, coldSlice(coldBase + s.runs), s.coldInFlight);
        if (mosquitto && g === 0) await rateRun('mosquitto', mosquittoPort, warmClients, s.inFlight);
        // Until every warm key is admitted once (a CONNACK 3 — keygate allows KEYGATE_BAN_THRESHOLD
        // verifications at once per address, and every client here is 127.0.0.1 — is retried).
        const firstPass = await rateRun(
          'keygate warm-up',
          keygatePort,
          warmClients,
          s.coldInFlight,
          undefined,
          1000,
        );
        await rateRun(
          'keygate cold warm-up',
          keygatePort,
          coldSlice(coldBase + s.runs),
          s.coldInFlight,
          s.runLimitS,
        );
        await quiet(keygateHttp);
        // One unreported run of the measured cycle each: the first pass gave bare aedes 500 CONNECTs and
        // keygate's warm path none (its keys were being verified), so round 1 measured the JIT compiling
        // both (both ran at ~60 % of their later rounds' rate).
        await rateRun('bare warm-up', barePort, cycle, s.inFlight);
        await rateRun('keygate warm warm-up', keygatePort, cycle, s.inFlight);
        log(
          `  keygate first pass: ${Math.round(firstPass.perSec)} CONNECT/s ${JSON.stringify(firstPass.codes)}`,
        );

        // The broker's CPU per CONNECT is read around each run too (`withCpuOf`): the rate is the target,
        // but it moves with the machine; the CPU a broker spent per CONNECT mostly does not.
        const pidOf = { bare: bare.pid, 'keygate warm': keygate.pid, 'keygate cold': keygate.pid };
        const http = keygateHttp;
        const us = (x) => (x === undefined ? '-' : String(Math.round(x)));
        const measured = async (variant, port, clients, inFlight) => {
          // Every measured run starts alike, whichever broker it measures: after half a second of idle
          // machine. Before session 13 only keygate's runs were followed by a pause (`quiet`, which also lets
          // its verifications finish), so bare aedes always started after one and keygate in half the rounds.
          // A plain pause, not another `quiet`: `quiet` scrapes keygate's /metrics, and with it before every
          // run keygate's warm CONNECT read 0.86-0.89 of bare aedes' instead of 0.92-0.97 (docs/BENCHMARKS.md,
          // session 13). keygate's runs are still followed by `quiet` below, so no verification is left over.
          await sleep(SETTLE_MS);
          const before = variant.startsWith('keygate') ? await verifications(http) : 0;
          const memoryBefore = variant.startsWith('keygate') ? await fromMemory(http) : 0;
          const pid = variant === 'mosquitto' ? mosquitto?.child.pid : pidOf[variant];
          const { result, cpuMs, mainCpuMs } = await withCpuOf(pid, () =>
            rateRun(variant, port, clients, inFlight, s.runLimitS),
          );
          result.processes = g + 1;
          result.cpuUsPerConnect =
            cpuMs === undefined || result.connects === 0 ? undefined : (cpuMs * 1000) / result.connects;
          result.mainThreadCpuUsPerConnect =
            mainCpuMs === undefined || result.connects === 0
              ? undefined
              : (mainCpuMs * 1000) / result.connects;
          if (variant.startsWith('keygate')) {
            await quiet(http);
            result.verificationsPerConnect = ((await verifications(http)) - before) / result.connects;
            result.fromMemoryPerConnect = ((await fromMemory(http)) - memoryBefore) / result.connects;
          }
          log(
            `  ${variant}: ${Math.round(result.perSec)} CONNECT/s ${JSON.stringify(result.codes)}, CPU ${us(result.cpuUsPerConnect)} µs/CONNECT (main thread ${us(result.mainThreadCpuUsPerConnect)})`,
          );
          runs.push(result);
        };
        for (let r = 0; r < s.runs; r++) {
          // bare and keygate warm back to back, in alternating order (their paired ratio is the target's).
          const pair = [
            () => measured('bare', barePort, cycle, s.inFlight),
            () => measured('keygate warm', keygatePort, cycle, s.inFlight),
          ];
          for (const run of (g * s.runs + r) % 2 === 0 ? pair : pair.reverse()) await run();
          if (mosquitto) await measured('mosquitto', mosquittoPort, cycle, s.inFlight);
          await measured('keygate cold', keygatePort, coldSlice(coldBase + r), s.coldInFlight);
          // Its twin on bare aedes, unreported: both processes do the same work between their measured runs.
          await rateRun('bare cold twin', barePort, coldSlice(coldBase + r), s.coldInFlight);
        }
        await stopChild(bare);
        if (g < s.processes - 1) await stopChild(keygate);
      }
      const med = (variant) => {
        const mine = runs.filter((r) => r.variant === variant);
        return mine.length ? median(mine.map((r) => r.perSec)) : undefined;
      };
      const rate = {
        inFlight: s.inFlight,
        coldInFlight: s.coldInFlight,
        connectsPerRun: s.connects,
        coldConnectsPerRun: s.coldConnects,
        warmKeys: s.warmKeys,
        // BARE_ANNOUNCEMENTS=off: bare aedes without its $SYS client announcements (bench/bare-aedes.mjs).
        bareAnnouncements: process.env.BARE_ANNOUNCEMENTS === 'off' ? 'off' : 'on',
        processes: s.processes,
        runsPerProcess: s.runs,
        runsPerVariant: s.runs * s.processes,
        mosquitto: mosquitto ? { version: mosquitto.version } : 'skipped (not installed)',
        bare: med('bare'),
        mosquittoPerSec: med('mosquitto'),
        warm: med('keygate warm'),
        cold: med('keygate cold'),
        runs,
      };
      const perRun = (variant) => runs.filter((r) => r.variant === variant).map((r) => r.perSec);
      const cpuOf = (variant, field = 'cpuUsPerConnect') =>
        runs.filter((r) => r.variant === variant && r[field] !== undefined).map((r) => r[field]);
      // Broker CPU per CONNECT (µs, every thread), medians; keygate's over bare's paired like the rates.
      const [bareCpu, warmCpu, mosquittoCpu] = ['bare', 'keygate warm', 'mosquitto'].map((v) => cpuOf(v));
      const medianOrNone = (values) => (values.length ? median(values) : undefined);
      // The main thread's share (the event loop: what bounds a broker's rate); the rest is V8's helper
      // threads (parallel scavenges, concurrent compiles), which compete with the load generator instead.
      const [bareMain, warmMain] = ['bare', 'keygate warm'].map((v) => cpuOf(v, 'mainThreadCpuUsPerConnect'));
      rate.cpuUsPerConnect = {
        bare: medianOrNone(bareCpu),
        warm: medianOrNone(warmCpu),
        mosquitto: medianOrNone(mosquittoCpu),
        warmOverBare: warmCpu.length && bareCpu.length ? medianPairedRatio(warmCpu, bareCpu) : undefined,
        mainThread: {
          bare: medianOrNone(bareMain),
          warm: medianOrNone(warmMain),
          warmOverBare:
            warmMain.length && bareMain.length ? medianPairedRatio(warmMain, bareMain) : undefined,
        },
      };
      rate.ratio = {
        // The target's ratio: the median of the rounds' warm/bare ratios (runs back to back).
        warmOverBare: medianPairedRatio(perRun('keygate warm'), perRun('bare')),
        // The ratio of the medians, for comparison with earlier reports (more exposed to drift).
        warmOverBareOfMedians: rate.warm / rate.bare,
        warmOverCold: rate.cold > 0 ? rate.warm / rate.cold : undefined,
        warmOverMosquitto: rate.mosquittoPerSec ? rate.warm / rate.mosquittoPerSec : undefined,
        bareOverMosquitto: rate.mosquittoPerSec ? rate.bare / rate.mosquittoPerSec : undefined,
      };
      // Each pair of processes on its own: how far apart the pairs are is the spread one pair alone had.
      const warmByProcess = valuesByProcess(runs, s.processes, 'keygate warm', 'perSec');
      rate.perProcess = valuesByProcess(runs, s.processes, 'bare', 'perSec').map((bare, g) => ({
        bare: median(bare),
        warm: median(warmByProcess[g]),
        warmOverBare: medianPairedRatio(warmByProcess[g], bare),
      }));
      report.rate = rate;
      await mosquitto?.stop();
      mosquitto = undefined;

      // --- 2. Cold connect storm (same keygate process; the storm keys were never used) ------------------
      if (s.phases.has('storm')) report.storm = await storm(keygate, keygatePort, keygateHttp);
      await stopChild(keygate);
    } else if (s.phases.has('storm')) {
      const port = await freeLoopbackPort();
      const http = await freeLoopbackPort();
      const keygate = await startBroker(
        keygateArgs,
        await keygateEnv({ MQTT_PORT: String(port), HTTP_PORT: String(http) }),
        { ipc: true },
      );
      children.push(keygate);
      report.storm = await storm(keygate, port, http);
      await stopChild(keygate);
    }

    // --- 3. Restart storm --------------------------------------------------------------------------------
    if (s.phases.has('restart')) {
      const keyFile = join(tempDir, 'credential-cache.key');
      await writeFile(keyFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
      const port = await freeLoopbackPort();
      const http = await freeLoopbackPort();
      const env = await keygateEnv({
        MQTT_PORT: String(port),
        HTTP_PORT: String(http),
        KEYGATE_CREDENTIAL_CACHE_KEY_FILE: keyFile,
      });
      let keygate = await startBroker(keygateArgs, env, { ipc: true });
      children.push(keygate);
      const counters = { attempts: 0, codes: {} };
      const fleet = indices('restart').map(
        (i) => new Device(port, client(i).packet, counters, s, sourceOf(i)),
      );
      log(`restart storm: connecting ${fleet.length} devices (${s.restartInFlight} in flight)...`);
      const admitStart = performance.now();
      let next = 0;
      await withLimit(
        Promise.all(
          Array.from({ length: Math.min(s.restartInFlight, fleet.length) }, async () => {
            while (next < fleet.length) await fleet[next++].connect();
          }),
        ),
        s.limitS,
        'initial admission',
      );
      const initialSeconds = (performance.now() - admitStart) / 1000;
      const initialVerifications = await verifications(http);
      log(`  all connected in ${initialSeconds.toFixed(1)} s; killing the broker (SIGKILL)`);
      const initialCodes = { ...counters.codes };
      counters.attempts = 0;
      counters.codes = {};
      for (const device of fleet) device.reconnect = true;
      keygate.kill('SIGKILL');
      await once(keygate, 'exit');
      const spawnAt = performance.now();
      keygate = spawnProbed(keygateArgs, env);
      children.push(keygate);
      // Every socket closed when the old process died, so every device has a reconnection under way.
      for (let k = 0; k < 2000 && fleet.some((d) => !d.readmitted); k++) await sleep(5);
      let readmitted;
      let error;
      try {
        readmitted = await withLimit(
          Promise.all(fleet.map((d) => d.readmitted)),
          s.stormLimitS,
          'restart storm',
        );
      } catch (err) {
        error = err.message;
      }
      const lastAt = readmitted ? Math.max(...readmitted) : undefined;
      const firstAt = readmitted ? Math.min(...readmitted) : undefined;
      const restartLoop = await loopDelay(keygate, 'loop-report');
      report.restart = {
        devices: fleet.length,
        jitterMs: s.jitterMs,
        initialAdmissionSeconds: initialSeconds,
        initialVerifications,
        initialCodes,
        secondsUntilAllReadmitted: lastAt === undefined ? undefined : (lastAt - spawnAt) / 1000,
        // Start-up: from the spawn to the first CONNACK 0 of the new process.
        secondsUntilFirstReadmitted: firstAt === undefined ? undefined : (firstAt - spawnAt) / 1000,
        fromMemory: await fromMemory(http).catch(() => undefined),
        readmitted: readmitted ? readmitted.length : fleet.filter((d) => d.socket).length,
        error,
        attempts: counters.attempts,
        codes: counters.codes,
        verificationsAfterRestart: await verifications(http).catch(() => undefined),
        eventLoopSinceSpawn: restartLoop,
      };
      log(
        `  re-admitted in ${report.restart.secondsUntilAllReadmitted?.toFixed(2)} s (first after ${report.restart.secondsUntilFirstReadmitted?.toFixed(2)} s; ${report.restart.fromMemory} from memory) ${JSON.stringify(counters.codes)}`,
      );
      for (const device of fleet) device.stop();
      await stopChild(keygate);
    }

    async function storm(keygate, port, http) {
      const counters = { attempts: 0, codes: {} };
      const fleet = indices('storm').map((i) => new Device(port, client(i).packet, counters, s, sourceOf(i)));
      log(`cold storm: ${fleet.length} devices at once...`);
      const before = await verifications(http);
      // The event-loop delay of the idle broker first: on a shared machine it is not zero.
      await loopDelay(keygate, 'loop-reset');
      await sleep(2000);
      const idleLoop = await loopDelay(keygate, 'loop-report');
      await loopDelay(keygate, 'loop-reset');
      const start = performance.now();
      let admitted;
      let error;
      try {
        admitted = await withLimit(
          Promise.all(fleet.map((d) => sleep(jitter(s.jitterMs)).then(() => d.connect()))),
          s.stormLimitS,
          'cold storm',
        );
      } catch (err) {
        error = err.message;
      }
      const seconds = ((admitted ? Math.max(...admitted) : performance.now()) - start) / 1000;
      const loop = await loopDelay(keygate, 'loop-report');
      const connected = fleet.filter((d) => d.socket).length;
      for (const device of fleet) device.stop();
      await quiet(http);
      const verified = (await verifications(http)) - before;
      const result = {
        devices: fleet.length,
        seconds,
        admitted: admitted?.length ?? connected,
        perSec: (admitted?.length ?? connected) / seconds,
        error,
        attempts: counters.attempts,
        codes: counters.codes,
        verifications: verified,
        eventLoop: loop,
        eventLoopIdle: idleLoop,
        target: { perSec: (0.8 * cores) / (oneVerificationMs / 1000), loopP99Ms: 10 },
      };
      log(
        `  ${result.perSec.toFixed(1)} CONNECT/s, loop p99 ${loop.p99.toFixed(1)} ms ${JSON.stringify(counters.codes)}`,
      );
      return result;
    }
  } finally {
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    await mosquitto?.stop();
    redis.disconnect();
    await redisServer.stop();
    await rm(tempDir, { recursive: true, force: true });
  }

  await saveResults('connect', report);
  if (json) {
    console.log(JSON.stringify(report));
    return;
  }
  printReport(report, s);
}

function printReport(report, s) {
  const n = (x, digits = 0) => (x === undefined ? 'n/a' : x.toFixed(digits));
  console.log(
    `connect benchmark: bcrypt cost ${report.bcryptCost}, ${report.distinctHashes} distinct hashes (key i uses hash i % ${report.distinctHashes}), one verification ${n(report.oneVerificationMs, 1)} ms, ${report.cores} cores\n`,
  );
  const r = report.rate;
  if (r) {
    if (report.control) {
      console.log(
        `A/A CONTROL: the "keygate" rows are a second bare aedes (KEYGATE_MAIN=${report.keygateMain}); warm/cold means nothing\n`,
      );
    }
    console.log(
      `CONNECT rate (${r.inFlight} in flight, cold ${r.coldInFlight}; ${r.connectsPerRun} CONNECTs per run, cold ${r.coldConnectsPerRun}; ${r.runsPerProcess} interleaved runs on each of ${r.processes} pairs of processes, one pair after the other; bare aedes' $SYS client announcements ${r.bareAnnouncements ?? 'on'})\n`,
    );
    console.log(
      '| processes | run | variant | CONNECT/s | CONNACK codes | retries | bcrypt per CONNECT | from memory per CONNECT |',
    );
    console.log('|---|---|---|---|---|---|---|---|');
    const perRun = r.runs.length / r.runsPerVariant;
    r.runs.forEach((x, k) => {
      console.log(
        `| ${x.processes} | ${Math.floor(k / perRun) + 1} | ${x.variant} | ${n(x.perSec)} | ${JSON.stringify(x.codes)} | ${x.retries} | ${n(x.verificationsPerConnect, 2)} | ${n(x.fromMemoryPerConnect, 2)} |`,
      );
    });
    if (r.perProcess) {
      console.log(
        `\nper pair of processes, warm/bare (median of its paired rounds): ${r.perProcess.map((p) => n(p.warmOverBare, 3)).join(', ')}`,
      );
    }
    console.log(
      `\nmedians: bare ${n(r.bare)}, mosquitto ${typeof r.mosquitto === 'string' ? r.mosquitto : n(r.mosquittoPerSec)}, keygate warm ${n(r.warm)}, keygate cold ${n(r.cold, 1)} CONNECT/s`,
    );
    console.log(
      `warm/bare ${n(r.ratio.warmOverBare, 3)} (median of the ${r.runsPerVariant} paired rounds; target >= 0.9; ratio of medians ${n(r.ratio.warmOverBareOfMedians, 3)}), warm/cold ${n(r.ratio.warmOverCold, 1)} (target >= 50), warm/mosquitto ${n(r.ratio.warmOverMosquitto, 3)}\n`,
    );
    const cpu = r.cpuUsPerConnect;
    if (cpu?.bare !== undefined) {
      console.log(
        `broker CPU per CONNECT (user + system, all threads, /proc; medians): bare ${n(cpu.bare)} µs, keygate warm ${n(cpu.warm)} µs, mosquitto ${n(cpu.mosquitto)} µs; keygate warm / bare ${n(cpu.warmOverBare, 3)} (median of the paired rounds; its inverse is the rate ratio a CPU-bound broker would reach)`,
      );
      const main = cpu.mainThread;
      if (main?.bare !== undefined) {
        console.log(
          `  of which the main thread (/proc task): bare ${n(main.bare)} µs, keygate warm ${n(main.warm)} µs; keygate warm / bare ${n(main.warmOverBare, 3)}`,
        );
      }
      console.log('');
    }
  }
  const st = report.storm;
  if (st) {
    console.log(
      `cold storm: ${st.devices} devices, ${st.admitted} admitted in ${n(st.seconds, 2)} s = ${n(st.perSec, 1)} CONNECT/s (target >= ${n(st.target.perSec, 1)}); event-loop delay p50 ${n(st.eventLoop.p50, 2)} ms, p99 ${n(st.eventLoop.p99, 2)} ms, max ${n(st.eventLoop.max, 1)} ms (target p99 <= 10; idle broker just before: p99 ${n(st.eventLoopIdle.p99, 2)} ms); ${st.attempts} attempts ${JSON.stringify(st.codes)}; ${st.verifications} bcrypt verifications${st.error ? `; ${st.error}` : ''}\n`,
    );
  }
  const rs = report.restart;
  if (rs) {
    console.log(
      `restart storm: ${rs.devices} devices (first admission ${n(rs.initialAdmissionSeconds, 1)} s, ${rs.initialVerifications} verifications); after SIGKILL + spawn: all re-admitted in ${n(rs.secondsUntilAllReadmitted, 2)} s (target <= 10; the first after ${n(rs.secondsUntilFirstReadmitted, 2)} s; ${rs.fromMemory} accepted from memory); ${rs.attempts} attempts ${JSON.stringify(rs.codes)}; ${rs.verificationsAfterRestart} verifications in the new process; its event-loop delay since spawn p99 ${n(rs.eventLoopSinceSpawn?.p99, 1)} ms${rs.error ? `; ${rs.error}` : ''}`,
    );
  }
  void s;
}

if (!isMainThread) {
  // Hash worker: bcrypt of the secrets it was handed, at the given cost.
  const { secrets, cost } = workerData;
  parentPort.postMessage(secrets.map((secret) => bcrypt.hashSync(secret, cost)));
} else {
  await main();
}
