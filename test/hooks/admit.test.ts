import { Redis } from 'ioredis';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SecretVerifier } from '../../src/crypto/secret-verifier.js';
import { type AuthenticateDeps, admit } from '../../src/hooks/authenticate.js';
import { SessionRegistry } from '../../src/hooks/sessions.js';
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
