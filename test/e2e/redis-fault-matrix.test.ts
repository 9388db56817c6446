import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { MqttClient } from 'mqtt';
import { afterEach, describe, expect, it } from 'vitest';
import { WARM_FRESHNESS_MS } from '../../src/hooks/warm-connects.js';
import { type BrokerProcess, startBrokerProcess } from '../support/broker-process.js';
import { eventually } from '../support/eventually.js';
import {
  closed,
  collect,
  connackOf,
  connectDevice,
  hashSecret,
  subackCodes,
  uniquePrefix,
  waitFor,
} from '../support/harness.js';
import { type RedisServer, startRedisServer } from '../support/redis-server.js';

// SPEC section 5 (issue 6, "Redis faults"), the README's "When Redis fails": each fault is made to a real
// redis-server owned by the test, under keygate's ready broker running as its own process. While Redis
// cannot be read: new CONNECTs get CONNACK 3 (never 0, and never 4 for a wrong secret: nothing is decided
// from unreadable data) within a bounded time, connected devices keep their sessions and what memory can
// decide, what needs Redis is refused; the process stays up; once Redis is back everything works again
// with no restart of keygate — except that a Redis restarted empty lets nobody in.
const SECRET = 'matrix-secret';
/** How long the faults that end by themselves (CLIENT PAUSE, DEBUG SLEEP) last. */
const OUTAGE_MS = 5000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

/** Ends the fault: resolves with the redis-server that now serves (the same one, or its restart). */
type EndFault = () => Promise<RedisServer>;

interface Fault {
  readonly name: string;
  /** More redis-server arguments for this fault (`dir`: a private directory for its RDB file). */
  readonly args?: (dir: string) => string[];
  /** Redis comes back without keygate's data. */
  readonly empty?: boolean;
  /** Makes Redis unreadable; `admin` is a plain ioredis connection to it. */
  start(redis: RedisServer, admin: Redis, dir: string): Promise<EndFault>;
}

const FAULTS: Fault[] = [
  {
    name: 'SIGSTOP, then SIGCONT',
    async start(redis) {
      redis.process.kill('SIGSTOP');
      return async () => {
        redis.process.kill('SIGCONT');
        return redis;
      };
    },
  },
  {
    name: 'kill -9, then restart on the same port with the same data',
    args: (dir) => ['--dir', dir],
    async start(redis, admin, dir) {
      await admin.save(); // the RDB file the restart loads
      const exited = once(redis.process, 'exit');
      redis.process.kill('SIGKILL');
      await exited;
      return () => startRedisServer(['--dir', dir], redis.port);
    },
  },
  {
    name: `CLIENT PAUSE ${OUTAGE_MS} ALL`,
    async start(redis, admin) {
      const until = Date.now() + OUTAGE_MS;
      await admin.call('CLIENT', 'PAUSE', String(OUTAGE_MS), 'ALL');
      return async () => {
        await sleep(until - Date.now());
        return redis;
      };
    },
  },
  {
    name: `DEBUG SLEEP ${OUTAGE_MS / 1000}`,
    args: () => ['--enable-debug-command', 'local'],
    async start(redis, admin) {
      const done = admin.call('DEBUG', 'SLEEP', String(OUTAGE_MS / 1000));
      await sleep(100); // the command has reached the server: it sleeps
      return async () => {
        await done;
        return redis;
      };
    },
  },
  {
    name: 'kill, then restart empty',
    empty: true,
    async start(redis) {
      await redis.stop();
      return () => startRedisServer([], redis.port);
    },
  },
];

async function timed<T>(action: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const started = Date.now();
  const value = await action();
  return { value, ms: Date.now() - started };
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step().catch(() => {});
  cleanup = [];
});

describe.each(['redis', 'memory'] as const)('KEYGATE_PERSISTENCE=%s', (persistence) => {
  describe.each(FAULTS)('Redis fault: $name', (fault) => {
    it('new CONNECTs get 3 within 1.5 s, connected devices keep what memory decides, then everything recovers with no restart', async () => {
      const dir = await mkdtemp(join(tmpdir(), 'keygate-fault-'));
      cleanup.push(() => rm(dir, { recursive: true, force: true }));
      let redis = await startRedisServer(fault.args?.(dir) ?? []);
      cleanup.push(() => redis.stop());
      const admin = new Redis(redis.url);
      admin.on('error', () => {}); // it reconnects by itself after a kill
      cleanup.push(async () => admin.disconnect());
      const prefix = uniquePrefix();
      for (const id of ['holder', 'watcher', 'newcomer', 'stranger'])
        await admin.hset(`${prefix}device:${id}`, 'name', id);
      await admin.hset(`${prefix}key:k-1`, 'secret', hashSecret(SECRET));
      // A key no CONNECT used before the fault: nothing about it is in memory.
      await admin.hset(`${prefix}key:k-2`, 'secret', hashSecret(SECRET));

      const broker: BrokerProcess = startBrokerProcess({
        REDIS_URL: redis.url,
        KEYGATE_PREFIX: prefix,
        KEYGATE_PERSISTENCE: persistence,
        MQTT_PORT: '0',
        MQTT_HOST: '127.0.0.1',
      });
      cleanup.push(async () => {
        broker.proc.kill('SIGKILL');
      });
      await broker.waitFor('broker ready');
      const port = Number(broker.records().find((r) => r.msg === 'MQTT listener up')?.port);

      const login = (clientId: string, password = SECRET) => ({ clientId, username: 'k-1', password });
      // Ready once its own Redis connection is up (CONNACK 3 until then).
      expect(await eventually(async () => (await connackOf(port, login('newcomer'))) === 0, 5000)).toBe(true);
      const open: MqttClient[] = [];
      cleanup.push(async () => {
        for (const client of open) client.end(true);
      });
      const device = (clientId: string) => connectDevice(port, login(clientId), open);
      const holder = await device('holder');
      const watcher = await device('watcher');
      expect(await subackCodes(watcher, ['losant/holder/state'])).toEqual([0]);
      const received = collect(watcher);
      holder.publish('losant/holder/state', 'before');
      await waitFor(received, 'losant/holder/state before');

      // A device registered behind keygate's back (keyspace notifications off meanwhile): memory does not
      // know it, so a SUBSCRIBE naming it needs a Redis read.
      await admin.config('SET', 'notify-keyspace-events', '');
      await admin.hset(`${prefix}device:late`, 'name', 'late');

      const endFault = await fault.start(redis, admin, dir);

      // While Redis cannot be read.
      const first = await timed(() => connackOf(port, { ...login('stranger'), username: 'k-2' }));
      expect(first.value).toBe(3);
      expect(first.ms).toBeLessThan(1500);
      const wrongSecret = await timed(() => connackOf(port, login('newcomer', 'wrong')));
      expect(wrongSecret.value).toBe(3);
      expect(wrongSecret.ms).toBeLessThan(1500);
      // A warm reconnect is decided from memory only while memory is provably in step with Redis (a
      // heartbeat heard less than WARM_FRESHNESS_MS ago, src/hooks/warm-connects.ts); then it needs Redis too.
      expect(
        await eventually(
          async () => (await connackOf(port, login('newcomer'))) === 3,
          WARM_FRESHNESS_MS + 1500,
        ),
      ).toBe(true);
      expect(await connackOf(port, login('newcomer'))).toBe(3);
      // Fail closed: what needs Redis is refused, and the connection stays open.
      expect(await subackCodes(watcher, ['losant/late/state'])).toEqual([0x80]);
      if (persistence === 'memory') {
        // Decided from memory and carried in memory: traffic between connected devices goes on.
        holder.publish('losant/holder/state', 'during');
        await waitFor(received, 'losant/holder/state during', 2000);
      }
      expect(holder.connected).toBe(true);
      expect(watcher.connected).toBe(true);
      expect(broker.proc.exitCode).toBeNull();

      redis = await endFault();
      if (fault.empty) {
        // The key is gone: refused (4), never let in; live sessions are revoked by the re-validation.
        expect(await eventually(async () => (await connackOf(port, login('newcomer'))) === 4, 5000)).toBe(
          true,
        );
        await Promise.all([closed(holder, 8000), closed(watcher, 8000)]);
        expect(await connackOf(port, login('newcomer'))).not.toBe(0);
      } else {
        expect(await eventually(async () => (await connackOf(port, login('newcomer'))) === 0, 5000)).toBe(
          true,
        );
        expect(holder.connected).toBe(true);
        expect(watcher.connected).toBe(true);
        holder.publish('losant/holder/state', 'after');
        await waitFor(received, 'losant/holder/state after', 5000);
        expect(await subackCodes(watcher, ['losant/late/state'])).toEqual([0]);
      }

      // It never crashed: still running, nothing on stderr (no uncaught error), no fatal line.
      expect(broker.proc.exitCode).toBeNull();
      expect(broker.stderr()).toBe('');
      expect(broker.records().filter((r) => Number(r.level) >= 60)).toEqual([]);
    }, 40_000);
  });
});
