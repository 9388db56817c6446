import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { IClientOptions, MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  closed,
  collect,
  connackOf,
  connectDevice,
  hashSecret,
  redisUrl,
  Seeder,
  startTestBroker,
  subackCodes,
  type TestBroker,
  uniquePrefix,
  waitFor,
} from '../support/harness.js';
import { startRedisServer } from '../support/redis-server.js';

// SPEC section 4: admins change Redis with plain redis-cli; connected sessions follow, on every broker
// instance. Two brokers share the test Redis and one prefix; clients are spread over both.
const exec = promisify(execFile);
const SECRET = 'live-secret';

let prefix: string;
let a: TestBroker;
let b: TestBroker;
let seed: Seeder;
const open: MqttClient[] = [];

/** The real redis-cli binary, as an admin would use it. */
async function redisCli(...args: string[]): Promise<string> {
  const { stdout } = await exec('redis-cli', ['-u', redisUrl(), ...args]);
  return stdout.trim();
}

beforeAll(async () => {
  prefix = uniquePrefix();
  a = await startTestBroker({ prefix });
  b = await startTestBroker({ prefix });
  seed = new Seeder(prefix);
});

afterEach(() => {
  for (const client of open.splice(0)) client.end(true);
});

afterAll(async () => {
  await seed.close();
  await a.close();
  await b.close();
});

const device = (broker: TestBroker, clientId: string, username: string, extra: IClientOptions = {}) =>
  connectDevice(broker.port, { clientId, username, password: SECRET, ...extra }, open);

const login = (clientId: string, username: string, password = SECRET) => ({ clientId, username, password });

describe('revocation reaches live sessions on every instance', () => {
  it.each([
    ['deactivated', 5, (key: string) => redisCli('HSET', `${prefix}key:${key}`, 'status', 'inactive')],
    ['deleted', 4, (key: string) => redisCli('DEL', `${prefix}key:${key}`)],
    [
      'secret changed',
      4,
      (key: string) => redisCli('HSET', `${prefix}key:${key}`, 'secret', hashSecret('new-secret')),
    ],
    ['secret made unusable', 4, (key: string) => redisCli('HSET', `${prefix}key:${key}`, 'secret', 'plain')],
    [
      'status made unparseable',
      5,
      (key: string) => redisCli('HSET', `${prefix}key:${key}`, 'status', 'paused'),
    ],
  ])(
    'key %s: sessions on both brokers are closed; a reconnect gets CONNACK %i',
    async (_name, code, change) => {
      const key = `k-${Math.random().toString(36).slice(2, 8)}`;
      await seed.device('dev-a');
      await seed.device('dev-b');
      await seed.key(key, SECRET);
      const onA = await device(a, 'dev-a', key);
      const onB = await device(b, 'dev-b', key);
      await change(key);
      await Promise.all([closed(onA, 3000), closed(onB, 3000)]);
      expect(await connackOf(a.port, login('dev-a', key))).toBe(code);
    },
  );

  it('a revoked session fires no will', async () => {
    await seed.device('dev-w');
    await seed.device('watcher');
    await seed.key('k-will', SECRET);
    await seed.key('k-watch', SECRET);
    const watcher = await device(a, 'watcher', 'k-watch');
    await subackCodes(watcher, ['losant/+/state']);
    const received = collect(watcher);
    const withWill = await device(a, 'dev-w', 'k-will', {
      will: { topic: 'losant/dev-w/state', payload: Buffer.from('will fired'), qos: 0, retain: false },
    });
    await redisCli('HSET', `${prefix}key:k-will`, 'status', 'inactive');
    await closed(withWill, 3000);
    // A marker published after the close arrives after anything the close could have caused.
    await watcher.publishAsync('losant/watcher/state', 'marker');
    await waitFor(received, 'losant/watcher/state marker');
    expect(received).not.toContain('losant/dev-w/state will fired');
    expect(a.logs.records().some((r) => r.msg === 'PUBLISH refused: session revoked')).toBe(true);
  });
});

describe('re-scoping', () => {
  it('a device whose tags leave the scope is disconnected; a watcher stops receiving it, and starts receiving one that enters', async () => {
    await seed.device('t-1', { tags: 'floor=3' });
    await seed.device('t-2', { tags: 'floor=4' });
    await seed.device('t-watch', { tags: 'floor=3' });
    await seed.key('k-floor3', SECRET, { restrictions: 'floor=3' });
    await seed.key('k-any', SECRET);
    const watcher = await device(a, 't-watch', 'k-floor3');
    await subackCodes(watcher, ['losant/+/state']);
    const received = collect(watcher);
    const leaving = await device(b, 't-1', 'k-floor3');
    const entering = await device(a, 't-2', 'k-any');

    await redisCli('HSET', `${prefix}device:t-1`, 'tags', 'floor=5');
    await closed(leaving, 3000);
    expect(await connackOf(b.port, login('t-1', 'k-floor3'))).toBe(5);

    await redisCli('HSET', `${prefix}device:t-2`, 'tags', 'floor=3');
    // The tag change reaches the in-memory directory through the notification; poll until delivered.
    for (let i = 0; i < 50 && !received.includes('losant/t-2/state in'); i++) {
      await entering.publishAsync('losant/t-2/state', 'in');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(received).toContain('losant/t-2/state in');

    await redisCli('HSET', `${prefix}device:t-2`, 'tags', 'floor=4');
    await new Promise((resolve) => setTimeout(resolve, 200));
    const before = received.length;
    await entering.publishAsync('losant/t-2/state', 'out again');
    await watcher.publishAsync('losant/t-watch/state', 'marker');
    await waitFor(received, 'losant/t-watch/state marker');
    expect(received.slice(before)).toEqual(['losant/t-watch/state marker']);
  });

  it("a key's restrictions change: out-of-scope sessions are closed, others follow the new scope", async () => {
    await seed.device('r-1', { tags: 'zone=a' });
    await seed.device('r-2', { tags: 'zone=b' });
    await seed.key('k-zone', SECRET, { restrictions: 'zone=a,zone=b' });
    const r1 = await device(a, 'r-1', 'k-zone');
    await subackCodes(r1, ['losant/+/state']);
    const received = collect(r1);
    const r2 = await device(b, 'r-2', 'k-zone');

    await redisCli('HSET', `${prefix}key:k-zone`, 'restrictions', 'zone=a');
    await closed(r2, 3000);
    expect(r1.connected).toBe(true);
    expect(await connackOf(a.port, login('r-2', 'k-zone'))).toBe(5);

    const other = await device(b, 'r-2', 'k-any');
    await other.publishAsync('losant/r-2/state', 'hidden');
    await r1.publishAsync('losant/r-1/state', 'marker');
    await waitFor(received, 'losant/r-1/state marker');
    expect(received).not.toContain('losant/r-2/state hidden');
  });

  it.each([
    ['made a peripheral', ['HSET', 'type', 'peripheral']],
    ['deleted', ['DEL']],
    ['given malformed tags', ['HSET', 'tags', 'floor']],
  ])('a device %s is disconnected', async (_name, change) => {
    await seed.device('d-1');
    await seed.key('k-d', SECRET);
    const client = await device(b, 'd-1', 'k-d');
    const [command, ...rest] = change as [string, ...string[]];
    await redisCli(command, `${prefix}device:d-1`, ...rest);
    await closed(client, 3000);
  });

  it('topicFilter change: custom-topic deliveries follow it', async () => {
    await seed.device('plc-1');
    await seed.key('k-plc', SECRET, { topicFilter: 'all' });
    const plc = await device(a, 'plc-1', 'k-plc');
    expect(await subackCodes(plc, ['plant/#'])).toEqual([0]);
    const received = collect(plc);
    await seed.device('src-1');
    await seed.key('k-src', SECRET, { topicFilter: 'all' });
    const source = await device(a, 'src-1', 'k-src');
    await source.publishAsync('plant/a', 'one');
    await waitFor(received, 'plant/a one');

    await redisCli('HSET', `${prefix}key:k-plc`, 'topicFilter', 'allow', 'subTopics', 'plant/b');
    await new Promise((resolve) => setTimeout(resolve, 200));
    await source.publishAsync('plant/a', 'two');
    await source.publishAsync('plant/b', 'three');
    await waitFor(received, 'plant/b three');
    expect(received).not.toContain('plant/a two');
    expect(plc.connected).toBe(true);
  });
});

describe('missed notifications', () => {
  it('a change made while the notification channel was down takes effect when it reconnects', async () => {
    await seed.device('m-1');
    await seed.key('k-m', SECRET);
    const client = await device(a, 'm-1', 'k-m');
    const flags = await redisCli('CONFIG', 'GET', 'notify-keyspace-events');
    await redisCli('CONFIG', 'SET', 'notify-keyspace-events', '');
    await redisCli('HSET', `${prefix}key:k-m`, 'status', 'inactive');
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(client.connected).toBe(true); // nothing told the broker yet

    await redisCli('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await closed(client, 5000);
    // The broker turned notifications back on when it re-subscribed.
    expect(await redisCli('CONFIG', 'GET', 'notify-keyspace-events')).toContain('K');
    expect(flags).toContain('K');
  });

  it('with notifications off, the periodic re-validation bounds the staleness', async () => {
    const localPrefix = uniquePrefix();
    const broker = await startTestBroker({ prefix: localPrefix, notifications: 'off', revalidateMs: 300 });
    const local = new Seeder(localPrefix);
    try {
      await local.device('n-1');
      await local.key('k-n', SECRET);
      const client = await device(broker, 'n-1', 'k-n');
      await redisCli('HSET', `${localPrefix}key:k-n`, 'status', 'inactive');
      await closed(client, 3000);
    } finally {
      await local.close();
      await broker.close();
    }
  });

  it('where the server refuses CONFIG, keygate says so once and the backstop still applies changes', async () => {
    const redis = await startRedisServer(['--rename-command', 'CONFIG', '']);
    const localPrefix = uniquePrefix();
    const broker = await startTestBroker({ prefix: localPrefix, redisUrl: redis.url, revalidateMs: 300 });
    const local = new Seeder(localPrefix, redis.url);
    try {
      await local.device('c-1');
      await local.key('k-c', SECRET);
      const client = await device(broker, 'c-1', 'k-c');
      await local.redis.hset(`${localPrefix}key:k-c`, 'status', 'inactive');
      await closed(client, 3000);
      const warnings = broker.logs
        .records()
        .filter((r) => String(r.msg).startsWith('Redis keyspace notifications cannot be enabled'));
      expect(warnings).toHaveLength(1);
    } finally {
      await local.close();
      await broker.close();
      await redis.stop();
    }
  });

  it('a Redis restarted empty: live sessions are revoked once it is back', async () => {
    const redis = await startRedisServer();
    const localPrefix = uniquePrefix();
    const broker = await startTestBroker({ prefix: localPrefix, redisUrl: redis.url });
    const local = new Seeder(localPrefix, redis.url);
    try {
      await local.device('e-1');
      await local.key('k-e', SECRET);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const client = await device(broker, 'e-1', 'k-e');
      const port = redis.port;
      await redis.stop();
      const restarted = await startRedisServer([], port);
      try {
        await closed(client, 8000);
      } finally {
        await restarted.stop();
      }
    } finally {
      await local.close();
      await broker.close();
    }
  });
});
