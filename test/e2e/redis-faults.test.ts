import { afterEach, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { connackOf, Seeder, startTestBroker, type TestBroker } from '../support/harness.js';
import { freePort, type RedisServer, startRedisServer } from '../support/redis-server.js';

// SPEC section 5: with Redis down or paused, CONNECTs get CONNACK 3 within a bounded time (never a hang),
// the process stays up, and it recovers by itself. Each test owns its redis-server.
const SECRET = 'fault-secret';
const LOGIN = { clientId: 'dev-1', username: 'key-1', password: SECRET };

let redis: RedisServer | undefined;
let broker: TestBroker | undefined;

afterEach(async () => {
  await broker?.close();
  await redis?.stop();
  broker = undefined;
  redis = undefined;
});

async function seedOn(url: string, prefix: string): Promise<void> {
  const seed = new Seeder(prefix, url);
  await seed.device('dev-1');
  await seed.key('key-1', SECRET);
  await seed.close();
}

describe('Redis faults', () => {
  it('Redis unreachable at start: CONNACK 3 at once, one clear log line, then recovery when it comes up', async () => {
    const port = await freePort();
    broker = await startTestBroker({ redisUrl: `redis://127.0.0.1:${port}` });
    const started = Date.now();
    expect(await connackOf(broker.port, LOGIN)).toBe(3);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(await connackOf(broker.port, LOGIN)).toBe(3);

    const unreachable = broker.logs.records().filter((r) => String(r.msg).startsWith('cannot reach Redis'));
    expect(unreachable).toHaveLength(1);
    expect(String(unreachable[0]?.msg)).toMatch(/REDIS_URL/);

    redis = await startRedisServer([], port);
    await seedOn(redis.url, broker.prefix);
    expect(
      await eventually(async () => (await connackOf((broker as TestBroker).port, LOGIN)) === 0, 5000),
    ).toBe(true);
  });

  it('Redis paused (SIGSTOP): CONNACK 3 within about a second; recovers after SIGCONT', async () => {
    redis = await startRedisServer();
    broker = await startTestBroker({ redisUrl: redis.url });
    await seedOn(redis.url, broker.prefix);
    expect(await connackOf(broker.port, LOGIN)).toBe(0);

    redis.process.kill('SIGSTOP');
    const started = Date.now();
    expect(await connackOf(broker.port, LOGIN)).toBe(3);
    expect(Date.now() - started).toBeLessThan(2000);

    redis.process.kill('SIGCONT');
    expect(
      await eventually(async () => (await connackOf((broker as TestBroker).port, LOGIN)) === 0, 5000),
    ).toBe(true);
  });

  it('Redis killed and restarted empty: nobody gets in (CONNACK 4, not 0)', async () => {
    const port = await freePort();
    redis = await startRedisServer([], port);
    broker = await startTestBroker({ redisUrl: redis.url });
    await seedOn(redis.url, broker.prefix);
    expect(await connackOf(broker.port, LOGIN)).toBe(0);

    await redis.stop();
    expect(await connackOf(broker.port, LOGIN)).toBe(3);
    redis = await startRedisServer([], port);
    expect(
      await eventually(async () => (await connackOf((broker as TestBroker).port, LOGIN)) === 4, 5000),
    ).toBe(true);
  });
});
