// Benchmark: a legitimate device's round trip while one address floods keygate with failed CONNECTs
// (issue 6, "load held": p99 under 100 ms at 10 messages per second). keygate runs in its own process with
// default settings (Redis persistence, brute-force bans on) against a throwaway redis-server; its keys are
// real bcrypt cost-10 hashes. The legitimate client (mqtt.js, in this process) connects first, subscribes
// to its own topic and publishes BENCH_RATE QoS 0 messages per second, timing each one back. The flooder
// is another process (this file with --flooder): BENCH_FLOOD_CONNECTIONS raw sockets from 127.0.0.1, each
// sending a pre-encoded CONNECT (mqtt-packet) with a wrong secret for an existing key, reading the CONNACK,
// closing and starting over, for the whole measurement.
// Variants (each a fresh keygate process): no flood (baseline); flood with the default bans; flood with
// bans off (KEYGATE_BAN_THRESHOLD=0: every attempt costs a bcrypt verification in the worker pool).
// Run: npm run bench:flood. Sizes: BENCH_SECONDS (20 per variant), BENCH_RATE (10 msg/s),
// BENCH_FLOOD_CONNECTIONS (200 concurrent). --json prints one JSON object.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { BROKER_NODE_OPTIONS, connectPacket, connectWhenReady, startBroker, stopLiveChild } from './lib.mjs';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const RATE = Number(process.env.BENCH_RATE ?? 10);
const FLOOD_CONNECTIONS = Number(process.env.BENCH_FLOOD_CONNECTIONS ?? 200);
const SECRET = 'legit-secret';
const PREFIX = 'keygate:';
const json = process.argv.includes('--json');

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

/**
 * The flooder process: CONNECTs with wrong secrets (a new guess each time) on `connections` sockets at once, each one after the
 * other as fast as the broker answers, for `ms`; prints its counts as one JSON line.
 */
async function flood(port, ms, connections) {
  // Every attempt a different guess, as a brute-forcer would send (identical concurrent guesses would share
  // one verification in keygate).
  let guesses = 0;
  const packetFor = (i) => connectPacket(`flood-${i}`, 'k-flood', `guess-${guesses++}`);
  const packets = Array.from({ length: connections }, (_, i) => i);
  const outcomes = {};
  let attempts = 0;
  let stopping = false;
  const open = new Set();
  const attempt = (packet) =>
    new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1');
      open.add(socket);
      let received = Buffer.alloc(0);
      let settled = false;
      const settle = (outcome) => {
        if (settled) return;
        settled = true;
        open.delete(socket);
        socket.destroy();
        resolve(outcome);
      };
      socket.on('connect', () => socket.write(packet));
      socket.on('data', (chunk) => {
        received = Buffer.concat([received, chunk]);
        // CONNACK: 0x20 0x02 <session present> <return code>
        if (received.length >= 4) settle(received[0] === 0x20 ? `connack ${received[3]}` : 'other');
      });
      socket.on('error', () => settle('error'));
      socket.on('close', () => settle('closed without CONNACK'));
    });
  const started = performance.now();
  const slot = async (i) => {
    while (!stopping) {
      const outcome = await attempt(packetFor(i));
      if (stopping) return;
      attempts++;
      outcomes[outcome] = (outcomes[outcome] ?? 0) + 1;
    }
  };
  const slots = packets.map((_, i) => slot(i));
  await new Promise((r) => setTimeout(r, ms));
  stopping = true;
  const elapsed = (performance.now() - started) / 1000;
  for (const socket of open) socket.destroy();
  await Promise.all(slots);
  console.log(JSON.stringify({ attempts, perSec: attempts / elapsed, outcomes }));
}

async function startKeygate(redisUrl, port, env) {
  // Default settings, except the ports (any free one) and what the variant changes.
  return startBroker(
    [...BROKER_NODE_OPTIONS, 'dist/server/main.js'],
    { REDIS_URL: redisUrl, MQTT_PORT: String(port), MQTT_HOST: '127.0.0.1', HTTP_PORT: '0', ...env },
    { ownEnv: true },
  );
}

async function runVariant(variant, redisUrl) {
  const { freeLoopbackPort } = await import('../dist/demo/redis-server.js');
  const port = await freeLoopbackPort();
  const keygate = await startKeygate(redisUrl, port, variant.env);
  const client = await connectWhenReady(
    port,
    { clientId: 'legit', username: 'k-legit', password: SECRET },
    100,
  );
  let disconnects = 0;
  client.on('close', () => disconnects++);
  await client.subscribeAsync('losant/legit/state', { qos: 0 });

  const sentAt = new Map();
  const latencies = [];
  let recording = false;
  client.on('message', (_topic, payload) => {
    const seq = Number(payload.toString());
    const at = sentAt.get(seq);
    if (at === undefined) return;
    sentAt.delete(seq);
    if (recording) latencies.push(performance.now() - at);
  });
  let seq = 0;
  const publisher = setInterval(() => {
    sentAt.set(seq, performance.now());
    client.publish('losant/legit/state', String(seq++), { qos: 0 });
  }, 1000 / RATE);

  // One second of warm-up, then the flood starts (if any), and half a second later the measurement.
  await new Promise((r) => setTimeout(r, 1000));
  let flooder;
  let floodReport;
  if (variant.flood) {
    flooder = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), '--flooder', String(port), String(SECONDS * 1000 + 1000)],
      {
        env: { ...process.env, BENCH_FLOOD_CONNECTIONS: String(FLOOD_CONNECTIONS) },
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    flooder.stdout.on('data', (chunk) => {
      out += chunk;
    });
    floodReport = once(flooder, 'exit').then(() => JSON.parse(out));
    await new Promise((r) => setTimeout(r, 500));
  }
  sentAt.clear();
  recording = true;
  await new Promise((r) => setTimeout(r, SECONDS * 1000));
  clearInterval(publisher);
  const sent = seq;
  // Messages still in flight get one more second, then count as lost.
  await new Promise((r) => setTimeout(r, 1000));
  recording = false;
  const lost = sentAt.size;
  const floodResult = floodReport ? await floodReport : undefined;
  const disconnected = disconnects;
  client.end(true);
  await stopLiveChild(keygate, 'keygate');

  latencies.sort((x, y) => x - y);
  return {
    variant: variant.name,
    samples: latencies.length,
    sentTotal: sent,
    lost,
    disconnects: disconnected,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1],
    flood: floodResult,
  };
}

async function main() {
  const { startThrowawayRedis } = await import('../dist/demo/redis-server.js');
  const { default: bcrypt } = await import('bcryptjs');
  const { Redis } = await import('ioredis');
  const redisServer = await startThrowawayRedis();
  const redis = new Redis(redisServer.url);
  await redis.hset(`${PREFIX}device:legit`, { name: 'legit' });
  await redis.hset(`${PREFIX}key:k-legit`, { secret: bcrypt.hashSync(SECRET, 10), restrictions: 'legit' });
  await redis.hset(`${PREFIX}key:k-flood`, { secret: bcrypt.hashSync('the-real-secret', 10) });
  const variants = [
    { name: 'no flood (baseline)', flood: false, env: {} },
    { name: 'flood, default bans', flood: true, env: {} },
    { name: 'flood, bans off', flood: true, env: { KEYGATE_BAN_THRESHOLD: '0' } },
  ];
  const results = [];
  try {
    for (const variant of variants) {
      const result = await runVariant(variant, redisServer.url);
      if (!json) process.stderr.write(`${result.variant}: p99 ${result.p99?.toFixed(1)} ms\n`);
      results.push(result);
    }
  } finally {
    redis.disconnect();
    await redisServer.stop();
  }
  const baseline = results[0].p99;
  for (const r of results) r.p99VsBaseline = r.p99 / baseline;
  const report = { seconds: SECONDS, rate: RATE, floodConnections: FLOOD_CONNECTIONS, results };
  if (json) {
    console.log(JSON.stringify(report));
    return;
  }
  console.log(
    `round trip of a device publishing ${RATE} msg/s to its own topic (QoS 0), ${SECONDS} s per variant; flooder: ${FLOOD_CONNECTIONS} concurrent raw CONNECTs with a wrong secret from 127.0.0.1\n`,
  );
  console.log(
    '| variant | samples | lost | p50 ms | p99 ms | max ms | p99 / baseline | flood attempts/s | flood outcomes |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const r of results) {
    const outcomes = r.flood
      ? Object.entries(r.flood.outcomes)
          .map(([k, v]) => `${k}: ${v}`)
          .join(', ')
      : '';
    console.log(
      `| ${r.variant} | ${r.samples} | ${r.lost} | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} | ${r.p99VsBaseline.toFixed(2)} | ${r.flood ? Math.round(r.flood.perSec) : ''} | ${outcomes} |`,
    );
  }
}

if (process.argv[2] === '--flooder') {
  await flood(Number(process.argv[3]), Number(process.argv[4]), FLOOD_CONNECTIONS);
} else {
  await main();
}
