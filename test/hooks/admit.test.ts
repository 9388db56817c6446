import { randomBytes } from 'node:crypto';
import type { Client, ConnectPacket } from 'aedes';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretVerifier } from '../../src/crypto/secret-verifier.js';
import { VerifiedCredentials } from '../../src/crypto/verified-credentials.js';
import type { KeygateError } from '../../src/errors.js';
import { type AuthenticateDeps, admit, createAuthenticate } from '../../src/hooks/authenticate.js';
import { ConnectThrottle } from '../../src/hooks/connect-throttle.js';
import { createPreConnect } from '../../src/hooks/pre-connect.js';
import { SessionRegistry } from '../../src/hooks/sessions.js';
import type { KeyRecord } from '../../src/policy/model.js';
import { DeviceDirectory } from '../../src/store/device-directory.js';
import { KeyStore } from '../../src/store/key-store.js';
import { Keyspace } from '../../src/store/keyspace.js';
import { ProblemLog } from '../../src/store/problem-log.js';
import { redisUrl, Seeder, uniquePrefix } from '../support/harness.js';

/** Counts verifications, so tests can show that every "bad credentials" path costs exactly one. */
class CountingVerifier extends SecretVerifier {
  calls: (string | undefined)[] = [];
  override async verify(secret: string, hash: string | undefined): Promise<boolean> {
    this.calls.push(hash);
    return super.verify(secret, hash);
  }
}

const SECRET = 'admit-secret';
const prefix = uniquePrefix();
let redis: Redis;
let seed: Seeder;
let verifier: CountingVerifier;
let deps: AuthenticateDeps;

beforeAll(async () => {
  redis = new Redis(redisUrl());
  seed = new Seeder(prefix);
  verifier = new CountingVerifier({ threads: 1 });
  const logger = pino({ level: 'silent' });
  const keyspace = new Keyspace(prefix);
  const problems = new ProblemLog(logger);
  const directory = new DeviceDirectory(redis, keyspace, problems);
  deps = {
    store: new KeyStore(redis, keyspace, problems, directory),
    directory,
    verifier,
    sessions: new SessionRegistry(),
    topicRoot: 'losant',
    timeoutMs: 2000,
    logger,
  };
  await seed.device('dev-1');
  await seed.key('key-1', SECRET);
});

afterAll(async () => {
  await verifier.close();
  await seed.close();
  redis.disconnect();
});

const request = (username: string | undefined, password: string | undefined) => ({
  clientId: 'dev-1',
  username,
  password: password === undefined ? undefined : Buffer.from(password),
  will: undefined,
});

describe('admit: no key-existence oracle', () => {
  it.each([
    ['unknown key', request('key-nope', SECRET)],
    ['wrong secret', request('key-1', 'nope')],
    ['username not an identifier', request('key 1', SECRET)],
    ['empty password', request('key-1', '')],
  ])('%s costs exactly one bcrypt verification and fails with KG_ERR_BAD_CREDENTIALS', async (_name, req) => {
    verifier.calls = [];
    await expect(admit(deps, req)).rejects.toMatchObject({ code: 'KG_ERR_BAD_CREDENTIALS', returnCode: 4 });
    expect(verifier.calls).toHaveLength(1);
  });

  it('the unknown-key verification runs at the same bcrypt cost as a real key', async () => {
    verifier.calls = [];
    await expect(admit(deps, request('key-nope', SECRET))).rejects.toThrow();
    expect(verifier.calls[0]).toBeUndefined();
    const { DUMMY_HASH } = await import('../../src/crypto/secret-verifier.js');
    expect(DUMMY_HASH.slice(0, 7)).toBe('$2b$10$');
  });

  it('admits with the right secret and opens a session for the device', async () => {
    const session = await admit(deps, request('key-1', SECRET));
    expect(session).toMatchObject({ deviceId: 'dev-1', accessKey: 'key-1' });
    expect(session.principal.device).toMatchObject({ id: 'dev-1', type: 'standalone' });
    expect(session.principal.key).toMatchObject({ active: true, topicFilter: 'none' });
    expect(deps.directory.get('dev-1')).toEqual(session.principal.device);
  });
});

describe('admit with the verified-credential cache (docs/CREDENTIAL-CACHE.md)', () => {
  const cacheKey = randomBytes(32);
  const withCache = (verified: VerifiedCredentials<KeyRecord>): AuthenticateDeps => ({ ...deps, verified });

  it('a reconnect with the verified secret costs no bcrypt; a wrong secret still costs one and fails', async () => {
    const cached = withCache(new VerifiedCredentials({ ttlMs: 60_000 }));
    verifier.calls = [];
    await admit(cached, request('key-1', SECRET));
    await admit(cached, request('key-1', SECRET));
    await admit(cached, request('key-1', SECRET));
    expect(verifier.calls).toHaveLength(1);
    await expect(admit(cached, request('key-1', 'nope'))).rejects.toMatchObject({ returnCode: 4 });
    await expect(admit(cached, request('key-nope', SECRET))).rejects.toMatchObject({ returnCode: 4 });
    expect(verifier.calls).toHaveLength(3);
  });

  it('the key record is read on every CONNECT: a deactivated key is refused even when cached', async () => {
    await seed.key('key-2', SECRET);
    const cached = withCache(new VerifiedCredentials({ ttlMs: 60_000 }));
    await admit(cached, request('key-2', SECRET));
    await redis.hset(`${prefix}key:key-2`, 'status', 'inactive');
    await expect(admit(cached, request('key-2', SECRET))).rejects.toMatchObject({
      code: 'KG_ERR_KEY_INACTIVE',
    });
  });

  it('a secret changed in Redis invalidates the proof: the old secret fails, the new one verifies once', async () => {
    await seed.key('key-3', SECRET);
    const cached = withCache(new VerifiedCredentials({ ttlMs: 60_000 }));
    await admit(cached, request('key-3', SECRET));
    await seed.key('key-3', 'rotated-secret');
    verifier.calls = [];
    await expect(admit(cached, request('key-3', SECRET))).rejects.toMatchObject({ returnCode: 4 });
    await admit(cached, request('key-3', 'rotated-secret'));
    await admit(cached, request('key-3', 'rotated-secret'));
    expect(verifier.calls).toHaveLength(2);
  });

  it('with a shared cache key, a sibling (or restarted) instance recognises the proof kept in Redis', async () => {
    await seed.key('key-4', SECRET);
    await admit(
      withCache(new VerifiedCredentials({ ttlMs: 60_000, key: cacheKey })),
      request('key-4', SECRET),
    );
    await new Promise((resolve) => setTimeout(resolve, 50)); // the proof is written without waiting
    verifier.calls = [];
    await admit(
      withCache(new VerifiedCredentials({ ttlMs: 60_000, key: cacheKey })),
      request('key-4', SECRET),
    );
    expect(verifier.calls).toHaveLength(0);
    // Another cache key cannot use it; nor can a per-process cache.
    await admit(
      withCache(new VerifiedCredentials({ ttlMs: 60_000, key: randomBytes(32) })),
      request('key-4', SECRET),
    );
    await admit(withCache(new VerifiedCredentials({ ttlMs: 60_000 })), request('key-4', SECRET));
    expect(verifier.calls).toHaveLength(2);
    // What a Redis dump holds: 32 bytes that are neither the secret nor the hash, expiring.
    const stored = (await redis.get(`${prefix}verified:key-4`)) as string;
    expect(Buffer.from(stored, 'base64url')).toHaveLength(32);
    expect(stored).not.toContain(SECRET);
    expect(await redis.pttl(`${prefix}verified:key-4`)).toBeGreaterThan(50_000);
  });

  it('a proof kept in Redis is worthless with the wrong secret, and its expiry ends it', async () => {
    await seed.key('key-5', SECRET);
    let now = 0;
    const cache = () => new VerifiedCredentials<KeyRecord>({ ttlMs: 60_000, key: cacheKey, now: () => now });
    const first = cache();
    await admit(withCache(first), request('key-5', SECRET));
    verifier.calls = [];
    await expect(admit(withCache(cache()), request('key-5', 'guess'))).rejects.toMatchObject({
      returnCode: 4,
    });
    expect(verifier.calls).toHaveLength(1);
    now = 60_000;
    await redis.del(`${prefix}verified:key-5`); // Redis expired it too
    await admit(withCache(first), request('key-5', SECRET));
    expect(verifier.calls).toHaveLength(2);
  });

  it('a fleet sharing one key reconnecting at once costs one verification', async () => {
    await seed.key('key-6', SECRET);
    for (let i = 0; i < 20; i++) await seed.device(`fleet-${i}`);
    const cached = withCache(new VerifiedCredentials({ ttlMs: 60_000 }));
    verifier.calls = [];
    const sessions = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        admit(cached, { ...request('key-6', SECRET), clientId: `fleet-${i}` }),
      ),
    );
    expect(sessions.map((s) => s.deviceId)).toEqual(Array.from({ length: 20 }, (_, i) => `fleet-${i}`));
    expect(verifier.calls).toHaveLength(1);
  });
});

describe('admit with the brute-force throttle (README "Security: brute force")', () => {
  it('a ban that begins while a CONNECT waits for Redis refuses it before it costs a verification', async () => {
    const throttle = new ConnectThrottle({ threshold: 1, banMs: 60_000, banMaxMs: 60_000 });
    const throttled: AuthenticateDeps = { ...deps, throttle };
    verifier.calls = [];
    // admit() checks the throttle, then awaits the key's record: meanwhile another guess from the same
    // address fails and bans it (threshold 1).
    const guess = admit(throttled, { ...request('key-1', 'guess-1'), address: '192.0.2.7' });
    expect(throttle.failure('192.0.2.7', 'key-1', 'credentials')).toHaveLength(2);
    await expect(guess).rejects.toMatchObject({ code: 'KG_ERR_THROTTLED', returnCode: 5 });
    expect(verifier.calls).toHaveLength(0);
    // Another address is not affected by this one's ban.
    await expect(
      admit(throttled, { ...request('key-1', 'guess-2'), address: '192.0.2.8' }),
    ).rejects.toMatchObject({ code: 'KG_ERR_BAD_CREDENTIALS' });
    expect(verifier.calls).toHaveLength(1);
  });
});

describe('the authenticate hook', () => {
  // A stand-in for aedes' Client: what the hook reads of it.
  const fakeClient = (conn: { destroyed?: boolean; remoteAddress?: string }) =>
    ({ id: 'dev-1', conn, req: undefined }) as unknown as Client;
  const run = (hookDeps: AuthenticateDeps, client: Client, withPreConnect = true) =>
    new Promise<{ error: KeygateError | null; success: boolean | null }>((resolve) => {
      if (withPreConnect) {
        createPreConnect(hookDeps.sessions)(client, { clientId: 'dev-1' } as ConnectPacket, () => {});
      }
      createAuthenticate(hookDeps)(client, 'key-1', Buffer.from(SECRET), (error, success) =>
        resolve({ error: error as KeygateError | null, success }),
      );
    });

  it('admits a CONNECT from an open connection', async () => {
    const result = await run(deps, fakeClient({ remoteAddress: '192.0.2.1' }));
    expect(result).toEqual({ error: null, success: true });
  });

  it('a connection closed before its CONNECT is decided is refused without a verification', async () => {
    verifier.calls = [];
    const result = await run(deps, fakeClient({ destroyed: true }));
    expect(result.error?.code).toBe('KG_ERR_CONNECTION_GONE');
    expect(result.error?.returnCode).toBe(3);
    expect(verifier.calls).toHaveLength(0);
  });

  it('without keygate’s preConnect hook every CONNECT is refused (a will could not be checked)', async () => {
    const alone = { ...deps, sessions: new SessionRegistry() };
    const result = await run(alone, fakeClient({ remoteAddress: '192.0.2.1' }), false);
    expect(result.error?.code).toBe('KG_ERR_CLIENT_ID_INVALID');
  });
});
