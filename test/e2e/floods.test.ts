import type { IClientOptions, MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import type { Config } from '../../src/config.js';
import {
  closed,
  collect,
  connackOf,
  connect,
  connectDevice,
  counterTotal,
  Seeder,
  startTestBroker,
  subackCodes,
  type TestBroker,
  waitFor,
} from '../support/harness.js';
import { type RedisServer, startRedisServer } from '../support/redis-server.js';

// Floods from authenticated devices (README "Security: floods"), with small numbers: 5 PUBLISHes per
// second per connection, 1 KB payloads, a first back-off of 2 s.
const SECRET = 'flood-secret';
const LIMITS = {
  rateLimit: 5,
  rateWindowMs: 1000,
  maxPayloadBytes: 1024,
  banMs: 2000,
  banMaxMs: 8000,
  // The brute-force throttle on too: refusals during a back-off must not count against the address.
  banThreshold: 3,
};
const DEVICES = ['flooder', 'calm', 'watcher', 'big', 'willer', 'heavy-will', 'free'];

let broker: TestBroker | undefined;
let redis: RedisServer | undefined;
const open: MqttClient[] = [];

afterEach(async () => {
  for (const client of open.splice(0)) client.end(true);
  await broker?.close();
  await redis?.stop();
  broker = undefined;
  redis = undefined;
});

async function start(config: Partial<Config>, redisUrl?: string): Promise<TestBroker> {
  broker = await startTestBroker({ ...config, ...(redisUrl ? { redisUrl } : {}) });
  const seed = new Seeder(broker.prefix, redisUrl);
  for (const id of DEVICES) await seed.device(id);
  // One unrestricted key for every device: "other connections of the same key are unaffected".
  await seed.key('k-all', SECRET);
  await seed.close();
  return broker;
}

const login = (clientId: string) => ({ clientId, username: 'k-all', password: SECRET });

const device = (b: TestBroker, clientId: string, extra: IClientOptions = {}) =>
  connectDevice(b.port, { ...login(clientId), ...extra }, open);

/** A client subscribed to every device's state topic, collecting what it receives. */
async function watch(b: TestBroker): Promise<string[]> {
  const watcher = await device(b, 'watcher');
  const received = collect(watcher);
  expect(await subackCodes(watcher, ['losant/+/state'])).toEqual([0]);
  return received;
}

const refusals = (b: TestBroker, reason: string) =>
  counterTotal(b, 'keygate_refusals_total', { action: 'publish', reason });

/** Polls until the device's CONNECT is accepted; resolves with when that happened, or undefined. */
async function acceptedAgain(b: TestBroker, clientId: string, withinMs: number): Promise<number | undefined> {
  const deadline = Date.now() + withinMs;
  while (Date.now() < deadline) {
    if ((await connackOf(b.port, login(clientId))) === 0) return Date.now();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}

describe('floods: message rate per connection', () => {
  it('past the limit the device is disconnected and backed off (CONNACK 5), then accepted again; others are unaffected', async () => {
    const b = await start(LIMITS);
    const received = await watch(b);
    const flooder = await device(b, 'flooder');
    const calm = await device(b, 'calm');

    for (let i = 1; i <= 6; i++) flooder.publish('losant/flooder/state', `f${i}`);
    await closed(flooder);
    const violatedAt = Date.now();

    // The 5 within the limit are delivered; the 6th reaches no one.
    await calm.publishAsync('losant/calm/state', 'still here', { qos: 1 });
    await waitFor(received, 'losant/calm/state still here');
    await waitFor(received, 'losant/flooder/state f5');
    expect(received.filter((m) => m.startsWith('losant/flooder/'))).toEqual(
      [1, 2, 3, 4, 5].map((i) => `losant/flooder/state f${i}`),
    );

    // Backed off: every CONNECT of the device gets 5, even with the right secret. Retrying does not get
    // the address banned (the throttle is on here): another device from the same address still connects.
    for (let i = 0; i < 6; i++) expect(await connackOf(b.port, login('flooder'))).toBe(5);
    expect(await connackOf(b.port, login('big'))).toBe(0);
    expect(calm.connected).toBe(true);
    await calm.publishAsync('losant/calm/state', 'meanwhile', { qos: 1 });
    await waitFor(received, 'losant/calm/state meanwhile');

    // After the back-off (2 s) the device connects again, and publishes within the limit are delivered.
    const acceptedAt = await acceptedAgain(b, 'flooder', 10_000);
    expect(acceptedAt).toBeDefined();
    expect((acceptedAt as number) - violatedAt).toBeGreaterThanOrEqual(LIMITS.banMs - 100);
    const again = await device(b, 'flooder');
    await again.publishAsync('losant/flooder/state', 'behaving', { qos: 1 });
    await waitFor(received, 'losant/flooder/state behaving');

    expect(await refusals(b, 'KG_ERR_RATE_LIMITED')).toBe(1);
    const line = b.logs.records().find((r) => r.reason === 'KG_ERR_RATE_LIMITED');
    expect(line).toMatchObject({ deviceId: 'flooder', accessKey: 'k-all', backOffMs: 2000 });
    expect(String(line?.address)).toMatch(/^127\.0\.0\.1:\d+$/);
    // One log line per violation, not one per refused CONNECT.
    expect(b.logs.records().filter((r) => r.reason === 'KG_ERR_RATE_LIMITED')).toHaveLength(1);
  });

  it('counts all topics of a connection together; each connection counts from zero', async () => {
    const b = await start(LIMITS);
    const free = await device(b, 'free');
    // 5 PUBLISHes over 3 topics: at the limit, not over it.
    for (const suffix of ['state', 'message', 'state', 'message', 'other']) {
      await free.publishAsync(`losant/free/${suffix}`, 'x', { qos: 1 });
    }
    expect(free.connected).toBe(true);
    free.publish('losant/free/yet-another', 'x');
    await closed(free);
    expect(await refusals(b, 'KG_ERR_RATE_LIMITED')).toBe(1);

    // Per connection: a device that reconnects (cleanly, under the limit) starts a fresh count.
    const first = await device(b, 'calm');
    for (let i = 0; i < 4; i++) await first.publishAsync('losant/calm/state', 'x', { qos: 1 });
    await first.endAsync();
    const second = await device(b, 'calm');
    for (let i = 0; i < 5; i++) await second.publishAsync('losant/calm/state', 'x', { qos: 1 });
    expect(second.connected).toBe(true);
  });

  it('keeps backing the device off while Redis is down (in memory, before any Redis read)', async () => {
    redis = await startRedisServer();
    const b = await start(LIMITS, redis.url);
    const flooder = await device(b, 'flooder');
    for (let i = 1; i <= 6; i++) flooder.publish('losant/flooder/state', `f${i}`);
    await closed(flooder);

    redis.process.kill('SIGSTOP');
    try {
      // Redis cannot answer: an ordinary device gets 3, the backed-off one still gets its 5.
      expect(await connackOf(b.port, login('calm'))).toBe(3);
      expect(await connackOf(b.port, login('flooder'))).toBe(5);
    } finally {
      redis.process.kill('SIGCONT');
    }
  });
});

describe('floods: payload size', () => {
  it('a payload of exactly the limit is delivered; one byte more is refused, not delivered, and backs off', async () => {
    const b = await start(LIMITS);
    const received = await watch(b);
    const big = await device(b, 'big');
    const calm = await device(b, 'calm');

    await big.publishAsync('losant/big/state', 'a'.repeat(1024), { qos: 1 });
    await waitFor(received, `losant/big/state ${'a'.repeat(1024)}`);

    big.publish('losant/big/state', 'b'.repeat(1025));
    await closed(big);
    await calm.publishAsync('losant/calm/state', 'after', { qos: 1 });
    await waitFor(received, 'losant/calm/state after');
    expect(received.some((m) => m.includes('b'.repeat(1025)))).toBe(false);

    expect(await connackOf(b.port, login('big'))).toBe(5);
    expect(await refusals(b, 'KG_ERR_PAYLOAD_TOO_LARGE')).toBe(1);
    const line = b.logs.records().find((r) => r.reason === 'KG_ERR_PAYLOAD_TOO_LARGE');
    expect(line).toMatchObject({ deviceId: 'big', accessKey: 'k-all', payloadBytes: 1025 });
    expect(b.logs.text()).not.toContain('bbbbbbbb');
  });
});

describe('floods: wills', () => {
  it('a will over the payload limit is refused at CONNECT (5); one within it fires when a flooder is disconnected', async () => {
    const b = await start(LIMITS);
    const received = await watch(b);
    const heavy = await connect(b.port, {
      ...login('heavy-will'),
      will: { topic: 'losant/heavy-will/state', payload: Buffer.alloc(1025, 'w'), qos: 0, retain: false },
    });
    heavy.client.end(true);
    expect(heavy.returnCode).toBe(5);
    expect(b.logs.text()).toMatch(/KG_ERR_WILL_NOT_PERMITTED/);

    // The flood disconnection is not a DISCONNECT: the will is published [MQTT-3.1.2-8].
    const willer = await device(b, 'willer', {
      will: { topic: 'losant/willer/state', payload: Buffer.from('gone'), qos: 0, retain: false },
    });
    for (let i = 1; i <= 6; i++) willer.publish('losant/willer/state', `w${i}`);
    await closed(willer);
    await waitFor(received, 'losant/willer/state gone');
    expect(received).not.toContain('losant/willer/state w6');
  });
});

describe('floods: limits off', () => {
  it('with both limits at 0, nothing is refused', async () => {
    const b = await start({ rateLimit: 0, maxPayloadBytes: 0 });
    const received = await watch(b);
    const free = await device(b, 'free');
    const big = 'z'.repeat(300 * 1024); // over Losant's 256 KB
    for (let i = 0; i < 50; i++) free.publish('losant/free/state', `n${i}`);
    await free.publishAsync('losant/free/state', big, { qos: 1 });
    await waitFor(received, `losant/free/state ${big}`);
    await waitFor(received, 'losant/free/state n49');
    expect(free.connected).toBe(true);
    expect(received).toHaveLength(51);
  });

  it('by default (256 KB, no rate limit) a burst is not refused but 256 KB + 1 is', async () => {
    const b = await start({});
    const received = await watch(b);
    const free = await device(b, 'free');
    for (let i = 0; i < 100; i++) free.publish('losant/free/state', `n${i}`);
    await free.publishAsync('losant/free/state', Buffer.alloc(262_144, 'k'), { qos: 1 });
    await waitFor(received, 'losant/free/state n99');
    expect(free.connected).toBe(true);
    free.publish('losant/free/state', Buffer.alloc(262_145, 'k'));
    await closed(free);
    expect(await refusals(b, 'KG_ERR_PAYLOAD_TOO_LARGE')).toBe(1);
  });
});
