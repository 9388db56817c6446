// Helpers shared by the benchmarks.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import mqttPacket from 'mqtt-packet';
import { BROKER_NODE_OPTIONS } from '../dist/server/node-options.js';

/**
 * The Node options keygate's broker runs with (`npm start`, the Dockerfile): every benchmark starts every
 * broker it runs — bare aedes too, so that a ratio compares the same runtime — with them first.
 */
export { BROKER_NODE_OPTIONS };

/**
 * The Node options put before a compared broker's script: keygate's own, then the extra ones in the
 * environment variable `extraName` (profiling), e.g. BENCH_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof".
 */
export function brokerNodeArgs(extraName) {
  return [...BROKER_NODE_OPTIONS, ...(process.env[extraName] ?? '').split(' ').filter(Boolean)];
}

/**
 * The keygate build a comparing benchmark runs: `dist/server/main.js`, or the one KEYGATE_MAIN names (an A/B
 * of two builds, or an ablation: a copy of `dist/` edited to leave a part out, run against the same bare aedes).
 */
export const keygateMain = () => process.env.KEYGATE_MAIN ?? 'dist/server/main.js';

/**
 * Whether the keygate slot runs bare aedes (`KEYGATE_MAIN=bench/bare-aedes.mjs`): an **A/A control**. The
 * ratio then compares two processes of the same broker, so what it reads is the benchmark's own noise
 * floor — how far from 1.00 one invocation lands when there is no difference to find (docs/BENCHMARKS.md,
 * session 13). A control's results are never saved as keygate's.
 */
export function isControl() {
  const control = keygateMain().endsWith('bare-aedes.mjs');
  if (control && process.argv.includes('--save')) {
    throw new Error('KEYGATE_MAIN runs bare aedes (an A/A control): its results are not saved (drop --save)');
  }
  return control;
}

const DISCONNECT = mqttPacket.generate({ cmd: 'disconnect' });

/**
 * Starts a broker child process, `node <args>`: with the benchmark's environment, `LOG_LEVEL=warn` and `env`
 * (or, with `ownEnv`, nothing but PATH and `env`: the broker's shipped defaults). Its stderr is the
 * benchmark's; `stdout: 'pipe'` keeps its output for the caller; `ipc` adds an IPC channel (the loop and heap
 * probes answer on it). Does not wait: see waitForPort.
 */
export function spawnBroker(args, env, { stdout = 'ignore', ipc = false, ownEnv = false } = {}) {
  return spawn(process.execPath, args, {
    env: ownEnv ? { PATH: process.env.PATH, ...env } : { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', stdout, 'inherit', ...(ipc ? ['ipc'] : [])],
  });
}

/**
 * spawnBroker, then waits until it listens on `env.MQTT_PORT`: resolves with the child, or rejects — the child
 * killed — when it exits first or never listens. (bench/connect.mjs spawns two and waits for both.)
 */
export async function startBroker(args, env, options = {}) {
  const child = spawnBroker(args, env, options);
  try {
    await waitForPort(Number(env.MQTT_PORT), { child });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  return child;
}

/** Stops a broker child process (SIGTERM) and waits for its exit; nothing when it is missing or gone already. */
export async function stopChild(child) {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/**
 * Stops a broker child process that must still be running at the end of a measurement: one that exited
 * during it (a crash) fails the benchmark with its exit code or signal instead of a result measured
 * against a dead broker (or a wait for an 'exit' event that has already been emitted).
 */
export async function stopLiveChild(child, name) {
  if (child.exitCode !== null || child.signalCode !== null) {
    throw new Error(`${name} exited during the measurement (${child.exitCode ?? child.signalCode})`);
  }
  await stopChild(child);
}

/**
 * Resolves once something accepts TCP connections on the port (a broker child process is up): tries
 * `attempts` times, 50 ms apart (400: 20 s; a broker under valgrind needs more), and gives up early when
 * `child` has exited.
 */
export async function waitForPort(port, { attempts = 400, child } = {}) {
  for (let i = 0; i < attempts; i++) {
    if (child !== undefined && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`the broker exited before listening on ${port}`);
    }
    const socket = connect(port, '127.0.0.1');
    const ok = await new Promise((resolve) => {
      socket.once('connect', () => resolve(true));
      socket.once('error', () => resolve(false));
    });
    socket.destroy();
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on ${port}`);
}

/**
 * One CONNECT on a new socket. Resolves to { code, socket } once the CONNACK arrived (code = its return
 * code), or { code: 'closed' } / { code: 'refused' } when the socket closed first or could not connect.
 * With `keep` the socket stays open on CONNACK 0, else a DISCONNECT is sent and the socket closed.
 */
export function connectOnce(port, packet, keep, localAddress = '127.0.0.1') {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1', localAddress });
    socket.setNoDelay(true);
    let buffered = Buffer.alloc(0);
    let settled = false;
    const settle = (result) => {
      if (settled) return;
      settled = true;
      socket.off('data', onData);
      resolve(result);
    };
    const onData = (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 4) return;
      const code = buffered[0] === 0x20 ? buffered[3] : `packet 0x${buffered[0].toString(16)}`;
      if (code === 0 && keep) {
        settle({ code, socket });
        return;
      }
      if (code === 0) socket.end(DISCONNECT);
      else socket.destroy();
      settle({ code });
    };
    socket.once('connect', () => socket.write(packet));
    socket.on('data', onData);
    socket.on('error', (err) => settle({ code: err.code === 'ECONNREFUSED' ? 'refused' : 'closed' }));
    socket.once('close', () => settle({ code: 'closed' }));
  });
}

/**
 * keygate's settings in the benchmarks that compare it with bare aedes: aedes' in-memory persistence (as
 * bare aedes has), the change feed on, the periodic re-validation (once an hour) out of the runs' way.
 */
export function keygateBenchEnv(redisUrl, prefix) {
  return {
    REDIS_URL: redisUrl,
    KEYGATE_PREFIX: prefix,
    KEYGATE_PERSISTENCE: 'memory',
    KEYGATE_NOTIFICATIONS: 'on',
    KEYGATE_REVALIDATE_MS: '3600000',
  };
}

/**
 * Connects an mqtt.js client (MQTT 3.1.1, loopback, no reconnect) with `options`, retrying every 100 ms
 * while the broker answers CONNACK 3 (keygate's Redis connection still coming up), at most `attempts`
 * times.
 */
export async function connectWhenReady(port, options, attempts) {
  const { default: mqtt } = await import('mqtt');
  for (let attempt = 0; ; attempt++) {
    try {
      return await new Promise((resolve, reject) => {
        const client = mqtt.connect({
          host: '127.0.0.1',
          port,
          protocolVersion: 4,
          reconnectPeriod: 0,
          ...options,
        });
        client.once('connect', () => resolve(client));
        client.once('error', (err) => {
          client.end(true);
          reject(err);
        });
      });
    } catch (err) {
      if (err.code !== 3 || attempt > attempts) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

/** The median of a list of numbers. */
export function median(values) {
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * CPU time (user + system, every thread) process `pid` has used so far, in ms, from `/proc/<pid>/stat`
 * (fields 14 and 15, in clock ticks of 1/100 s: USER_HZ is 100 on Linux everywhere Node runs); undefined
 * where there is no /proc or the process is gone. A broker's CPU per CONNECT, unlike its rate, does not
 * depend on how much of the machine the load generator and the neighbours took during the run. With
 * `thread` (a thread ID; the process ID is its main thread's), that thread's alone (`/proc/<pid>/task/<thread>/stat`).
 */
export function processCpuMs(pid, thread) {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(
      thread === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${thread}/stat`,
      'utf8',
    );
    // The command name (field 2) is in parentheses and may contain spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return undefined;
  }
}

/**
 * Runs `run` and gives its result with the CPU time (ms, `processCpuMs`) process `pid` used meanwhile — a
 * broker's CPU per operation, read around every run by the benchmarks — and `mainCpuMs`, its main thread's
 * (the event loop; the rest is V8's helper threads). Undefined where /proc is missing.
 */
export async function withCpuOf(pid, run) {
  const before = processCpuMs(pid);
  const mainBefore = processCpuMs(pid, pid);
  const result = await run();
  const after = processCpuMs(pid);
  const mainAfter = processCpuMs(pid, pid);
  return {
    result,
    cpuMs: before === undefined || after === undefined ? undefined : after - before,
    mainCpuMs: mainBefore === undefined || mainAfter === undefined ? undefined : mainAfter - mainBefore,
  };
}

/**
 * The median of paired ratios: `values[r] / baseline[r]` for each round r, where the two runs of a round
 * were measured back to back (their order alternating from round to round). On this shared 2-core
 * machine one broker's rate drifts by tens of percent from one minute to the next (docs/BENCHMARKS.md,
 * "How the ratios are taken"); a ratio of two runs taken seconds apart cancels most of that drift, which a
 * ratio of medians gathered over minutes does not.
 */
export function medianPairedRatio(values, baseline) {
  return median(pairedRatios(values, baseline));
}

/** `values[r] / baseline[r]` for each round r both have: the ratios medianPairedRatio takes the median of. */
export function pairedRatios(values, baseline) {
  const rounds = Math.min(values.length, baseline.length);
  return Array.from({ length: rounds }, (_, r) => values[r] / baseline[r]);
}

/**
 * How many pairs of broker processes (bare aedes and keygate) a benchmark measures, one pair after the other:
 * BENCH_PROCESSES, else the benchmark's default, at least 1. Two processes of the same broker, started alike,
 * differ by up to a fifth in CPU per operation for their whole life (JIT and heap decisions taken early): with
 * one process per variant a ratio was largely a draw of that difference (docs/BENCHMARKS.md, session 9), and
 * the more pairs, the less one pair's draw moves the median (session 13: A/A controls).
 */
export function benchProcesses(fallback) {
  return Math.max(1, Number(process.env.BENCH_PROCESSES ?? fallback));
}

/**
 * `field` of the runs of `variant`, one list per pair of processes (runs carry `processes`, counted from 1),
 * in the order they ran: what `medianPairedRatio` pairs, one pair of processes at a time.
 */
export function valuesByProcess(runs, processes, variant, field) {
  return Array.from({ length: processes }, (_, g) =>
    runs.filter((r) => r.variant === variant && r.processes === g + 1).map((r) => r[field]),
  );
}

/**
 * Writes a benchmark's report to docs/bench-results/<name>.json when the benchmark was started with
 * `--save` (as `npm run bench:*` does), for bench/chart.mjs. Smoke runs (`--json` only) leave docs alone.
 */
export async function saveResults(name, report) {
  if (!process.argv.includes('--save')) return;
  const { mkdir, writeFile } = await import('node:fs/promises');
  const dir = new URL('../docs/bench-results/', import.meta.url);
  await mkdir(dir, { recursive: true });
  const saved = { bench: name, measuredAt: new Date().toISOString(), node: process.version, ...report };
  await writeFile(new URL(`${name}.json`, dir), `${JSON.stringify(saved, null, 2)}\n`);
}

const MOSQUITTO = process.env.BENCH_MOSQUITTO ?? '/usr/sbin/mosquitto';

/**
 * Starts Debian's mosquitto (the native reference) in its own process with a config of its own in a temp
 * dir: one listener on a free loopback port, `allow_anonymous false`, a password file hashed by
 * `mosquitto_passwd -U` (mosquitto 2.0: PBKDF2-SHA512), an ACL file (`acl` lines). Resolves to undefined
 * when mosquitto is not installed (or BENCH_MOSQUITTO=off): the caller reports "skipped".
 * `users`: [username, password] pairs.
 */
export async function startMosquitto(port, users, acl) {
  const { access, mkdtemp, rm, writeFile } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { execFile, spawn } = await import('node:child_process');
  const { promisify } = await import('node:util');
  if (MOSQUITTO === 'off') return undefined;
  try {
    await access(MOSQUITTO);
  } catch {
    return undefined;
  }
  const dir = await mkdtemp(join(tmpdir(), 'bench-mosquitto-'));
  const passwords = join(dir, 'passwd');
  await writeFile(passwords, users.map(([u, p]) => `${u}:${p}\n`).join(''), { mode: 0o600 });
  await promisify(execFile)('mosquitto_passwd', ['-U', passwords]);
  await writeFile(join(dir, 'acl'), `${acl.join('\n')}\n`);
  const config = [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous false',
    `password_file ${passwords}`,
    `acl_file ${join(dir, 'acl')}`,
    'persistence false',
    'max_queued_messages 0',
    'log_dest none',
    // Started as root, mosquitto would switch to the `mosquitto` user, which cannot read the temp dir.
    ...(process.getuid?.() === 0 ? ['user root'] : []),
  ];
  await writeFile(join(dir, 'mosquitto.conf'), `${config.join('\n')}\n`);
  const child = spawn(MOSQUITTO, ['-c', join(dir, 'mosquitto.conf')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const { stdout } = await promisify(execFile)(MOSQUITTO, ['-h']).catch((err) => err);
  const version = /mosquitto version (\S+)/.exec(stdout ?? '')?.[1] ?? 'unknown';
  await waitForPort(port);
  return {
    version,
    child,
    async stop() {
      await stopChild(child);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A pre-encoded MQTT 3.1.1 CONNECT: clean session, keepalive 0, user name and password. */
export function connectPacket(clientId, username, password) {
  return mqttPacket.generate({
    cmd: 'connect',
    protocolId: 'MQTT',
    protocolVersion: 4,
    clean: true,
    clientId,
    keepalive: 0,
    username,
    password: Buffer.from(password),
  });
}

/** Calls per command name so far, from the Redis server's `INFO commandstats`. */
export async function redisCommands(redis) {
  const text = await redis.info('commandstats');
  const counts = {};
  for (const line of text.split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) counts[match[1]] = Number(match[2]);
  }
  return counts;
}

/**
 * Commands between two snapshots, minus the INFO calls of the benchmark itself. SET is counted apart: the
 * only SETs keygate issues outside a CONNECT are its change feed's heartbeat canaries (about 4 a second
 * whatever the traffic, src/store/change-feed.ts), reported as `heartbeat`, not as commands of the run.
 */
export function commandsBetween(before, after) {
  const diff = {};
  let total = 0;
  let heartbeat = 0;
  for (const [name, calls] of Object.entries(after)) {
    if (name === 'info') continue;
    const delta = calls - (before[name] ?? 0);
    if (delta <= 0) continue;
    if (name === 'set') {
      heartbeat = delta;
      continue;
    }
    diff[name] = delta;
    total += delta;
  }
  return { total, byCommand: diff, heartbeat };
}
