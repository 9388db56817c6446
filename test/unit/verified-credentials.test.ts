import { createHmac, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { VerifiedCredentials } from '../../src/crypto/verified-credentials.js';

const HASH = '$2b$10$abcdefghijklmnopqrstuuJ1Y0uJq8sJ6l1xG2mJk0m3QnVd7m9K.';
const clock = () => {
  let t = 1_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
};

describe('VerifiedCredentials: proofs', () => {
  const cache = new VerifiedCredentials({ ttlMs: 60_000 });

  it('a proof depends on the key name, the stored hash and the secret, and on nothing else', () => {
    const base = cache.proof('kg:key:k1', HASH, 's3cret');
    expect(cache.proof('kg:key:k1', HASH, 's3cret')).toEqual(base);
    expect(cache.proof('kg:key:k2', HASH, 's3cret')).not.toEqual(base);
    expect(cache.proof('kg:key:k1', `${HASH.slice(0, -1)}X`, 's3cret')).not.toEqual(base);
    expect(cache.proof('kg:key:k1', HASH, 's3cret!')).not.toEqual(base);
    // Lengths are prefixed: moving a character from one part to the next is a different proof.
    expect(cache.proof('kg:key:k1', HASH, 's3cret')).not.toEqual(
      cache.proof('kg:key:k', `1${HASH}`, 's3cret'),
    );
  });

  it('proofs are keyed: another cache key gives another proof, and never contains the secret', () => {
    const other = new VerifiedCredentials({ ttlMs: 60_000 });
    const proof = cache.proof('kg:key:k1', HASH, 's3cret');
    expect(other.proof('kg:key:k1', HASH, 's3cret')).not.toEqual(proof);
    expect(proof).toHaveLength(32);
    expect(proof.toString('latin1')).not.toContain('s3cret');
  });

  it('a proof is HMAC-SHA256 under the cache key of the length-prefixed parts (proofs in Redis stay valid)', () => {
    // The encoding every version has used: proofs kept in Redis by another instance must match.
    const hmac = (key: Buffer, parts: string[]) => {
      const h = createHmac('sha256', key);
      for (const part of parts) {
        const bytes = Buffer.from(part, 'utf8');
        const length = Buffer.alloc(4);
        length.writeUInt32BE(bytes.length);
        h.update(length).update(bytes);
      }
      return h.digest();
    };
    const cases: [string, string, string][] = [
      ['kg:key:k1', HASH, 's3cret'],
      ['', '', ''],
      ['kg:key:ü', HASH, 'sécret 秘密 🔑 \ud800'], // multi-byte, astral, a lone surrogate (U+FFFD)
      ['kg:key:long', HASH, 'x'.repeat(2000)], // longer than the scratch space it starts with
    ];
    // Keys shorter than, equal to and longer than SHA-256's block (64 bytes: hashed first, RFC 2104).
    for (const key of [randomBytes(32), randomBytes(64), randomBytes(100)]) {
      const cache = new VerifiedCredentials({ ttlMs: 60_000, key });
      for (const parts of cases) {
        expect(cache.proof(...parts)).toEqual(hmac(key, parts));
        // The secret given as its UTF-8 bytes (a warm reconnect's password) is the same proof.
        const [keyName, hash, secret] = parts;
        expect(cache.proof(keyName, hash, Buffer.from(secret, 'utf8'))).toEqual(hmac(key, parts));
      }
    }
  });

  it('an attached proof is recognised from the secret as a string or as its bytes, and not from another', () => {
    const cache = new VerifiedCredentials<string>({ ttlMs: 60_000 });
    const secret = 'sécret 秘密 🔑';
    cache.remember('k1', cache.proof('kg:key:k1', 'fp', secret));
    cache.attach('k1', 'fp', 'record');
    const attachment = cache.attachment('k1');
    if (attachment === undefined) throw new Error('attached');
    expect(cache.recognisesAttached(attachment, 'kg:key:k2', secret)).toBe(false);
    expect(cache.recognisesAttached(attachment, 'kg:key:k1', `${secret}!`)).toBe(false);
    expect(cache.recognisesAttached(attachment, 'kg:key:k1', secret)).toBe(true);
    // From here on the entry is sealed: the same answers from the seal.
    expect(cache.recognisesAttached(attachment, 'kg:key:k1', secret)).toBe(true);
    expect(cache.recognisesAttached(attachment, 'kg:key:k1', Buffer.from(secret, 'utf8'))).toBe(true);
    expect(cache.recognisesAttached(attachment, 'kg:key:k1', `${secret}!`)).toBe(false);
    expect(cache.recognisesAttached(attachment, 'kg:key:k1', Buffer.from(`${secret} `, 'utf8'))).toBe(false);
    expect(cache.recognisesAttached(attachment, 'kg:key:k1', '')).toBe(false);
  });

  it('a sealed entry still expires, and loses its seal with its attachment', () => {
    let now = 1_000_000;
    const cache = new VerifiedCredentials<string>({ ttlMs: 60_000, now: () => now });
    const secret = 'the-secret';
    cache.remember('k1', cache.proof('kg:key:k1', 'fp', secret));
    cache.attach('k1', 'fp', 'record');
    const attachment = cache.attachment('k1');
    if (attachment === undefined) throw new Error('attached');
    expect(cache.recognisesAttached(attachment, 'kg:key:k1', secret)).toBe(true); // seals
    // The key's hash changed (a new secret set in Redis): attached again under the new hash, the old
    // seal must not answer for it — the HMAC over the new hash decides, and the proof was not made for it.
    cache.attach('k1', 'fp2', 'record 2');
    const again = cache.attachment('k1');
    if (again === undefined) throw new Error('attached again');
    expect(cache.recognisesAttached(again, 'kg:key:k1', secret)).toBe(false);
    // Detached and attached under the proof's own hash: recognised (and sealed) again from the HMAC.
    cache.detach('k1');
    expect(cache.attachment('k1')).toBeUndefined();
    cache.attach('k1', 'fp', 'record');
    const third = cache.attachment('k1');
    if (third === undefined) throw new Error('attached a third time');
    expect(cache.recognisesAttached(third, 'kg:key:k1', secret)).toBe(true);
    expect(cache.recognisesAttached(third, 'kg:key:k1', secret)).toBe(true);
    // Sealed, the entry still answers the Redis path's question (the proof) and still expires.
    expect(cache.recognises('k1', cache.proof('kg:key:k1', 'fp', secret))).toBe(true);
    expect(cache.recognises('k1', cache.proof('kg:key:k1', 'fp', 'another'))).toBe(false);
    now += 59_000;
    expect(cache.attachment('k1')).toBeDefined();
    now += 1_001;
    expect(cache.attachment('k1')).toBeUndefined();
    expect(cache.recognises('k1', cache.proof('kg:key:k1', 'fp', secret))).toBe(false);
  });

  it('detachAll drops every seal with the attachments', () => {
    const cache = new VerifiedCredentials<string>({ ttlMs: 60_000 });
    cache.remember('k1', cache.proof('kg:key:k1', 'fp', 'one'));
    cache.attach('k1', 'fp', 'record');
    const attachment = cache.attachment('k1');
    if (attachment === undefined) throw new Error('attached');
    expect(cache.recognisesAttached(attachment, 'kg:key:k1', 'one')).toBe(true); // seals
    cache.detachAll();
    expect(cache.attachment('k1')).toBeUndefined();
    cache.attach('k1', 'fp2', 'record 2');
    const again = cache.attachment('k1');
    if (again === undefined) throw new Error('attached again');
    expect(cache.recognisesAttached(again, 'kg:key:k1', 'one')).toBe(false);
  });

  it('refuses a cache key shorter than 32 bytes, and a TTL of 0', () => {
    expect(() => new VerifiedCredentials({ ttlMs: 1000, key: randomBytes(31) })).toThrow(/32 bytes/);
    expect(() => new VerifiedCredentials({ ttlMs: 0 })).toThrow(RangeError);
  });
});

describe('VerifiedCredentials: remembering', () => {
  it('recognises only the remembered proof of that key, until it expires', () => {
    const { now, advance } = clock();
    const cache = new VerifiedCredentials({ ttlMs: 10_000, now });
    const right = cache.proof('k1', HASH, 'right');
    const wrong = cache.proof('k1', HASH, 'wrong');
    expect(cache.recognises('k1', right)).toBe(false);
    cache.remember('k1', right);
    expect(cache.recognises('k1', right)).toBe(true);
    expect(cache.recognises('k1', wrong)).toBe(false);
    expect(cache.recognises('k2', right)).toBe(false);
    advance(9_999);
    expect(cache.recognises('k1', right)).toBe(true);
    advance(1);
    expect(cache.recognises('k1', right)).toBe(false);
    expect(cache.size).toBe(0);
  });

  it('a proof read from Redis counts only when the cache key is shared (given), and is then kept', () => {
    const key = randomBytes(32);
    const shared = new VerifiedCredentials({ ttlMs: 10_000, key });
    const sibling = new VerifiedCredentials({ ttlMs: 10_000, key });
    const local = new VerifiedCredentials({ ttlMs: 10_000 });
    const proof = sibling.proof('k1', HASH, 'right');
    const stored = proof.toString('base64url');
    expect(shared.recognises('k1', shared.proof('k1', HASH, 'right'), stored)).toBe(true);
    expect(shared.recognises('k1', shared.proof('k1', HASH, 'right'))).toBe(true); // now in memory
    expect(shared.recognises('k1', shared.proof('k1', HASH, 'wrong'), stored)).toBe(false);
    expect(shared.recognises('k1', shared.proof('k1', HASH, 'right'), 'garbage')).toBe(true);
    expect(local.recognises('k1', local.proof('k1', HASH, 'right'), stored)).toBe(false);
    expect(new VerifiedCredentials({ ttlMs: 1, key }).recognises('k1', proof, 'not base64')).toBe(false);
  });

  it('keeps at most maxEntries, forgetting the oldest', () => {
    const cache = new VerifiedCredentials({ ttlMs: 10_000, maxEntries: 2 });
    const p = (k: string) => cache.proof(k, HASH, 's');
    cache.remember('a', p('a'));
    cache.remember('b', p('b'));
    cache.remember('c', p('c'));
    expect(cache.size).toBe(2);
    expect(cache.recognises('a', p('a'))).toBe(false);
    expect(cache.recognises('c', p('c'))).toBe(true);
    cache.forget('c');
    expect(cache.recognises('c', p('c'))).toBe(false);
  });

  it('runs one verification for concurrent identical credentials', async () => {
    const cache = new VerifiedCredentials({ ttlMs: 10_000 });
    let runs = 0;
    const verify = () => {
      runs++;
      return new Promise<boolean>((resolve) => setTimeout(() => resolve(true), 20));
    };
    const proof = cache.proof('k1', HASH, 's');
    const results = await Promise.all(Array.from({ length: 10 }, () => cache.once(proof, verify)));
    expect(results).toEqual(Array(10).fill(true));
    expect(runs).toBe(1);
    await cache.once(proof, verify);
    expect(runs).toBe(2);
    await cache.once(cache.proof('k1', HASH, 'other'), verify);
    expect(runs).toBe(3);
  });
});
