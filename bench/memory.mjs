// Benchmark: heap per connection, keygate vs bare aedes (issue 7, target 6: at most 1 KB per connection
// beyond aedes). Each broker runs in its own process with bench/heap-probe.mjs preloaded; the heap in use
// (after forced GC) is read with no client, then with BENCH_CONNECTIONS raw MQTT connections open.
// keygate: BENCH_DEVICES registered devices, one key per connected device, scoped by ID and tag.
// Run: npm run bench:memory. Sizes: BENCH_CONNECTIONS (10000), BENCH_DEVICES (max(10000, connections)).
// --json prints one JSON object, --save also writes docs/bench-results/memory.json.
import { once } from 'node:events';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import bcrypt from 'bcryptjs';
import { Redis } from 'ioredis';
import { freeLoopbackPort, startThrowawayRedis } from '../dist/demo/redis-server.js';
import {
  BROKER_NODE_OPTIONS,
  connectPacket,
  keygateBenchEnv,
  saveResults,
  startBroker,
  stopLiveChild,
} from './lib.mjs';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 10_000);
const DEVICES = Math.max(Number(process.env.BENCH_DEVICES ?? 10_000), CONNECTIONS + 1);
const SECRET = 'bench-secret';
const PREFIX = 'keygate:';
const json = process.argv.includes('--json');
const deviceId = (i) => `dev-${String(i).padStart(6, '0')}`;

async function startHeapProbed(script, env) {
  const child = await startBroker(
    [...BROKER_NODE_OPTIONS, '--expose-gc', '--import', './bench/heap-probe.mjs', script],
    env,
    { stdout: 'pipe' },
  );
  child.lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return child;
}

async function heapOf(child) {
  await new Promise((r) => setTimeout(r, 500));
  child.kill('SIGUSR2');
  for (;;) {
    const { value, done } = await child.lines.next();
    if (done) throw new Error('broker exited');
    if (value.startsWith('{"heapUsed"')) return JSON.parse(value);
  }
}

async function rawConnect(port, i) {
  const packet = connectPacket(deviceId(i), `key-${i}`, SECRET);
  for (let attempt = 0; ; attempt++) {
    const socket = connect(port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(packet);
    const [connack] = await once(socket, 'data');
    if (connack[0] === 0x20 && connack[3] === 0) return socket;
    socket.destroy();
    if (attempt > 50) throw new Error(`CONNACK ${connack[3]} for ${deviceId(i)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function measure(name, script, env) {
  const port = await freeLoopbackPort();
  const child = await startHeapProbed(script, { ...env, MQTT_PORT: String(port), MQTT_HOST: '127.0.0.1' });
  // One connection first, so that lazily built state (worker threads, caches) is not counted per client.
  const first = await rawConnect(port, 0);
  const before = await heapOf(child);
  const sockets = [];
  for (let i = 1; i <= CONNECTIONS; i += 100) {
    const batch = [];
    for (let j = i; j < Math.min(i + 100, CONNECTIONS + 1); j++) batch.push(rawConnect(port, j));
    sockets.push(...(await Promise.all(batch)));
  }
  const after = await heapOf(child);
  for (const socket of [first, ...sockets]) socket.destroy();
  await stopLiveChild(child, 'the broker');
  return {
    broker: name,
    connections: sockets.length,
    heapBefore: before.heapUsed,
    heapAfter: after.heapUsed,
    bytesPerConnection: (after.heapUsed - before.heapUsed) / sockets.length,
  };
}

const redisServer = await startThrowawayRedis();
const redis = new Redis(redisServer.url);
const hash = bcrypt.hashSync(SECRET, 4);
let pipeline = redis.pipeline();
for (let i = 0; i < DEVICES; i++) {
  pipeline.hset(`${PREFIX}device:${deviceId(i)}`, { tags: `group=${i % 10}` });
  if (i <= CONNECTIONS) {
    pipeline.hset(`${PREFIX}key:key-${i}`, { secret: hash, restrictions: `${deviceId(i)},group=${i % 10}` });
  }
  if (pipeline.length >= 1000) {
    await pipeline.exec();
    pipeline = redis.pipeline();
  }
}
await pipeline.exec();
let results;
try {
  results = [
    await measure('bare', 'bench/bare-aedes.mjs', {}),
    await measure('keygate', 'dist/server/main.js', {
      ...keygateBenchEnv(redisServer.url, PREFIX),
      HTTP_PORT: '0',
    }),
  ];
} finally {
  redis.disconnect();
  await redisServer.stop();
}
const [bare, keygate] = results;
const report = {
  devices: DEVICES,
  bare,
  keygate,
  extraBytesPerConnection: keygate.bytesPerConnection - bare.bytesPerConnection,
};
await saveResults('memory', report);
if (json) {
  console.log(JSON.stringify(report));
} else {
  console.log(`heap per connection: ${CONNECTIONS} raw MQTT connections, ${DEVICES} registered devices\n`);
  console.log('| broker | connections | heap before MB | heap after MB | bytes per connection |');
  console.log('|---|---|---|---|---|');
  for (const r of results) {
    console.log(
      `| ${r.broker} | ${r.connections} | ${(r.heapBefore / 1e6).toFixed(1)} | ${(r.heapAfter / 1e6).toFixed(1)} | ${Math.round(r.bytesPerConnection)} |`,
    );
  }
  console.log(
    `\nkeygate beyond bare aedes: ${Math.round(report.extraBytesPerConnection)} bytes per connection`,
  );
}
