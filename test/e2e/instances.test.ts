import type { IClientOptions, MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  closed,
  collect,
  connectDevice,
  resumeSession,
  Seeder,
  startTestBroker,
  subackCodes,
  type TestBroker,
  uniquePrefix,
  waitFor,
} from '../support/harness.js';
import { type RedisServer, startRedisServer } from '../support/redis-server.js';

// KEYGATE_PERSISTENCE=redis: two broker processes' worth of keygate on one Redis share deliveries,
// sessions and retained messages. Its own redis-server: the Aedes persistence's keys are unprefixed.
const SECRET = 'instances-secret';

let redis: RedisServer;
let a: TestBroker;
let b: TestBroker;
let seed: Seeder;
const open: MqttClient[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
  const prefix = uniquePrefix();
  a = await startTestBroker({ prefix, redisUrl: redis.url, persistence: 'redis' });
  b = await startTestBroker({ prefix, redisUrl: redis.url, persistence: 'redis' });
  seed = new Seeder(prefix, redis.url);
  await seed.device('pub-1');
  await seed.device('sub-1');
  await seed.key('k-all', SECRET);
});

afterEach(() => {
  for (const client of open.splice(0)) client.end(true);
});

afterAll(async () => {
  await seed.close();
  await a.close();
  await b.close();
  await redis.stop();
});

const device = (broker: TestBroker, clientId: string, extra: IClientOptions = {}) =>
  connectDevice(broker.port, { clientId, username: 'k-all', password: SECRET, ...extra }, open);

describe('two instances on one Redis', () => {
  it('a message published on one reaches a subscriber on the other', async () => {
    const subscriber = await device(b, 'sub-1');
    await subackCodes(subscriber, ['losant/+/state']);
    const received = collect(subscriber);
    const publisher = await device(a, 'pub-1');
    await publisher.publishAsync('losant/pub-1/state', 'across', { qos: 1 });
    await waitFor(received, 'losant/pub-1/state across');
  });

  it('a persistent session moves between them, with its offline queue', async () => {
    const first = await device(a, 'sub-1', { clean: false });
    expect(await subackCodes(first, ['losant/pub-1/state'], 1)).toEqual([1]);
    first.end(true);
    await closed(first);
    const publisher = await device(a, 'pub-1');
    await publisher.publishAsync('losant/pub-1/state', 'queued', { qos: 1 });

    const { client: again, received } = resumeSession(b.port, {
      clientId: 'sub-1',
      username: 'k-all',
      password: SECRET,
    });
    open.push(again);
    await waitFor(received, 'losant/pub-1/state queued');
    // And the subscription restored on b delivers new messages.
    await publisher.publishAsync('losant/pub-1/state', 'live', { qos: 1 });
    await waitFor(received, 'losant/pub-1/state live');
  });

  it('retained messages are shared', async () => {
    const publisher = await device(a, 'pub-1');
    await publisher.publishAsync('losant/pub-1/state', 'kept', { qos: 1, retain: true });
    const subscriber = await device(b, 'sub-1');
    const received = collect(subscriber);
    await subackCodes(subscriber, ['losant/pub-1/state']);
    await waitFor(received, 'losant/pub-1/state kept');
  });

  it('a duplicate clientId on the second closes the first', async () => {
    const first = await device(a, 'pub-1');
    const second = await device(b, 'pub-1');
    await closed(first, 5000);
    expect(second.connected).toBe(true);
  });

  it("announces a new client to the other instance (aedes' takeover), not its subscriptions or its leaving", async () => {
    // keygate drops aedes' $SYS client announcements no device can read (src/server/sys-announcements.ts),
    // all but `new/clients`: the other instances close their own session of that client ID on it.
    const from = `$SYS/${a.running.broker.id}/`;
    const seen: string[] = [];
    const listener = (packet: { topic: string }, done: () => void) => {
      if (packet.topic.startsWith(from) && !packet.topic.endsWith('/heartbeat'))
        seen.push(packet.topic.slice(from.length));
      done();
    };
    await new Promise<void>((resolve) => b.running.broker.subscribe('$SYS/#', listener, () => resolve()));
    try {
      const client = await device(a, 'sub-1');
      expect(await subackCodes(client, ['losant/+/state'])).toEqual([0]);
      await client.unsubscribeAsync('losant/+/state');
      await client.endAsync();
      await expect.poll(() => seen).toContain('new/clients');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(seen).toEqual(['new/clients']);
    } finally {
      await new Promise<void>((resolve) => b.running.broker.unsubscribe('$SYS/#', listener, () => resolve()));
    }
  });
});
