// Benchmark: instructions per warm CONNECT and per message (a PUBLISH and its delivery), keygate against
// bare aedes, counted by valgrind's callgrind. A count of executed instructions, not a time: the same for
// the same program and inputs whatever else the machine is doing, so it shows what keygate adds to a
// CONNECT or a message where the rates of bench/connect.mjs and bench/throughput.mjs swing by ±25 % from
// one run to the next on this shared machine. It does not see what an instruction costs (cache misses,
// branch mispredictions, the kernel's share): the rates remain the targets; this says how much of a
// gap between them is keygate's own work.
//
// Each broker runs under `valgrind --tool=callgrind` (about 50 times slower) in its own process, with the
// setup of bench/throughput.mjs (10,000 devices, keys scoped to 1,000, KEYGATE_PERSISTENCE=memory):
// 1. warm CONNECTs: BENCH_CG_WARM_CONNECTS unreported (JIT, and keygate verifies each key once), counters
//    zeroed (`callgrind_control -z`), BENCH_CG_CONNECTS measured (`callgrind_control -d`): each opens a
//    socket, sends CONNECT, waits for CONNACK 0 and sends DISCONNECT; BENCH_CG_IN_FLIGHT at once, cycling
//    over 500 keys (their devices' client IDs);
// 2. messages: BENCH_CG_WARM_RUNS unreported runs, then one measured run of BENCH_CG_MESSAGES QoS 0
//    messages (bench/publish-run.mjs: BENCH_PUBLISHERS (10) publishers on their own topics, one subscriber
//    on losant/+/state).
// Every thread of the broker process is counted (V8's compiler and GC helper threads too). The Redis
// commands keygate sent during the measured CONNECTs are counted too (`redisCommandsPerConnect`; a warm
// CONNECT sends none). A run of session 12 counted 2.3 million instructions per "warm" CONNECT, with key
// records parsed in the window: under valgrind's slowness some CONNECTs had been decided the full way
// (memory not known to be in step with Redis, presumably), and such a count is not a warm CONNECT's.
// BENCH_CG_FUNCTIONS=N also lists the N functions (JIT code named from V8's --perf-basic-prof map, see
// bench/callgrind-functions.mjs) on which keygate's main thread spent the most instructions more than bare
// aedes', per warm CONNECT and per message — where a gap is, when the totals say how large it is.
// Needs valgrind (Debian package `valgrind`); skipped when it is not installed.
// Run: npm run bench:instructions. --json prints one JSON object, --save also writes
// docs/bench-results/instructions.json.
import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { Redis } from 'ioredis';
import { freeLoopbackPort, startThrowawayRedis } from '../dist/demo/redis-server.js';
import { functionsOf, largestDifferences, removePerfMap } from './callgrind-functions.mjs';
import {
  BROKER_NODE_OPTIONS,
  commandsBetween,
  connectOnce,
  connectPacket,
  keygateBenchEnv,
  redisCommands,
  saveResults,
  waitForPort,
} from './lib.mjs';
import { deviceId, oneRun, PREFIX, SECRET, seedPublishScope } from './publish-run.mjs';

const n = (name, fallback) => Number(process.env[name] ?? fallback);
const DEVICES = n('BENCH_DEVICES', 10_000);
const WARM_CONNECTS = n('BENCH_CG_WARM_CONNECTS', 8000);
const CONNECTS = n('BENCH_CG_CONNECTS', 1000);
const IN_FLIGHT = n('BENCH_CG_IN_FLIGHT', 20);
const WARM_RUNS = n('BENCH_CG_WARM_RUNS', 2);
const SIZES = {
  messages: n('BENCH_CG_MESSAGES', 40_000),
  publishers: n('BENCH_PUBLISHERS', 10),
  payload: 64,
};
const WARM_KEYS = 500;
const FUNCTIONS = n('BENCH_CG_FUNCTIONS', 0);
const json = process.argv.includes('--json');
const log = (text) => {
  if (!json) process.stderr.write(`${text}\n`);
};

function hasValgrind() {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `count` accepted CONNECTs, IN_FLIGHT at once, cycling over `packets`; a refusal is retried. */
async function connects(port, packets, count) {
  let next = 0;
  let refused = 0;
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < count) {
        const packet = packets[next++ % packets.length];
        for (let attempt = 0; (await connectOnce(port, packet)).code !== 0; attempt++) {
          refused++;
          if (attempt > 50) throw new Error('CONNECT refused 50 times in a row');
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
    }),
  );
  return refused;
}

/**
 * Instructions of dump `part` (callgrind writes one file per thread: <out>.<part>-<thread>, thread 01
 * being the main thread, which runs the event loop and every line of JavaScript): the main thread's, and
 * those of every other thread (V8's compiler and GC helpers, libuv's pool, keygate's bcrypt workers).
 */
function instructionsIn(out, part) {
  const dir = dirname(out);
  const prefix = `${basename(out)}.${part}-`;
  let main = 0;
  let others = 0;
  for (const file of readdirSync(dir).filter((f) => f.startsWith(prefix))) {
    const match = /^(?:summary|totals): (\d+)/m.exec(readFileSync(join(dir, file), 'utf8'));
    if (!match) throw new Error(`no totals in ${file}`);
    if (file === `${prefix}01`) main += Number(match[1]);
    else others += Number(match[1]);
  }
  if (main === 0) throw new Error(`no main-thread dump ${prefix}01 in ${dir}`);
  return { main, others };
}

async function measure(variant, script, env, scope, dir, redis) {
  const port = await freeLoopbackPort();
  const out = join(dir, `${variant}.out`);
  const child = spawn(
    'valgrind',
    [
      '--tool=callgrind',
      '--smc-check=all-non-file',
      '--separate-threads=yes',
      `--callgrind-out-file=${out}`,
      process.execPath,
      ...BROKER_NODE_OPTIONS,
      ...(FUNCTIONS > 0 ? ['--perf-basic-prof'] : []),
      script,
    ],
    {
      env: { ...process.env, LOG_LEVEL: 'warn', MQTT_PORT: String(port), MQTT_HOST: '127.0.0.1', ...env },
      stdio: ['ignore', 'ignore', 'ignore'],
    },
  );
  const control = (flag) => execFileSync('callgrind_control', [flag, String(child.pid)], { stdio: 'ignore' });
  try {
    // valgrind makes a broker's start-up slow: up to 60 s.
    await waitForPort(port, { attempts: 1200, child });
    // keygate: "broker ready" can come before its Redis connection is (CONNACK 3, retried).
    const inScope = [...scope.byId, ...scope.byTag].slice(0, WARM_KEYS);
    const packets = inScope.map((i) => connectPacket(deviceId(i), `key-${i}`, SECRET));
    log(`${variant}: ${WARM_CONNECTS} warm-up CONNECTs under valgrind...`);
    const warmRefused = await connects(port, packets, WARM_CONNECTS);
    control('-z');
    const redisBefore = await redisCommands(redis);
    const refused = await connects(port, packets, CONNECTS);
    control('-d'); // dump 1
    // A warm CONNECT is decided from memory, without Redis: any command here means some measured CONNECTs
    // took the full path (e.g. memory not yet known to be in step with Redis), and the count is not a warm one's.
    const redisDuringConnects = commandsBetween(redisBefore, await redisCommands(redis));
    log(`${variant}: ${WARM_RUNS} warm-up runs of ${SIZES.messages} messages...`);
    for (let r = 0; r < WARM_RUNS; r++) await oneRun(variant, port, scope, undefined, SIZES);
    control('-z');
    const run = await oneRun(variant, port, scope, undefined, SIZES);
    control('-d'); // dump 2
    const connect = instructionsIn(out, 1);
    const message = instructionsIn(out, 2);
    // The main thread's dumps (thread 01), by function, while V8's code map is still there.
    const functions =
      FUNCTIONS > 0
        ? {
            connect: functionsOf(`${out}.1-01`, child.pid, CONNECTS),
            message: functionsOf(`${out}.2-01`, child.pid, run.messages),
          }
        : undefined;
    const per = (count, by) => ({ mainThread: count.main / by, otherThreads: count.others / by });
    const perConnect = (connect.main + connect.others) / CONNECTS;
    const perMessage = (message.main + message.others) / run.messages;
    log(
      `${variant}: ${Math.round(perConnect)} instructions per CONNECT, ${Math.round(perMessage)} per message`,
    );
    return {
      instructionsPerConnect: perConnect,
      instructionsPerMessage: perMessage,
      perConnect: per(connect, CONNECTS),
      perMessage: per(message, run.messages),
      refusedConnects: { warmUp: warmRefused, measured: refused },
      redisCommandsPerConnect: redisDuringConnects.total / CONNECTS,
      delivered: `${run.delivered}/${run.messages}`,
      functions,
    };
  } finally {
    child.kill('SIGKILL');
    if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
    if (FUNCTIONS > 0) removePerfMap(child.pid);
  }
}

async function main() {
  if (!hasValgrind()) {
    const report = { skipped: 'valgrind is not installed (Debian package valgrind)' };
    console.log(json ? JSON.stringify(report) : `instructions: skipped (${report.skipped})`);
    return;
  }
  const redisServer = await startThrowawayRedis();
  const redis = new Redis(redisServer.url);
  const dir = mkdtempSync(join(tmpdir(), 'keygate-callgrind-'));
  try {
    const scope = await seedPublishScope(redis, DEVICES);
    const bare = await measure('bare', 'bench/bare-aedes.mjs', {}, scope, dir, redis);
    const keygate = await measure(
      'keygate',
      'dist/server/main.js',
      { ...keygateBenchEnv(redisServer.url, PREFIX), HTTP_PORT: '0' },
      scope,
      dir,
      redis,
    );
    const differences =
      FUNCTIONS > 0
        ? {
            perConnect: largestDifferences(bare.functions.connect, keygate.functions.connect, FUNCTIONS),
            perMessage: largestDifferences(bare.functions.message, keygate.functions.message, FUNCTIONS),
          }
        : undefined;
    delete bare.functions;
    delete keygate.functions;
    const report = {
      tool: execFileSync('valgrind', ['--version']).toString().trim(),
      devices: DEVICES,
      warmUpConnects: WARM_CONNECTS,
      connects: CONNECTS,
      inFlight: IN_FLIGHT,
      warmUpRuns: WARM_RUNS,
      messages: SIZES.messages,
      bare,
      keygate,
      ratio: {
        connect: keygate.instructionsPerConnect / bare.instructionsPerConnect,
        message: keygate.instructionsPerMessage / bare.instructionsPerMessage,
        connectMainThread: keygate.perConnect.mainThread / bare.perConnect.mainThread,
        messageMainThread: keygate.perMessage.mainThread / bare.perMessage.mainThread,
      },
      ...(differences === undefined ? {} : { mainThreadFunctions: differences }),
    };
    await saveResults('instructions', report);
    if (json) {
      console.log(JSON.stringify(report));
      return;
    }
    console.log('| broker | per warm CONNECT | its main thread | per message | its main thread |');
    console.log('|---|---|---|---|---|');
    const k = (x) => Math.round(x).toLocaleString('en-US');
    for (const [name, r] of [
      ['bare aedes', bare],
      ['keygate', keygate],
    ]) {
      console.log(
        `| ${name} | ${k(r.instructionsPerConnect)} | ${k(r.perConnect.mainThread)} | ${k(r.instructionsPerMessage)} | ${k(r.perMessage.mainThread)} |`,
      );
    }
    const { ratio } = report;
    console.log(
      `| keygate / bare | ${ratio.connect.toFixed(3)} | ${ratio.connectMainThread.toFixed(3)} | ${ratio.message.toFixed(3)} | ${ratio.messageMainThread.toFixed(3)} |`,
    );
    if (keygate.redisCommandsPerConnect > 0) {
      console.log(
        `\nNOT a warm-CONNECT count: keygate sent ${keygate.redisCommandsPerConnect.toFixed(2)} Redis commands per measured CONNECT (a warm one sends none): some were decided the full way.`,
      );
    }
    for (const [what, rows] of Object.entries(differences ?? {})) {
      console.log(
        `\nmain thread, ${what}: the functions keygate spends most instructions more on than bare aedes`,
      );
      console.log('| keygate − bare | bare | keygate | function |\n|---|---|---|---|');
      for (const row of rows) {
        console.log(
          `| ${k(row.difference)} | ${k(row.base)} | ${k(row.other)} | ${row.function.slice(0, 140)} |`,
        );
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    redis.disconnect();
    await redisServer.stop();
  }
}

await main();
