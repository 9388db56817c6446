import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceDirectory } from '../../src/store/device-directory.js';
import { Keyspace } from '../../src/store/keyspace.js';
import { ProblemLog } from '../../src/store/problem-log.js';
import { redisUrl, Seeder, uniquePrefix } from '../support/harness.js';

// A full load of the device directory (start-up, resync, periodic re-validation) ends by dropping the
// devices its SCAN did not see. A device written to Redis after the SCAN passed, and put into the directory
// meanwhile (its notification's refresh, a CONNECT's read), must survive that sweep: else its deliveries are
// denied until the next load (seen once as a flaky CI failure: every delivery of a new device filtered).
const prefix = uniquePrefix();
let redis: Redis;
let seed: Seeder;
let directory: DeviceDirectory;

beforeAll(async () => {
  redis = new Redis(redisUrl());
  seed = new Seeder(prefix);
  const logger = pino({ level: 'silent' });
  directory = new DeviceDirectory(redis, new Keyspace(prefix), new ProblemLog(logger));
  await seed.device('early');
});

afterAll(async () => {
  await seed.close();
  redis.disconnect();
});

describe('DeviceDirectory.loadAll', () => {
  it('keeps a device applied while it ran, drops one gone from Redis', async () => {
    directory.apply('gone', { name: 'gone' }); // in memory, not in Redis: the load must drop it
    const loading = directory.loadAll();
    // Applied while the load waits for Redis, as a notification's refresh would (not in its SCAN).
    directory.apply('late', { name: 'late' });
    await loading;
    expect(directory.get('early')).toBeDefined();
    expect(directory.get('late')).toBeDefined();
    expect(directory.get('gone')).toBeUndefined();
  });
});
