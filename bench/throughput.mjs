// Benchmark: QoS 0 publish throughput through keygate vs bare aedes measured in the same run (issue 7,
// targets 1 and 2). Both brokers run in their own processes; the clients are raw TCP sockets that send
// pre-encoded packets (mqtt-packet's `generate`), so the client side is not the bottleneck.
// keygate: 10,000 registered devices, keys restricted to 1,000 of them by device IDs and a tag, one
// subscriber on `losant/+/state` (every delivery is scope-checked) and BENCH_PUBLISHERS publishers, each
// on its own `losant/<id>/state`. Runs alternate bare, keygate, bare, keygate, ... BENCH_RUNS times each;
// medians and the ratio keygate/bare are reported. Around every keygate run the benchmark reads Redis
// `INFO commandstats` and reports the commands per SUBSCRIBE and per publish (+ its delivery).
// The ratio keygate/bare is the median of the rounds' paired ratios: in each round bare and keygate run
// back to back, in alternating order (bench/lib.mjs medianPairedRatio); the ratio of medians is kept too.
// When Debian's mosquitto is installed it runs too, as the native reference (bench/lib.mjs startMosquitto:
// password file, ACL: a client writes under losant/<its client ID>/, reads losant/#), interleaved with
// the others; keygate is also reported against it. Not installed (or BENCH_MOSQUITTO=off): "skipped".
// Profiling: BENCH_NODE_ARGS (keygate) and BENCH_BARE_NODE_ARGS (bare aedes) are put before the script.
// Run: npm run bench:throughput. Sizes: BENCH_DEVICES (10000), BENCH_MESSAGES (200000 per run),
// BENCH_PUBLISHERS (10), BENCH_RUNS (7), BENCH_PAYLOAD (64 bytes). --json prints one JSON object, --save
// also writes docs/bench-results/throughput.json (for bench/chart.mjs).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import bcrypt from 'bcryptjs';
import { Redis } from 'ioredis';
import mqttPacket from 'mqtt-packet';
import { freeLoopbackPort, startThrowawayRedis } from '../dist/demo/redis-server.js';
import {
  connectPacket,
  median,
  medianPairedRatio,
  saveResults,
  startMosquitto,
  waitForPort,
} from './lib.mjs';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 10_000);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200_000);
const PUBLISHERS = Number(process.env.BENCH_PUBLISHERS ?? 10);
const RUNS = Number(process.env.BENCH_RUNS ?? 7);
const PAYLOAD = Number(process.env.BENCH_PAYLOAD ?? 64);
const SECRET = 'bench-secret';
const PREFIX = 'keygate:';
const json = process.argv.includes('--json');
const { generate } = mqttPacket;
const PINGREQ = generate({ cmd: 'pingreq' });

/** Fixed-width IDs, so that every PUBLISH the subscriber receives has the same size. */
const deviceId = (i) => `dev-${String(i).padStart(6, '0')}`;

/**
 * The scope of every key: half by device ID (the first devices with i % 10 == 1), half by the tag
 * `batch=0` (i % 20 == 0): 500 + 500 = 1,000 devices out of 10,000, disjoint.
 */
function scopeOf(devices) {
  const byTag = [];
  for (let i = 0; i < devices; i += 20) byTag.push(i);
  const byId = [];
  for (let i = 1; i < devices && byId.length < byTag.length; i += 10) byId.push(i);
  return { byId, byTag, restrictions: [...byId.map(deviceId), 'batch=0'].join(',') };
}

/** Node options put before a broker's script (profiling), e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
const nodeArgs = (name) => (process.env[name] ?? '').split(' ').filter(Boolean);

async function startBroker(args, env) {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  await waitForPort(Number(env.MQTT_PORT));
  return child;
}

async function stopBroker(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

/** Reads exactly `n` bytes the socket has not handed out yet (before any 'data' consumer is attached). */
function readBytes(socket, n) {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < n) return;
      socket.off('data', onData);
      socket.off('error', reject);
      socket.off('close', onClose);
      if (buffered.length > n) socket.unshift(buffered.subarray(n));
      resolve(buffered.subarray(0, n));
    };
    const onClose = () => reject(new Error('connection closed'));
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', onClose);
  });
}

/** A raw MQTT 3.1.1 connection: CONNECT sent, CONNACK 0 received (retried while keygate answers 3). */
async function rawConnect(port, clientId, username) {
  const packet = connectPacket(clientId, username, SECRET);
  for (let attempt = 0; ; attempt++) {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.pause();
    await once(socket, 'connect');
    socket.write(packet);
    socket.resume();
    const connack = await readBytes(socket, 4);
    socket.pause();
    if (connack[0] === 0x20 && connack[3] === 0) return socket;
    socket.destroy();
    if (connack[3] !== 3 || attempt > 50) throw new Error(`CONNACK ${connack[3]} for ${clientId}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function redisCommands(redis) {
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
function commandsBetween(before, after) {
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

async function oneRun(variant, port, scope, redis) {
  const sub = { id: deviceId(scope.byTag[0]), key: `key-${scope.byTag[0]}` };
  const pubs = [];
  for (let i = 0; pubs.length < PUBLISHERS; i++) {
    const list = i % 2 === 0 ? scope.byId : scope.byTag;
    const n = list[1 + Math.floor(i / 2)];
    if (n === undefined) throw new Error('not enough devices in scope for BENCH_PUBLISHERS');
    pubs.push(n);
  }
  const subscriber = await rawConnect(port, sub.id, sub.key);
  const publishers = await Promise.all(pubs.map((n) => rawConnect(port, deviceId(n), `key-${n}`)));

  const before = redis ? await redisCommands(redis) : undefined;
  subscriber.write(
    generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'losant/+/state', qos: 0 }] }),
  );
  subscriber.resume();
  const suback = await readBytes(subscriber, 5);
  if (suback[0] !== 0x90 || suback[4] !== 0) throw new Error(`SUBACK ${suback.toString('hex')}`);
  const afterSubscribe = redis ? await redisCommands(redis) : undefined;

  const payload = Buffer.alloc(PAYLOAD, 0x61);
  const perPublisher = Math.ceil(MESSAGES / PUBLISHERS);
  const total = perPublisher * PUBLISHERS;
  const packetSize = generate({
    cmd: 'publish',
    topic: `losant/${deviceId(pubs[0])}/state`,
    payload,
    qos: 0,
    retain: false,
    dup: false,
  }).length;
  const expectedBytes = total * packetSize;
  let received = 0;
  let lastAt = 0;
  let acceptedAll = false;
  const done = new Promise((resolve) => {
    const timer = setTimeout(resolve, 60_000 + total / 10);
    // A broker that drops messages (none should) ends the run after 5 s without a delivery.
    const idle = setInterval(() => {
      if (acceptedAll && performance.now() - lastAt > 5000) finish();
    }, 500);
    const finish = () => {
      clearTimeout(timer);
      clearInterval(idle);
      resolve();
    };
    subscriber.on('data', (chunk) => {
      received += chunk.length;
      lastAt = performance.now();
      if (received >= expectedBytes) finish();
    });
  });
  subscriber.resume();

  const CHUNK = 500;
  const start = performance.now();
  const sent = publishers.map(async (socket, p) => {
    const one = generate({
      cmd: 'publish',
      topic: `losant/${deviceId(pubs[p])}/state`,
      payload,
      qos: 0,
      retain: false,
      dup: false,
    });
    const block = Buffer.concat(Array.from({ length: CHUNK }, () => one));
    for (let left = perPublisher; left > 0; left -= CHUNK) {
      const data = left >= CHUNK ? block : block.subarray(0, left * one.length);
      if (!socket.write(data)) await once(socket, 'drain');
    }
    // The broker handles one client's packets in order: its PINGRESP means every PUBLISH before the
    // PINGREQ has been read, authorized and handed on (kernel buffers do not count as accepted).
    socket.write(PINGREQ);
    socket.resume();
    const pingresp = await readBytes(socket, 2);
    if (pingresp[0] !== 0xd0) throw new Error(`expected PINGRESP, got ${pingresp.toString('hex')}`);
    return performance.now();
  });
  const acceptedAt = Math.max(...(await Promise.all(sent)));
  acceptedAll = true;
  lastAt = Math.max(lastAt, acceptedAt);
  await done;
  const afterPublish = redis ? await redisCommands(redis) : undefined;
  for (const socket of [subscriber, ...publishers]) socket.destroy();

  const delivered = Math.floor(received / packetSize);
  const result = {
    variant,
    messages: total,
    delivered,
    acceptedPerSec: total / ((acceptedAt - start) / 1000),
    deliveredPerSec: delivered / ((lastAt - start) / 1000),
  };
  if (redis) {
    result.redisPerSubscribe = commandsBetween(before, afterSubscribe);
    result.redisDuringPublish = commandsBetween(afterSubscribe, afterPublish);
  }
  return result;
}

async function main() {
  const redisServer = await startThrowawayRedis();
  const redis = new Redis(redisServer.url);
  const scope = scopeOf(DEVICES);
  const hash = bcrypt.hashSync(SECRET, 4);
  let pipeline = redis.pipeline();
  for (let i = 0; i < DEVICES; i++) {
    pipeline.hset(`${PREFIX}device:${deviceId(i)}`, { tags: `group=${i % 10},batch=${i % 20}` });
    if (pipeline.length >= 1000) {
      await pipeline.exec();
      pipeline = redis.pipeline();
    }
  }
  for (const i of [...scope.byId, ...scope.byTag]) {
    pipeline.hset(`${PREFIX}key:key-${i}`, { secret: hash, restrictions: scope.restrictions });
  }
  await pipeline.exec();

  const barePort = await freeLoopbackPort();
  const bare = await startBroker([...nodeArgs('BENCH_BARE_NODE_ARGS'), 'bench/bare-aedes.mjs'], {
    MQTT_PORT: String(barePort),
    MQTT_HOST: '127.0.0.1',
  });
  const keygatePort = await freeLoopbackPort();
  const keygate = await startBroker([...nodeArgs('BENCH_NODE_ARGS'), 'dist/server/main.js'], {
    REDIS_URL: redisServer.url,
    MQTT_PORT: String(keygatePort),
    MQTT_HOST: '127.0.0.1',
    HTTP_PORT: '0',
    KEYGATE_PREFIX: PREFIX,
    KEYGATE_PERSISTENCE: 'memory',
    KEYGATE_NOTIFICATIONS: 'on',
    KEYGATE_REVALIDATE_MS: '3600000',
  });
  const mosquittoPort = await freeLoopbackPort();
  const inScope = [...scope.byId, ...scope.byTag];
  const mosquitto = await startMosquitto(
    mosquittoPort,
    inScope.map((i) => [`key-${i}`, SECRET]),
    ['pattern write losant/%c/#', 'pattern read losant/#'],
  );
  const runs = [];
  const progress = (r) => {
    if (!json) process.stderr.write(`${r.variant} ${Math.round(r.deliveredPerSec)} delivered msg/s\n`);
    return r;
  };
  try {
    // One warm-up run each (JIT), not reported.
    await oneRun('bare', barePort, scope);
    await oneRun('keygate', keygatePort, scope);
    if (mosquitto) await oneRun('mosquitto', mosquittoPort, scope);
    for (let r = 0; r < RUNS; r++) {
      // bare and keygate back to back, in alternating order (their paired ratio is the target's).
      const bareRun = () => oneRun('bare', barePort, scope);
      const keygateRun = () => oneRun('keygate', keygatePort, scope, redis);
      for (const run of r % 2 === 0 ? [bareRun, keygateRun] : [keygateRun, bareRun]) {
        runs.push(progress({ round: r, ...(await run()) }));
      }
      if (mosquitto) runs.push(progress({ round: r, ...(await oneRun('mosquitto', mosquittoPort, scope)) }));
    }
  } finally {
    await mosquitto?.stop();
    await stopBroker(bare);
    await stopBroker(keygate);
    redis.disconnect();
    await redisServer.stop();
  }

  const summary = (variant) => {
    const mine = runs.filter((r) => r.variant === variant);
    return {
      acceptedPerSec: median(mine.map((r) => r.acceptedPerSec)),
      deliveredPerSec: median(mine.map((r) => r.deliveredPerSec)),
      lost: mine.reduce((sum, r) => sum + (r.messages - r.delivered), 0),
    };
  };
  const bareSummary = summary('bare');
  const keygateSummary = summary('keygate');
  const mosquittoSummary = mosquitto ? summary('mosquitto') : undefined;
  const keygateRuns = runs.filter((r) => r.variant === 'keygate');
  const bareRuns = runs.filter((r) => r.variant === 'bare');
  const paired = (field) =>
    medianPairedRatio(
      keygateRuns.map((r) => r[field]),
      bareRuns.map((r) => r[field]),
    );
  const publishCommands = keygateRuns.reduce((sum, r) => sum + r.redisDuringPublish.total, 0);
  const subscribeCommands = keygateRuns.reduce((sum, r) => sum + r.redisPerSubscribe.total, 0);
  const published = keygateRuns.reduce((sum, r) => sum + r.messages, 0);
  const report = {
    devices: DEVICES,
    scopeSize: scope.byId.length + scope.byTag.length,
    publishers: PUBLISHERS,
    messagesPerRun: keygateRuns[0]?.messages ?? 0,
    payloadBytes: PAYLOAD,
    runsPerVariant: RUNS,
    bare: bareSummary,
    keygate: keygateSummary,
    mosquitto: mosquittoSummary
      ? { version: mosquitto.version, ...mosquittoSummary }
      : 'skipped (not installed)',
    // The target's ratio: the median of the rounds' keygate/bare ratios (runs back to back).
    ratio: { accepted: paired('acceptedPerSec'), delivered: paired('deliveredPerSec') },
    // The ratio of the medians, for comparison with earlier reports (more exposed to drift).
    ratioOfMedians: {
      accepted: keygateSummary.acceptedPerSec / bareSummary.acceptedPerSec,
      delivered: keygateSummary.deliveredPerSec / bareSummary.deliveredPerSec,
    },
    ratioToMosquitto: mosquittoSummary
      ? {
          keygateAccepted: keygateSummary.acceptedPerSec / mosquittoSummary.acceptedPerSec,
          keygateDelivered: keygateSummary.deliveredPerSec / mosquittoSummary.deliveredPerSec,
          bareDelivered: bareSummary.deliveredPerSec / mosquittoSummary.deliveredPerSec,
        }
      : undefined,
    redis: {
      commandsPerPublish: publishCommands / published,
      commandsDuringPublish: publishCommands,
      commandsPerSubscribe: subscribeCommands / keygateRuns.length,
      heartbeatSetsDuringPublish: keygateRuns.reduce((sum, r) => sum + r.redisDuringPublish.heartbeat, 0),
      byCommand: keygateRuns.map((r) => ({
        subscribe: r.redisPerSubscribe.byCommand,
        publish: r.redisDuringPublish.byCommand,
      })),
    },
    runs: runs.map(({ redisPerSubscribe, redisDuringPublish, ...r }) => r),
  };
  await saveResults('throughput', report);
  if (json) {
    console.log(JSON.stringify(report));
    return;
  }
  console.log(
    `publish throughput: ${DEVICES} devices, keys scoped to ${report.scopeSize}, ${PUBLISHERS} publishers, 1 subscriber on losant/+/state, ${report.messagesPerRun} QoS 0 messages of ${PAYLOAD} B per run, ${RUNS} runs each (interleaved)\n`,
  );
  console.log('| run | broker | accepted msg/s | delivered msg/s | delivered/sent |');
  console.log('|---|---|---|---|---|');
  runs.forEach((r) => {
    console.log(
      `| ${r.round + 1} | ${r.variant} | ${Math.round(r.acceptedPerSec)} | ${Math.round(r.deliveredPerSec)} | ${r.delivered}/${r.messages} |`,
    );
  });
  console.log('\n| broker | median accepted msg/s | median delivered msg/s |');
  console.log('|---|---|---|');
  console.log(
    `| bare aedes | ${Math.round(bareSummary.acceptedPerSec)} | ${Math.round(bareSummary.deliveredPerSec)} |`,
  );
  console.log(
    `| keygate | ${Math.round(keygateSummary.acceptedPerSec)} | ${Math.round(keygateSummary.deliveredPerSec)} |`,
  );
  if (mosquittoSummary) {
    console.log(
      `| mosquitto ${mosquitto.version} | ${Math.round(mosquittoSummary.acceptedPerSec)} | ${Math.round(mosquittoSummary.deliveredPerSec)} |`,
    );
  }
  console.log(
    `| keygate / bare (ratio of medians) | ${report.ratioOfMedians.accepted.toFixed(3)} | ${report.ratioOfMedians.delivered.toFixed(3)} |`,
  );
  console.log(
    `| keygate / bare (median of the ${RUNS} paired rounds: the target's, >= 0.95) | ${report.ratio.accepted.toFixed(3)} | ${report.ratio.delivered.toFixed(3)} |`,
  );
  if (mosquittoSummary) {
    console.log(
      `| keygate / mosquitto | ${report.ratioToMosquitto.keygateAccepted.toFixed(3)} | ${report.ratioToMosquitto.keygateDelivered.toFixed(3)} |`,
    );
  } else {
    console.log('\nmosquitto: skipped (not installed)');
  }
  console.log(
    `\nRedis commands (keygate runs, INFO excluded): ${report.redis.commandsPerSubscribe} per SUBSCRIBE; ${publishCommands} during ${published} publishes + deliveries (${report.redis.commandsPerPublish} per publish); heartbeat canary SETs meanwhile (time-based, not per message): ${report.redis.heartbeatSetsDuringPublish}`,
  );
  if (publishCommands > 0) console.log(JSON.stringify(report.redis.byCommand));
}

await main();
