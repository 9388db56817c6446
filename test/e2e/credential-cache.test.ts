import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  connackOf,
  counterTotal,
  Seeder,
  startTestBroker,
  type TestBroker,
  uniquePrefix,
} from '../support/harness.js';

// The verified-credential cache as configured (docs/CREDENTIAL-CACHE.md): what each CONNECT costs in
// bcrypt verifications, counted with the broker's own metric.
const SECRET = 'cache-secret';
const prefix = uniquePrefix();
const keyFile = join(mkdtempSync(join(tmpdir(), 'keygate-cache-')), 'cache.key');
writeFileSync(keyFile, randomBytes(32));
let seed: Seeder;

const verifications = (broker: TestBroker) => counterTotal(broker, 'keygate_bcrypt_verifications_total');

/** Starts a broker and waits until it is ready (its Redis connection up), like a load balancer would. */
async function start(overrides: Parameters<typeof startTestBroker>[0]): Promise<TestBroker> {
  const broker = await startTestBroker(overrides);
  while (!broker.running.readiness().ready) await new Promise((resolve) => setTimeout(resolve, 20));
  return broker;
}

const device = (broker: TestBroker, password = SECRET) =>
  connackOf(broker.port, { clientId: 'dev-1', username: 'key-1', password });

beforeAll(async () => {
  seed = new Seeder(prefix);
  await seed.device('dev-1');
  await seed.key('key-1', SECRET);
});

afterAll(async () => {
  await seed.close();
});

describe('verified-credential cache', () => {
  it('on by default: reconnects skip bcrypt; a wrong secret does not', async () => {
    const broker = await start({ prefix });
    try {
      expect(await device(broker)).toBe(0);
      expect(await device(broker)).toBe(0);
      expect(await device(broker)).toBe(0);
      expect(await verifications(broker)).toBe(1);
      expect(await device(broker, 'wrong')).toBe(4);
      expect(await verifications(broker)).toBe(2);
    } finally {
      await broker.close();
    }
  });

  it('KEYGATE_CREDENTIAL_CACHE_MS=0: every CONNECT verifies bcrypt', async () => {
    const broker = await start({ prefix, credentialCacheMs: 0 });
    try {
      expect(await device(broker)).toBe(0);
      expect(await device(broker)).toBe(0);
      expect(await verifications(broker)).toBe(2);
    } finally {
      await broker.close();
    }
  });

  it('with the key file, a restarted broker re-admits without bcrypt; without it, it verifies again', async () => {
    const first = await start({ prefix, credentialCacheKeyFile: keyFile });
    expect(await device(first)).toBe(0);
    await first.close();
    await new Promise((resolve) => setTimeout(resolve, 50));

    const restarted = await start({ prefix, credentialCacheKeyFile: keyFile });
    try {
      expect(await device(restarted)).toBe(0);
      expect(await verifications(restarted)).toBe(0);
    } finally {
      await restarted.close();
    }
    const withoutFile = await start({ prefix });
    try {
      expect(await device(withoutFile)).toBe(0);
      expect(await verifications(withoutFile)).toBe(1);
    } finally {
      await withoutFile.close();
    }
  });
});
