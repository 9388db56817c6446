// Benchmark: time from a change in Redis (the HSET a `redis-cli` would send) to the disconnect of the
// session it revokes, with many connected clients — for both change paths: keyspace notifications on,
// and off (the periodic re-validation as the backstop). Run: npm run bench:revocation
// Sizes: BENCH_CLIENTS (default 1000), BENCH_CHANGES (default 200), BENCH_REVALIDATE_MS (default 1000).
// Prints a Markdown table and, with --json, one JSON object per path; --save also writes
// docs/bench-results/revocation.json.
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import bcrypt from 'bcryptjs';
import { Redis } from 'ioredis';
import { freeLoopbackPort, startThrowawayRedis } from '../dist/demo/redis-server.js';
import { BROKER_NODE_OPTIONS, connectWhenReady, saveResults, startBroker, stopLiveChild } from './lib.mjs';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 1000);
const CHANGES = Math.min(Number(process.env.BENCH_CHANGES ?? 200), CLIENTS);
const REVALIDATE_MS = Number(process.env.BENCH_REVALIDATE_MS ?? 1000);
const SECRET = 'bench-secret';
const json = process.argv.includes('--json');

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

const startKeygate = (env) => startBroker([...BROKER_NODE_OPTIONS, 'dist/server/main.js'], env);

/** Connects dev-i, retrying while the broker answers 3 (its Redis connection is still coming up). */
function connectOne(port, i) {
  return connectWhenReady(
    port,
    { clientId: `dev-${i}`, username: `key-${i}`, password: SECRET, keepalive: 0 },
    50,
  );
}

async function connectAll(port) {
  const clients = [];
  for (let i = 0; i < CLIENTS; i += 50) {
    const batch = [];
    for (let j = i; j < Math.min(i + 50, CLIENTS); j++) {
      batch.push(connectOne(port, j));
    }
    clients.push(...(await Promise.all(batch)));
  }
  return clients;
}

async function run(path) {
  const redisServer = await startThrowawayRedis();
  const redis = new Redis(redisServer.url);
  const prefix = 'keygate:';
  const hash = bcrypt.hashSync(SECRET, 4);
  const pipeline = redis.pipeline();
  for (let i = 0; i < CLIENTS; i++) {
    pipeline.hset(`${prefix}device:dev-${i}`, { tags: `n=${i}` });
    pipeline.hset(`${prefix}key:key-${i}`, { secret: hash, restrictions: `dev-${i}` });
  }
  await pipeline.exec();
  const port = await freeLoopbackPort();
  const broker = await startKeygate({
    REDIS_URL: redisServer.url,
    MQTT_PORT: String(port),
    MQTT_HOST: '127.0.0.1',
    KEYGATE_NOTIFICATIONS: path === 'notifications' ? 'on' : 'off',
    KEYGATE_REVALIDATE_MS: String(REVALIDATE_MS),
  });
  const clients = await connectAll(port);
  await new Promise((r) => setTimeout(r, 500));

  const latencies = [];
  // Notifications: one change at a time. Backstop: ten at a time (each waits up to one interval).
  const batchSize = path === 'notifications' ? 1 : 10;
  for (let i = 0; i < CHANGES; i += batchSize) {
    const batch = [];
    for (let j = i; j < Math.min(i + batchSize, CHANGES); j++) {
      const client = clients[j];
      const closedAt = once(client, 'close').then(() => performance.now());
      const start = performance.now();
      batch.push(
        redis
          .hset(`${prefix}key:key-${j}`, 'status', 'inactive')
          .then(() => closedAt)
          .then((end) => latencies.push(end - start)),
      );
    }
    await Promise.all(batch);
  }
  for (const client of clients) client.end(true);
  await stopLiveChild(broker, 'keygate');
  redis.disconnect();
  await redisServer.stop();

  latencies.sort((x, y) => x - y);
  return {
    path,
    clients: CLIENTS,
    changes: latencies.length,
    revalidateMs: path === 'notifications' ? null : REVALIDATE_MS,
    p50: percentile(latencies, 50),
    p90: percentile(latencies, 90),
    p99: percentile(latencies, 99),
    max: latencies[latencies.length - 1],
  };
}

const results = [await run('notifications'), await run('backstop')];
await saveResults('revocation', { paths: results });
if (json) {
  for (const result of results) console.log(JSON.stringify(result));
} else {
  console.log(
    `revocation latency: ${CLIENTS} connected clients, ${CHANGES} changes per path (HSET status inactive -> client sees the disconnect)\n`,
  );
  console.log('| path | changes | p50 ms | p90 ms | p99 ms | max ms |');
  console.log('|---|---|---|---|---|---|');
  for (const r of results) {
    const name =
      r.path === 'notifications'
        ? 'keyspace notifications'
        : `notifications off, re-validation every ${r.revalidateMs} ms`;
    console.log(
      `| ${name} | ${r.changes} | ${r.p50.toFixed(1)} | ${r.p90.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.max.toFixed(1)} |`,
    );
  }
}
