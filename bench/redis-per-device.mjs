// Benchmark: the Redis commands of one device's life — CONNECT, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT — with
// KEYGATE_PERSISTENCE=redis (the default; several instances share sessions and messages through Redis).
// keygate's own commands and those of the Aedes persistence and mqemitter-redis, counted with
// `INFO commandstats` over BENCH_DEVICES (200) device lives after one unreported pass of the same lives
// (the keys' first verification and the devices' first reads). A count, not a time: one run is enough.
// Run: node bench/redis-per-device.mjs [--json]. KEYGATE_MAIN=<path> runs another build of the broker (bench/lib.mjs keygateMain).
import bcrypt from 'bcryptjs';
import { Redis } from 'ioredis';
import { freeLoopbackPort, startThrowawayRedis } from '../dist/demo/redis-server.js';
import {
  brokerNodeArgs,
  commandsBetween,
  connectWhenReady,
  keygateBenchEnv,
  keygateMain,
  redisCommands,
  startBroker,
  stopChild,
} from './lib.mjs';

const DEVICES = Number(process.env.BENCH_DEVICES ?? 200);
const PREFIX = 'kgbench:';
const SECRET = 'redis-per-device-secret';

async function main() {
  const json = process.argv.includes('--json');
  const redisServer = await startThrowawayRedis();
  const redis = new Redis(redisServer.url);
  let broker;
  try {
    await redis.hset(`${PREFIX}key:k-all`, { secret: bcrypt.hashSync(SECRET, 4) });
    for (let i = 0; i < DEVICES; i++) await redis.hset(`${PREFIX}device:d-${i}`, { name: `d-${i}` });
    const port = await freeLoopbackPort();
    broker = await startBroker([...brokerNodeArgs('BENCH_NODE_ARGS'), keygateMain()], {
      ...keygateBenchEnv(redisServer.url, PREFIX),
      KEYGATE_PERSISTENCE: 'redis',
      MQTT_HOST: '127.0.0.1',
      MQTT_PORT: String(port),
      HTTP_PORT: String(await freeLoopbackPort()),
    });
    const life = async (i) => {
      const client = await connectWhenReady(
        port,
        { clientId: `d-${i}`, username: 'k-all', password: SECRET },
        50,
      );
      await client.subscribeAsync(`losant/d-${i}/command`);
      await client.unsubscribeAsync(`losant/d-${i}/command`);
      await client.endAsync();
    };
    const settle = () => new Promise((resolve) => setTimeout(resolve, 500));
    for (let i = 0; i < DEVICES; i++) await life(i);
    await settle();
    const before = await redisCommands(redis);
    for (let i = 0; i < DEVICES; i++) await life(i);
    await settle();
    const counted = commandsBetween(before, await redisCommands(redis));
    const perDevice = Object.fromEntries(
      Object.entries(counted.byCommand).map(([name, calls]) => [name, calls / DEVICES]),
    );
    const total = counted.total / DEVICES;
    // SETs are keygate's heartbeat canaries (time-based, not per device): reported apart.
    const report = {
      devices: DEVICES,
      persistence: 'redis',
      perDevice,
      total,
      heartbeatSets: counted.heartbeat,
    };
    if (json) {
      console.log(JSON.stringify(report));
      return;
    }
    console.log(
      `Redis commands per device life (CONNECT, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT; KEYGATE_PERSISTENCE=redis; ${DEVICES} devices, after a first pass):\n`,
    );
    console.log('| command | per device life |\n|---|---|');
    for (const [name, n] of Object.entries(perDevice).sort(([a], [b]) => a.localeCompare(b))) {
      console.log(`| ${name} | ${n.toFixed(2)} |`);
    }
    console.log(`| **total** | **${total.toFixed(2)}** |`);
    console.log(`\n(and ${counted.heartbeat} heartbeat-canary SETs meanwhile: time-based, not per device)`);
  } finally {
    await stopChild(broker);
    redis.disconnect();
    await redisServer.stop();
  }
}

await main();
