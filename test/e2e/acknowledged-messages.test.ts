import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { type BrokerProcess, startBrokerProcess } from '../support/broker-process.js';
import {
  closed,
  collect,
  connect,
  connectDevice,
  resumeSession,
  Seeder,
  startTestBroker,
  subackCodes,
  uniquePrefix,
  waitFor,
} from '../support/harness.js';
import { freePort, type RedisServer, startRedisServer } from '../support/redis-server.js';

// SPEC 5 / issue 6 "no lost acknowledged messages": with the Redis persistence, a QoS 1 message keygate
// has PUBACKed reaches a persistent subscriber even when Redis stalls and the broker is killed right after
// the PUBACK. aedes on its own writes the PUBACK before storing (src/hooks/store-before-ack.ts): during a
// stall it would acknowledge messages that die with the broker. Each message carries a sequence number.
const SECRET = 'ack-secret';
const TOPIC = 'losant/pub-1/state';

let redis: RedisServer | undefined;
const brokers: BrokerProcess[] = [];
const clients: MqttClient[] = [];

afterEach(async () => {
  for (const client of clients.splice(0)) client.end(true);
  for (const broker of brokers.splice(0)) await broker.kill();
  await redis?.stop();
  redis = undefined;
});

async function startKeygate(url: string, prefix: string, port: number): Promise<BrokerProcess> {
  const broker = startBrokerProcess({
    REDIS_URL: url,
    KEYGATE_PREFIX: prefix,
    KEYGATE_PERSISTENCE: 'redis',
    MQTT_PORT: String(port),
    KEYGATE_STORE_TIMEOUT_MS: '1000',
    LOG_LEVEL: 'info',
  });
  brokers.push(broker);
  await broker.waitFor('broker ready');
  return broker;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

type Stall = (server: RedisServer, control: Seeder) => Promise<() => Promise<void>>;

const stalls: Record<string, Stall> = {
  // Redis accepts the commands into its query buffers but runs none: a killed broker's queued commands
  // are dropped with its connection.
  'CLIENT PAUSE': async (_server, control) => {
    await control.redis.call('CLIENT', 'PAUSE', '1500', 'ALL');
    return async () => sleep(1600);
  },
  // The process is frozen; commands wait in the kernel's socket buffers.
  SIGSTOP: async (server) => {
    process.kill(server.pid, 'SIGSTOP');
    return async () => {
      process.kill(server.pid, 'SIGCONT');
    };
  },
};

describe('no lost acknowledged QoS 1 messages (KEYGATE_PERSISTENCE=redis)', () => {
  it.each(Object.keys(stalls))(
    'every PUBACKed message reaches the persistent subscriber after a stall (%s) and a killed broker',
    async (stallName) => {
      redis = await startRedisServer();
      const prefix = uniquePrefix();
      const seed = new Seeder(prefix, redis.url);
      await seed.device('pub-1');
      await seed.device('sub-1');
      await seed.key('k-all', SECRET);
      const port = await freePort();
      const first = await startKeygate(redis.url, prefix, port);

      // The persistent subscriber subscribes at QoS 1, then goes offline: what it gets later must come from
      // what the broker stored in Redis.
      const credentials = { username: 'k-all', password: SECRET };
      const subscriber = await connect(port, { clientId: 'sub-1', clean: false, ...credentials });
      expect(subscriber.returnCode).toBe(0);
      expect(await subackCodes(subscriber.client, [TOPIC], 1)).toEqual([1]);
      subscriber.client.end();
      await closed(subscriber.client);

      const publisher = await connect(port, { clientId: 'pub-1', ...credentials });
      expect(publisher.returnCode).toBe(0);
      clients.push(publisher.client);
      const acked = new Set<number>();
      const sentDuringStall: number[] = [];
      let stalled = false;
      let seq = 0;
      const ticker = setInterval(() => {
        const n = ++seq;
        if (stalled) sentDuringStall.push(n);
        publisher.client.publish(TOPIC, String(n), { qos: 1 }, (err) => {
          if (!err) acked.add(n);
        });
      }, 10);

      await sleep(300);
      const resume = await stalls[stallName]?.(redis, seed);
      stalled = true;
      await sleep(400);
      // The broker dies while Redis is stalled, right after whatever PUBACKs it wrote.
      await first.kill();
      clearInterval(ticker);
      const ackedAtKill = new Set(acked);
      await resume?.();

      const second = await startKeygate(redis.url, prefix, port);
      const resumed = resumeSession(port, { clientId: 'sub-1', ...credentials });
      clients.push(resumed.client);
      const deadline = Date.now() + 10_000;
      const missing = () => [...ackedAtKill].filter((n) => !resumed.received.includes(`${TOPIC} ${n}`));
      while (missing().length > 0 && Date.now() < deadline) await sleep(100);

      expect(ackedAtKill.size).toBeGreaterThan(5); // the publisher was acknowledged before the stall
      expect(sentDuringStall.length).toBeGreaterThan(5); // and kept publishing during it
      // Nothing published during the stall was acknowledged: the store never answered.
      expect(sentDuringStall.filter((n) => ackedAtKill.has(n))).toEqual([]);
      expect(missing()).toEqual([]);
      expect(second.stdout()).not.toMatch(/"level":(50|60)/);
      await seed.close();
    },
    40_000,
  );
});

describe('QoS 1 acknowledged after the store, published once', () => {
  it('each QoS 1 message is delivered exactly once, retained ones kept, and PUBACKs arrive', async () => {
    const broker = await startTestBroker();
    try {
      const seed = new Seeder(broker.prefix);
      await seed.device('pub-1');
      await seed.device('sub-1');
      await seed.device('sub-2');
      await seed.key('k-all', SECRET);
      await seed.close();
      const credentials = { username: 'k-all', password: SECRET };
      // Asserted accepted (connectDevice): a refused client would leave the SUBSCRIBE and the PUBLISHes
      // below waiting forever, and the test would fail as a bare timeout instead of saying why.
      const subscriber = await connectDevice(broker.port, { clientId: 'sub-1', ...credentials }, clients);
      const received = collect(subscriber);
      expect(await subackCodes(subscriber, [TOPIC], 1)).toEqual([1]);
      const publisher = await connectDevice(broker.port, { clientId: 'pub-1', ...credentials }, clients);
      for (let n = 1; n <= 50; n++) await publisher.publishAsync(TOPIC, String(n), { qos: 1 });
      await publisher.publishAsync(TOPIC, 'kept', { qos: 1, retain: true });
      await waitFor(received, `${TOPIC} kept`);
      await sleep(200);
      expect(received).toEqual([
        ...Array.from({ length: 50 }, (_, i) => `${TOPIC} ${i + 1}`),
        `${TOPIC} kept`,
      ]);

      const late = await connectDevice(broker.port, { clientId: 'sub-2', ...credentials }, clients);
      const lateReceived = collect(late);
      await subackCodes(late, [TOPIC], 1);
      await waitFor(lateReceived, `${TOPIC} kept`);
    } finally {
      await broker.close();
    }
  });
});
