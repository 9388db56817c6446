import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counterTotal, Seeder, startTestBroker, type TestBroker } from '../support/harness.js';
import { encodeConnect } from '../support/raw-mqtt.js';
import { freePort } from '../support/redis-server.js';

// Brute-force protection (README "Security: brute force"), with small numbers: 3 failures, 1 s, max 4 s.
const SECRET = 'right-secret-0123456789';
const WRONG = 'wrong-secret-0123456789';
const THROTTLE = { banThreshold: 3, banMs: 1000, banMaxMs: 4000 } as const;

/**
 * One CONNECT from `localAddress` (any 127.x.y.z address is loopback on Linux), resolving with the
 * CONNACK return code as soon as it arrives (undefined if the broker closes without one).
 */
async function connackFrom(
  port: number,
  localAddress: string,
  username: string,
  password: string,
  clientId = 'dev-1',
): Promise<number | undefined> {
  const socket = netConnect({ port, host: '127.0.0.1', localAddress });
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(
    encodeConnect({
      clientId: Buffer.from(clientId),
      username: Buffer.from(username),
      password: Buffer.from(password),
    }),
  );
  let received = Buffer.alloc(0);
  const code = await new Promise<number | undefined>((resolve) => {
    const timer = setTimeout(() => resolve(undefined), 5000);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 4) {
        clearTimeout(timer);
        resolve(received[0] === 0x20 ? received[3] : undefined);
      }
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(undefined);
    });
  });
  socket.destroy();
  return code;
}

const verifications = (broker: TestBroker) => counterTotal(broker, 'keygate_bcrypt_verifications_total');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const banLines = (broker: TestBroker) =>
  broker.logs.records().filter((r) => r.code === 'KG_ERR_THROTTLED' && r.banMs !== undefined);

describe('brute force: failed CONNECTs are throttled per address and per key', () => {
  let broker: TestBroker;
  let seed: Seeder;

  beforeAll(async () => {
    broker = await startTestBroker(THROTTLE);
    seed = new Seeder(broker.prefix);
    await seed.device('dev-1');
    await seed.key('k1', SECRET);
  });

  afterAll(async () => {
    await seed.close();
    await broker.close();
  });

  it('bans an address after 3 wrong secrets; lifts the ban; doubles it on a repeated offence', async () => {
    const port = broker.port;
    for (let i = 0; i < 3; i++) expect(await connackFrom(port, '127.0.0.1', 'k1', WRONG)).toBe(4);
    const spent = await verifications(broker);
    expect(spent).toBeGreaterThanOrEqual(3);

    // Even the right secret is refused now, with 5, and costs no verification.
    expect(await connackFrom(port, '127.0.0.1', 'k1', SECRET)).toBe(5);
    expect(await connackFrom(port, '127.0.0.1', 'other-key', SECRET)).toBe(5);
    expect(await verifications(broker)).toBe(spent);
    expect(await counterTotal(broker, 'keygate_connects_throttled_total')).toBe(2);

    // Logged once per ban (the address and the key reached the threshold together), never the secret.
    const bans = banLines(broker);
    expect(bans.map((r) => [r.address ?? r.accessKey, r.banMs]).sort()).toEqual([
      ['127.0.0.1', 1000],
      ['k1', 1000],
    ]);
    expect(broker.logs.text()).not.toContain(SECRET);
    expect(broker.logs.text()).not.toContain(WRONG);

    // Another address connects with the same key meanwhile: the key's owner is not locked out.
    expect(await connackFrom(port, '127.0.0.2', 'k1', SECRET)).toBe(0);

    await sleep(1100);
    expect(await connackFrom(port, '127.0.0.1', 'k1', SECRET)).toBe(0);

    // A repeated offence: the ban doubles (2 s).
    for (let i = 0; i < 3; i++) expect(await connackFrom(port, '127.0.0.1', 'k1', WRONG)).toBe(4);
    const banned = Date.now();
    expect(
      banLines(broker)
        .filter((r) => r.address === '127.0.0.1')
        .map((r) => r.banMs),
    ).toEqual([1000, 2000]);
    await sleep(1200);
    if (Date.now() - banned < 1900) expect(await connackFrom(port, '127.0.0.1', 'k1', SECRET)).toBe(5);
    await sleep(Math.max(0, banned + 2100 - Date.now()));
    expect(await connackFrom(port, '127.0.0.1', 'k1', SECRET)).toBe(0);
  });

  it('a key guessed from many addresses is banned for them, not for a clean address', async () => {
    await seed.key('k2', SECRET);
    const port = broker.port;
    // One failure each from three addresses: no address is banned, the key is.
    for (const address of ['127.0.1.1', '127.0.1.2', '127.0.1.3']) {
      expect(await connackFrom(port, address, 'k2', WRONG)).toBe(4);
    }
    expect(banLines(broker).some((r) => r.accessKey === 'k2')).toBe(true);
    const spent = await verifications(broker);
    expect(await connackFrom(port, '127.0.1.1', 'k2', SECRET)).toBe(5);
    expect(await verifications(broker)).toBe(spent);
    expect(await connackFrom(port, '127.0.1.9', 'k2', SECRET)).toBe(0);
  });
});

describe('brute force: with Redis down', () => {
  let broker: TestBroker;

  beforeAll(async () => {
    broker = await startTestBroker({ ...THROTTLE, redisUrl: `redis://127.0.0.1:${await freePort()}` });
  });

  afterAll(async () => {
    await broker.close();
  });

  it('CONNACK 3 is not a failure; failures decided without Redis still lead to a ban', async () => {
    const port = broker.port;
    for (let i = 0; i < 4; i++) expect(await connackFrom(port, '127.0.0.1', 'k1', SECRET)).toBe(3);
    // An empty password is refused (4) without Redis, after a dummy verification.
    for (let i = 0; i < 3; i++) expect(await connackFrom(port, '127.0.0.1', 'k1', '')).toBe(4);
    const spent = await verifications(broker);
    expect(await connackFrom(port, '127.0.0.1', 'k1', SECRET)).toBe(5);
    expect(await verifications(broker)).toBe(spent);
    // Another address is unaffected: it gets the honest answer, 3.
    expect(await connackFrom(port, '127.0.0.2', 'k9', SECRET)).toBe(3);
  });
});

describe('brute force: bans are shared by the instances on one Redis', () => {
  let a: TestBroker;
  let b: TestBroker;
  let seed: Seeder;

  beforeAll(async () => {
    a = await startTestBroker(THROTTLE);
    b = await startTestBroker({ ...THROTTLE, prefix: a.prefix });
    seed = new Seeder(a.prefix);
    await seed.device('dev-1');
    await seed.key('key-1', SECRET);
    await seed.key('key-2', SECRET);
  });

  afterAll(async () => {
    await seed.close();
    await a.close();
    await b.close();
  });

  it('an address banned on one instance is refused on the other, before any verification', async () => {
    for (let i = 0; i < 3; i++) expect(await connackFrom(a.port, '127.0.5.1', 'key-1', WRONG)).toBe(4);
    await sleep(100); // the ban reaches Redis without the CONNECT waiting for it
    const spent = await verifications(b);
    expect(await connackFrom(b.port, '127.0.5.1', 'key-1', SECRET)).toBe(5);
    expect(await verifications(b)).toBe(spent);
    expect(await connackFrom(b.port, '127.0.5.2', 'key-1', SECRET)).toBe(0);
    await sleep(1100); // the ban's TTL is the ban
    expect(await connackFrom(b.port, '127.0.5.1', 'key-1', SECRET)).toBe(0);
  });

  it('a key banned on one instance is refused on the other for addresses that failed there', async () => {
    for (let i = 0; i < 3; i++) expect(await connackFrom(a.port, `127.0.6.${i + 1}`, 'key-2', WRONG)).toBe(4);
    await sleep(100);
    // A clean address on b still gets in with the right secret (no lock-out of the key's owner) ...
    expect(await connackFrom(b.port, '127.0.6.10', 'key-2', SECRET)).toBe(0);
    // ... but an address that guessed wrong on b is refused at once, even with the right secret.
    expect(await connackFrom(b.port, '127.0.6.11', 'key-2', WRONG)).toBe(4);
    expect(await connackFrom(b.port, '127.0.6.11', 'key-2', SECRET)).toBe(5);
  });
});

describe('brute force: the tarpit (KEYGATE_BAN_DELAY_MS)', () => {
  it('a banned CONNECT waits for its CONNACK 5; a legitimate one from elsewhere does not', async () => {
    const broker = await startTestBroker({ ...THROTTLE, banMs: 5000, banMaxMs: 5000, banDelayMs: 700 });
    const seed = new Seeder(broker.prefix);
    try {
      await seed.device('dev-1');
      await seed.key('key-1', SECRET);
      for (let i = 0; i < 3; i++) expect(await connackFrom(broker.port, '127.0.7.1', 'key-1', WRONG)).toBe(4);
      const started = Date.now();
      const answers = await Promise.all(
        Array.from({ length: 20 }, () => connackFrom(broker.port, '127.0.7.1', 'key-1', SECRET)),
      );
      expect(answers).toEqual(Array(20).fill(5));
      expect(Date.now() - started).toBeGreaterThanOrEqual(650);
      const clean = Date.now();
      expect(await connackFrom(broker.port, '127.0.7.2', 'key-1', SECRET)).toBe(0);
      expect(Date.now() - clean).toBeLessThan(650);
    } finally {
      await seed.close();
      await broker.close();
    }
  });
});

describe('brute force: a burst of concurrent guesses from one address', () => {
  it('costs at most `threshold` verifications at once; the rest get CONNACK 3 and the address is banned', async () => {
    const broker = await startTestBroker(THROTTLE);
    const seed = new Seeder(broker.prefix);
    try {
      await seed.device('dev-1');
      await seed.key('key-1', SECRET);
      const answers = await Promise.all(
        // Different guesses (the same wrong secret concurrently would share one verification anyway).
        Array.from({ length: 30 }, (_, i) => connackFrom(broker.port, '127.0.8.1', 'key-1', `${WRONG}-${i}`)),
      );
      // At most 2 × threshold wrong guesses are verified: `threshold` failures start the ban, and at most
      // `threshold` more were under way then; the rest are refused (3 while slots are booked, 5 once
      // banned — checked again just before each verification, after the Redis read).
      expect(answers.filter((code) => code === 4).length).toBeLessThanOrEqual(2 * THROTTLE.banThreshold);
      expect(answers.filter((code) => code === 3).length).toBeGreaterThan(0);
      expect(await verifications(broker)).toBeLessThan(30);
      expect(await connackFrom(broker.port, '127.0.8.1', 'key-1', SECRET)).toBe(5);
      expect(await connackFrom(broker.port, '127.0.8.2', 'key-1', SECRET)).toBe(0);
    } finally {
      await seed.close();
      await broker.close();
    }
  });
});

describe('overload refusals are answered slowly too (KEYGATE_BAN_DELAY_MS)', () => {
  it('a CONNECT refused because verifications are booked gets its CONNACK 3 after the delay', async () => {
    const broker = await startTestBroker({ ...THROTTLE, banDelayMs: 600 });
    const seed = new Seeder(broker.prefix);
    try {
      await seed.device('dev-1');
      await seed.key('key-1', SECRET);
      const timed = async (i: number) => {
        const started = Date.now();
        const code = await connackFrom(broker.port, '127.0.9.1', 'key-1', `${WRONG}-${i}`);
        return { code, ms: Date.now() - started };
      };
      const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => timed(i)));
      const overloaded = answers.filter((a) => a.code === 3);
      expect(answers.filter((a) => a.code === 4).length).toBeGreaterThan(0);
      expect(overloaded.length).toBeGreaterThan(0);
      for (const a of overloaded) expect(a.ms).toBeGreaterThanOrEqual(550);
    } finally {
      await seed.close();
      await broker.close();
    }
  });
});
