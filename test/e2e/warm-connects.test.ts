import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WARM_FRESHNESS_MS } from '../../src/hooks/warm-connects.js';
import { eventually } from '../support/eventually.js';
import {
  connackOf,
  counterTotal,
  hashSecret,
  startTestBroker,
  type TestBroker,
  uniquePrefix,
} from '../support/harness.js';
import { type RedisServer, startRedisServer } from '../support/redis-server.js';

// Warm reconnects decided from memory (src/hooks/warm-connects.ts): a recently verified device gets in
// without a Redis round trip while memory is provably in step with Redis, and every change made in Redis
// (by anyone, with redis-cli) still reaches the next CONNECT. A Redis of its own, so that INFO commandstats
// counts this broker's commands only.
const SECRET = 'warm-secret';
let server: RedisServer;
let admin: Redis;
const brokers: TestBroker[] = [];

beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis(server.url);
});

afterAll(async () => {
  for (const broker of brokers) await broker.close();
  admin.disconnect();
  await server.stop();
});

async function start(overrides: Parameters<typeof startTestBroker>[0] = {}) {
  const prefix = overrides.prefix ?? uniquePrefix();
  // No periodic re-validation during a test: the commands counted are the CONNECTs'.
  const broker = await startTestBroker({
    redisUrl: server.url,
    prefix,
    revalidateMs: 3_600_000,
    ...overrides,
  });
  brokers.push(broker);
  // Ready once its own Redis connection is up (CONNACK 3 until then), as a load balancer would wait.
  while (!broker.running.readiness().ready) await new Promise((resolve) => setTimeout(resolve, 20));
  const login = (clientId: string, username: string, password = SECRET) => ({ clientId, username, password });
  const connack = (clientId: string, username: string, password = SECRET) =>
    connackOf(broker.port, login(clientId, username, password));
  const metric = (name: string): Promise<number> => counterTotal(broker, name);
  const fromMemory = () => metric('keygate_connects_from_memory_total');
  /** Connects until a CONNECT is decided from memory (the first verifies; memory needs a canary heard). */
  const warmUp = async (clientId: string, username: string): Promise<void> => {
    const warm = await eventually(async () => {
      const before = await fromMemory();
      expect(await connack(clientId, username)).toBe(0);
      return (await fromMemory()) > before;
    }, 5000);
    expect(warm, `${clientId} decided from memory; logs:\n${broker.logs.text()}`).toBe(true);
  };
  const seed = async (deviceId: string, key: string, fields: Record<string, string> = {}) => {
    await admin.hset(`${prefix}device:${deviceId}`, 'name', deviceId);
    await admin.hset(`${prefix}key:${key}`, { secret: hashSecret(SECRET), ...fields });
  };
  /** Until memory is in step with Redis (the keygate_memory_in_step gauge). */
  const inStep = async (): Promise<boolean> =>
    eventually(async () => (await metric('keygate_memory_in_step')) === 1, 5000);
  return { broker, prefix, connack, fromMemory, metric, warmUp, seed, inStep };
}

async function commandCounts(): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const line of (await admin.info('commandstats')).split('\n')) {
    const match = /^cmdstat_([^:]+):calls=(\d+)/.exec(line);
    if (match) counts[match[1] as string] = Number(match[2]);
  }
  return counts;
}

describe('warm reconnects decided from memory', () => {
  it('a reconnect with the verified secret reads nothing from Redis; a wrong secret still reads and fails', async () => {
    const t = await start();
    await t.seed('dev-1', 'key-1');
    await t.warmUp('dev-1', 'key-1');
    const before = await commandCounts();
    const memoryBefore = await t.fromMemory();
    for (let i = 0; i < 5; i++) expect(await t.connack('dev-1', 'key-1')).toBe(0);
    const after = await commandCounts();
    expect(await t.fromMemory()).toBe(memoryBefore + 5);
    // The only commands meanwhile are the change feed's heartbeat canaries (SET) and our INFO.
    const read = Object.keys(after).filter(
      (name) => name !== 'info' && name !== 'set' && after[name] !== before[name],
    );
    expect(read).toEqual([]);
    // A wrong secret is not decided from memory: it reads Redis and costs a verification, like a cold one.
    const verifications = await t.metric('keygate_bcrypt_verifications_total');
    expect(await t.connack('dev-1', 'key-1', 'wrong')).toBe(4);
    expect(await t.metric('keygate_bcrypt_verifications_total')).toBe(verifications + 1);
    expect((await commandCounts()).hgetall).toBeGreaterThan(before.hgetall ?? 0);
  });

  it('a secret in multi-byte UTF-8, sent with or without a byte order mark, is recognised from memory; one character off is not', async () => {
    // The warm path makes its proof over the password's bytes; the verification made it over the decoded
    // secret. They must agree for every secret, and a BOM is skipped by both (src/cli/secret-input.ts).
    const secret = 'pässwörd-✓-密码-🔑';
    const t = await start();
    await admin.hset(`${t.prefix}device:dev-u`, 'name', 'dev-u');
    await admin.hset(`${t.prefix}key:key-u`, { secret: hashSecret(secret) });
    const connack = (password: Buffer) =>
      connackOf(t.broker.port, { clientId: 'dev-u', username: 'key-u', password });
    const utf8 = Buffer.from(secret, 'utf8');
    const withBom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), utf8]);
    const warm = await eventually(async () => {
      const before = await t.fromMemory();
      expect(await connack(utf8)).toBe(0);
      return (await t.fromMemory()) > before;
    }, 5000);
    expect(warm).toBe(true);
    const memoryBefore = await t.fromMemory();
    const verifications = await t.metric('keygate_bcrypt_verifications_total');
    expect(await connack(utf8)).toBe(0);
    expect(await connack(withBom)).toBe(0);
    expect(await t.fromMemory()).toBe(memoryBefore + 2);
    expect(await t.metric('keygate_bcrypt_verifications_total')).toBe(verifications);
    // The last character changed, or a NUL inserted: not recognised, verified (and refused) the full way.
    expect(await connack(Buffer.from(`${secret.slice(0, -2)}🔒`, 'utf8'))).toBe(4);
    expect(await connack(Buffer.concat([utf8, Buffer.from([0])]))).toBe(4);
    expect(await t.fromMemory()).toBe(memoryBefore + 2);
  });

  it.each([
    ['key deleted', (p: string) => admin.del(`${p}key:key-1`), 4],
    ['key deactivated', (p: string) => admin.hset(`${p}key:key-1`, 'status', 'inactive'), 5],
    [
      'key restricted to another device',
      (p: string) => admin.hset(`${p}key:key-1`, 'restrictions', 'dev-2'),
      5,
    ],
    ['secret changed', (p: string) => admin.hset(`${p}key:key-1`, 'secret', hashSecret('new-secret')), 4],
    ['device deleted', (p: string) => admin.del(`${p}device:dev-1`), 5],
  ] as const)('%s with redis-cli: the next CONNECTs see it within a second', async (_name, change, code) => {
    const t = await start();
    await t.seed('dev-1', 'key-1');
    await t.warmUp('dev-1', 'key-1');
    await change(t.prefix);
    const started = Date.now();
    expect(await eventually(async () => (await t.connack('dev-1', 'key-1')) === code, 3000)).toBe(true);
    expect(Date.now() - started).toBeLessThan(WARM_FRESHNESS_MS + 500);
    // And never admitted again.
    for (let i = 0; i < 3; i++) expect(await t.connack('dev-1', 'key-1')).toBe(code);
  });

  it('once the server stops publishing notifications, CONNECTs read Redis again and see changes at once', async () => {
    const t = await start();
    await t.seed('dev-1', 'key-1');
    await t.warmUp('dev-1', 'key-1');
    const [, flags] = (await admin.config('GET', 'notify-keyspace-events')) as [string, string];
    await admin.config('SET', 'notify-keyspace-events', '');
    try {
      // No canary is heard any more: within WARM_FRESHNESS_MS memory no longer decides.
      await new Promise((resolve) => setTimeout(resolve, WARM_FRESHNESS_MS + 300));
      const memory = await t.fromMemory();
      expect(await t.connack('dev-1', 'key-1')).toBe(0);
      expect(await t.fromMemory()).toBe(memory);
      // A change nobody is told about is seen by the very next CONNECT.
      await admin.hset(`${t.prefix}key:key-1`, 'status', 'inactive');
      expect(await t.connack('dev-1', 'key-1')).toBe(5);
    } finally {
      await admin.config('SET', 'notify-keyspace-events', flags);
    }
  });

  it("another instance's brute-force ban of the address is noticed: the CONNECT reads Redis and is refused", async () => {
    const t = await start({ banThreshold: 5 });
    await t.seed('dev-1', 'key-1');
    await t.warmUp('dev-1', 'key-1');
    await admin.set(`${t.prefix}ban:address:127.0.0.1`, '1', 'PX', 60_000);
    expect(await eventually(async () => (await t.connack('dev-1', 'key-1')) === 5, 3000)).toBe(true);
    await admin.del(`${t.prefix}ban:address:127.0.0.1`);
  });

  it('a ban already in Redis when the broker starts is honoured too', async () => {
    const prefix = uniquePrefix();
    await admin.set(`${prefix}ban:address:127.0.0.1`, '1', 'PX', 60_000);
    const t = await start({ prefix, banThreshold: 5 });
    await t.seed('dev-1', 'key-1');
    // Admitted nowhere while the ban lasts: not by the Redis path, not from memory.
    await new Promise((resolve) => setTimeout(resolve, 500));
    for (let i = 0; i < 3; i++) expect(await t.connack('dev-1', 'key-1')).toBe(5);
    expect(await t.fromMemory()).toBe(0);
  });

  it('with the cache key file, a restarted broker admits the first CONNECT of a verified device from memory', async () => {
    const keyFile = join(mkdtempSync(join(tmpdir(), 'keygate-warm-')), 'cache.key');
    writeFileSync(keyFile, randomBytes(32));
    const first = await start({ credentialCacheKeyFile: keyFile });
    await first.seed('dev-1', 'key-1');
    expect(await first.connack('dev-1', 'key-1')).toBe(0);
    await first.broker.close();

    const restarted = await start({ prefix: first.prefix, credentialCacheKeyFile: keyFile });
    expect(await restarted.inStep()).toBe(true);
    const before = await commandCounts();
    expect(await restarted.connack('dev-1', 'key-1')).toBe(0);
    expect(await restarted.fromMemory()).toBe(1);
    expect(await restarted.metric('keygate_bcrypt_verifications_total')).toBe(0);
    expect((await commandCounts()).hgetall).toBe(before.hgetall);
    // The proof is for that secret only.
    expect(await restarted.connack('dev-1', 'key-1', 'guess')).toBe(4);
  });

  it('start-up reads the device directory twice: on the connection, and once for memory and sessions after the subscription', async () => {
    // The read after the change feed subscribed serves both the warm-connect memory and the re-decision
    // of live sessions (a restart storm waits for it). Before, the re-validation on that event read the
    // directory a third time, or — when the first read was still under way — joined it, a read begun
    // before the subscription (so a change in between could wait for the periodic re-validation).
    const prefix = uniquePrefix();
    const devices = ['boot-1', 'boot-2', 'boot-3'];
    for (const id of devices) await admin.hset(`${prefix}device:${id}`, 'name', id);
    const before = await commandCounts();
    const t = await start({ prefix });
    expect(await t.inStep()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 500)); // anything still to come after it
    const after = await commandCounts();
    expect((after.hgetall ?? 0) - (before.hgetall ?? 0)).toBe(2 * devices.length);
  });

  it('the memory-in-step gauge follows the change feed', async () => {
    const t = await start();
    expect(await t.inStep()).toBe(true);
    const [, flags] = (await admin.config('GET', 'notify-keyspace-events')) as [string, string];
    await admin.config('SET', 'notify-keyspace-events', '');
    try {
      expect(
        await eventually(
          async () => (await t.metric('keygate_memory_in_step')) === 0,
          WARM_FRESHNESS_MS + 1000,
        ),
      ).toBe(true);
    } finally {
      await admin.config('SET', 'notify-keyspace-events', flags);
    }
    expect(await t.inStep()).toBe(true);
  });

  it('FLUSHALL announces no key: the periodic re-validation bounds it (KEYGATE_REVALIDATE_MS)', async () => {
    const t = await start({ revalidateMs: 1000 });
    await t.seed('dev-1', 'key-1');
    await t.warmUp('dev-1', 'key-1');
    await admin.flushall();
    // The device comes back (announced), the key does not (FLUSHALL announces nothing per key).
    await admin.hset(`${t.prefix}device:dev-1`, 'name', 'dev-1');
    expect(await eventually(async () => (await t.connack('dev-1', 'key-1')) === 4, 3000)).toBe(true);
    for (let i = 0; i < 3; i++) expect(await t.connack('dev-1', 'key-1')).toBe(4);
  });

  it('a key a CONNECT finds gone from Redis is forgotten by memory at once, not at the next re-validation', async () => {
    const t = await start(); // no periodic re-validation during the test
    await t.seed('dev-1', 'key-1');
    await t.warmUp('dev-1', 'key-1');
    // FLUSHALL announces nothing per key: memory still holds key-1. The device comes back (a device missing
    // from Redis would leave the directory on the next read, which refuses by itself); no CONNECT until its
    // notification has been handled and the directory re-read it (a CONNECT meanwhile would read Redis).
    await admin.flushall();
    await admin.hset(`${t.prefix}device:dev-1`, 'name', 'dev-1');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // Memory still admits the right secret (stale, within the documented bound)...
    expect(await t.connack('dev-1', 'key-1')).toBe(0);
    // ...until a CONNECT it cannot decide (a wrong secret) reads Redis and finds the key gone.
    expect(await t.connack('dev-1', 'key-1', 'wrong')).toBe(4);
    for (let i = 0; i < 3; i++) expect(await t.connack('dev-1', 'key-1')).toBe(4);
  });
});
