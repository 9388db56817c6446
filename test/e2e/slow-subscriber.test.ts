import { afterEach, describe, expect, it } from 'vitest';
import { type BrokerProcess, startBrokerProcess } from '../support/broker-process.js';
import { eventually } from '../support/eventually.js';
import { connackOf, redisUrl, Seeder, uniquePrefix } from '../support/harness.js';
import { encodePublish, encodeSubscribe, RawSession } from '../support/raw-mqtt.js';
import { freePort } from '../support/redis-server.js';

// A subscriber that stops reading while devices publish, then goes away. aedes hands every message to its
// message queue (mqemitter, at most 100 at once: the rest wait in line); with the subscriber stuck they
// all wait, and once it is gone the queue empties in one synchronous recursion, one level per message —
// thousands of messages overflowed the stack and crashed the whole broker, bare aedes 1.2 too (upstream:
// mcollina/mqemitter#204, never merged). keygate's message queue frees its slots without recursing past a
// fixed depth (src/server/message-queue.ts).
const SECRET = 'slow-subscriber-secret';
const PUBLISHERS = 10;
const MESSAGES = 5000; // per publisher, in one write (the broker reads them by the socket chunk)

let child: BrokerProcess | undefined;
const sessions: RawSession[] = [];

afterEach(async () => {
  for (const session of sessions.splice(0)) session.close();
  await child?.kill();
  child = undefined;
});

describe('a subscriber that stops reading and leaves while devices publish', () => {
  it('does not crash the broker (in-memory persistence): every device can still connect', async () => {
    const prefix = uniquePrefix();
    const seed = new Seeder(prefix);
    const devices = ['watcher', ...Array.from({ length: PUBLISHERS }, (_, i) => `pub-${i}`)];
    for (const id of devices) await seed.device(id);
    await seed.key('k-all', SECRET);
    await seed.close();
    const port = await freePort();
    child = startBrokerProcess({
      REDIS_URL: redisUrl(),
      KEYGATE_PREFIX: prefix,
      MQTT_PORT: String(port),
      KEYGATE_PERSISTENCE: 'memory',
    });
    await child.waitFor('broker ready');
    const login = (id: string) => ({
      clientId: Buffer.from(id),
      username: Buffer.from('k-all'),
      password: Buffer.from(SECRET),
    });

    // "broker ready" can come before keygate's own Redis connection is: CONNACK 3 until it is.
    const accepted = () => connackOf(port, { clientId: 'watcher', username: 'k-all', password: SECRET });
    expect(await eventually(async () => (await accepted()) === 0, 10_000)).toBe(true);

    const watcher = await RawSession.open(port, login('watcher'));
    sessions.push(watcher);
    watcher.send(encodeSubscribe([Buffer.from('losant/+/state')]));
    expect(await watcher.suback()).toEqual([0]);
    watcher.stopReading();
    for (let p = 0; p < PUBLISHERS; p++) {
      const publisher = await RawSession.open(port, login(`pub-${p}`));
      sessions.push(publisher);
      const one = encodePublish(Buffer.from(`losant/pub-${p}/state`), Buffer.from('12345678'));
      publisher.send(Buffer.concat(Array.from({ length: MESSAGES }, () => one)));
    }
    // The queue fills behind the stuck subscriber; then it leaves.
    await new Promise((resolve) => setTimeout(resolve, 2000));
    watcher.close();
    await new Promise((resolve) => setTimeout(resolve, 2000));

    expect(child.proc.exitCode).toBeNull();
    expect(child.stderr()).not.toContain('Maximum call stack size exceeded');
    expect(await accepted()).toBe(0);
  }, 30_000);
});
