import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connackOf, connect, Seeder, startTestBroker, type TestBroker } from '../support/harness.js';

// Every row of the CONNACK table (SPEC section 2), with mqtt.js over TCP against a real Redis.
const SECRET = 'right-secret-0123456789';

let broker: TestBroker;
let seed: Seeder;

beforeAll(async () => {
  broker = await startTestBroker();
  seed = new Seeder(broker.prefix);
  await seed.device('thermo-1', { tags: 'floor=3,type=sensor' });
  await seed.device('thermo-2', { tags: 'floor=4,type=sensor' });
  await seed.device('lamp-9', { tags: 'room=kitchen' });
  await seed.device('gw-1', { type: 'gateway' });
  await seed.device('periph-1', { type: 'peripheral', gateway: 'gw-1' });
  await seed.device('bad-tags', { tags: 'floor' });
  await seed.device('bad-type', { type: 'router' });
  await seed.key('k-all', SECRET);
  await seed.key('k-ids', SECRET, { restrictions: 'thermo-1, gw-1, periph-1' });
  await seed.key('k-tag', SECRET, { restrictions: 'floor=4' });
  await seed.key('k-anyroom', SECRET, { restrictions: 'room=*' });
  await seed.key('k-off', SECRET, { status: 'inactive' });
  await seed.key('k-badstatus', SECRET, { status: 'paused' });
  await seed.key('k-badrestr', SECRET, { restrictions: 'thermo-1,,floor=3' });
  await seed.key('k-nosecret', SECRET, { secret: '' });
  await seed.redis.hset(`${broker.prefix}key:k-plain`, { secret: SECRET });
  await seed.redis.set(`${broker.prefix}key:k-string`, 'not a hash');
  await seed.redis.set(`${broker.prefix}device:as-string`, 'not a hash');
});

afterAll(async () => {
  await seed.close();
  await broker.close();
});

const login = (clientId: string, username?: string, password?: string) => ({
  clientId,
  ...(username === undefined ? {} : { username }),
  ...(password === undefined ? {} : { password }),
});

describe('CONNACK 0: accepted', () => {
  it.each([
    ['unrestricted key', login('thermo-1', 'k-all', SECRET)],
    ['device listed by ID', login('thermo-1', 'k-ids', SECRET)],
    ['device matched by tag', login('thermo-2', 'k-tag', SECRET)],
    ['device matched by key=*', login('lamp-9', 'k-anyroom', SECRET)],
    ['gateway in scope', login('gw-1', 'k-ids', SECRET)],
  ])('%s', async (_name, options) => {
    expect(await connackOf(broker.port, options)).toBe(0);
  });
});

describe('CONNACK 2: identifier rejected', () => {
  it.each([
    ['empty clientId', login('', 'k-all', SECRET)],
    ['129-character clientId', login('a'.repeat(129), 'k-all', SECRET)],
    ['clientId with /', login('thermo-1/state', 'k-all', SECRET)],
    ['clientId with +', login('thermo+1', 'k-all', SECRET)],
    ['clientId with #', login('thermo#', 'k-all', SECRET)],
    ['clientId with a space', login('thermo 1', 'k-all', SECRET)],
    ['non-ASCII clientId', login('thérmo-1', 'k-all', SECRET)],
  ])('%s', async (_name, options) => {
    expect(await connackOf(broker.port, { ...options, clean: true })).toBe(2);
  });

  it('is decided before credentials: a bad clientId with no credentials is still 2', async () => {
    expect(await connackOf(broker.port, login('a/b'))).toBe(2);
  });

  it('128 characters is still a valid identifier (then refused as unregistered: 5)', async () => {
    expect(await connackOf(broker.port, login('a'.repeat(128), 'k-all', SECRET))).toBe(5);
  });
});

describe('CONNACK 4: bad user name or password — identical for every cause', () => {
  const cases = [
    ['no username, no password', login('thermo-1')],
    ['username without password', login('thermo-1', 'k-all')],
    ['empty username', login('thermo-1', '', SECRET)],
    ['empty password', login('thermo-1', 'k-all', '')],
    ['unknown key', login('thermo-1', 'k-nope', SECRET)],
    ['wrong secret', login('thermo-1', 'k-all', 'wrong-secret')],
    ['secret differing in case', login('thermo-1', 'k-all', SECRET.toUpperCase())],
    ['username that is not an identifier', login('thermo-1', 'k/all', SECRET)],
    ['key whose secret is empty', login('thermo-1', 'k-nosecret', SECRET)],
    ['key whose secret is stored in plain text', login('thermo-1', 'k-plain', SECRET)],
    ['key that is not a hash', login('thermo-1', 'k-string', SECRET)],
    ['wrong secret for an inactive key (inactivity not revealed)', login('thermo-1', 'k-off', 'wrong')],
    ['wrong secret for a device out of scope', login('lamp-9', 'k-ids', 'wrong')],
  ] as const;

  it.each(cases)('%s', async (_name, options) => {
    expect(await connackOf(broker.port, options)).toBe(4);
  });

  it('logs every cause with the same shape and reason', async () => {
    const before = broker.logs.lines.length;
    await connackOf(broker.port, login('thermo-1', 'k-nope', SECRET));
    await connackOf(broker.port, login('thermo-1', 'k-all', 'wrong-secret'));
    const refusals = broker.logs
      .records()
      .slice(before)
      .filter((r) => r.code === 'KG_ERR_BAD_CREDENTIALS');
    expect(refusals).toHaveLength(2);
    const shape = (r: Record<string, unknown>) => ({
      keys: Object.keys(r).sort(),
      msg: r.msg,
      connack: r.connack,
      level: r.level,
    });
    expect(shape(refusals[0] as Record<string, unknown>)).toEqual(
      shape(refusals[1] as Record<string, unknown>),
    );
  });
});

describe('CONNACK 5: not authorized (right secret)', () => {
  it.each([
    ['inactive key', login('thermo-1', 'k-off', SECRET), 'KG_ERR_KEY_INACTIVE'],
    ['unknown status is not "active"', login('thermo-1', 'k-badstatus', SECRET), 'KG_ERR_KEY_INVALID'],
    [
      'malformed restrictions deny, never allow all',
      login('thermo-1', 'k-badrestr', SECRET),
      'KG_ERR_KEY_INVALID',
    ],
    ['unregistered device', login('ghost-1', 'k-all', SECRET), 'KG_ERR_DEVICE_UNKNOWN'],
    ['device out of scope (IDs)', login('thermo-2', 'k-ids', SECRET), 'KG_ERR_DEVICE_OUT_OF_SCOPE'],
    ['device out of scope (tags)', login('thermo-1', 'k-tag', SECRET), 'KG_ERR_DEVICE_OUT_OF_SCOPE'],
    ['device out of scope (key=*)', login('thermo-1', 'k-anyroom', SECRET), 'KG_ERR_DEVICE_OUT_OF_SCOPE'],
    ['peripheral connecting directly', login('periph-1', 'k-ids', SECRET), 'KG_ERR_PERIPHERAL_DIRECT'],
    ['device with malformed tags', login('bad-tags', 'k-all', SECRET), 'KG_ERR_DEVICE_INVALID'],
    ['device with unknown type', login('bad-type', 'k-all', SECRET), 'KG_ERR_DEVICE_INVALID'],
    ['device that is not a hash', login('as-string', 'k-all', SECRET), 'KG_ERR_DEVICE_INVALID'],
  ])('%s', async (_name, options, code) => {
    const before = broker.logs.lines.length;
    expect(await connackOf(broker.port, options)).toBe(5);
    const refusal = broker.logs
      .records()
      .slice(before)
      .find((r) => r.connack === 5);
    expect(refusal?.code).toBe(code);
    expect(refusal?.deviceId).toBe(options.clientId);
    expect(refusal?.accessKey).toBe(options.username);
    expect(refusal?.address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it.each([
    ["another device's topic", 'losant/thermo-2/state'],
    ['a wildcard topic', 'losant/thermo-1/#'],
    ['a $SYS topic', '$SYS/broker/uptime'],
    ['a topic outside the root', 'custom/alarm'],
  ])('will on %s', async (_name, topic) => {
    const code = await connackOf(broker.port, {
      ...login('thermo-1', 'k-all', SECRET),
      will: { topic, payload: Buffer.from('gone'), qos: 0, retain: false },
    });
    expect(code).toBe(5);
  });

  it('will on its own topic is accepted', async () => {
    const code = await connackOf(broker.port, {
      ...login('thermo-1', 'k-all', SECRET),
      will: {
        topic: 'losant/thermo-1/connection/status',
        payload: Buffer.from('gone'),
        qos: 0,
        retain: false,
      },
    });
    expect(code).toBe(0);
  });

  it('logs a malformed record once, with its Redis key name', async () => {
    await connackOf(broker.port, login('thermo-1', 'k-badrestr', SECRET));
    await connackOf(broker.port, login('thermo-1', 'k-badrestr', SECRET));
    const warnings = broker.logs.records().filter((r) => r.redisKey === `${broker.prefix}key:k-badrestr`);
    expect(warnings).toHaveLength(1);
  });
});

describe('session takeover (same clientId)', () => {
  it('a failed attempt never disturbs the connected device', async () => {
    const first = await connect(broker.port, login('thermo-1', 'k-all', SECRET));
    expect(first.returnCode).toBe(0);
    let closed = false;
    first.client.on('close', () => {
      closed = true;
    });
    expect(await connackOf(broker.port, login('thermo-1', 'k-all', 'wrong'))).toBe(4);
    expect(await connackOf(broker.port, login('thermo-1', 'k-off', SECRET))).toBe(5);
    expect(await connackOf(broker.port, login('thermo-1', 'k-tag', SECRET))).toBe(5);
    // Round trip on the first connection proves it is still up and served.
    const received = new Promise<string>((resolve) =>
      first.client.on('message', (_t, p) => resolve(p.toString())),
    );
    await first.client.subscribeAsync('losant/thermo-1/command');
    await first.client.publishAsync('losant/thermo-1/command', 'still here');
    expect(await received).toBe('still here');
    expect(closed).toBe(false);
    first.client.end(true);
  });

  it('an authenticated newcomer takes the session over', async () => {
    const first = await connect(broker.port, login('thermo-2', 'k-tag', SECRET));
    expect(first.returnCode).toBe(0);
    const closed = new Promise<void>((resolve) => first.client.once('close', () => resolve()));
    const second = await connect(broker.port, login('thermo-2', 'k-all', SECRET));
    expect(second.returnCode).toBe(0);
    await closed;
    second.client.end(true);
  });
});
