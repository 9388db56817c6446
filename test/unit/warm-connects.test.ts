import { describe, expect, it } from 'vitest';
import { VerifiedCredentials } from '../../src/crypto/verified-credentials.js';
import { WarmConnects } from '../../src/hooks/warm-connects.js';
import type { KeyRecord } from '../../src/policy/model.js';
import { UNRESTRICTED } from '../../src/policy/restrictions.js';

// When a CONNECT may be decided from memory (src/hooks/warm-connects.ts), with a feed whose currency the
// test sets. The e2e counterpart (real Redis, redis-cli changes): test/e2e/warm-connects.test.ts.
const RECORD: KeyRecord = {
  active: true,
  scope: UNRESTRICTED,
  topicFilter: 'none',
  pubTopics: [],
  subTopics: [],
};

function setup() {
  const feed = { heard: true, heardWithin: () => feed.heard };
  let now = 1_000_000;
  const verified = new VerifiedCredentials<KeyRecord>({ ttlMs: 60_000 });
  const warm = new WarmConnects({ feed, verified, banMemoryMs: 10_000, now: () => now });
  const remembered = (accessKey: string) => {
    verified.remember(accessKey, verified.proof(`kg:key:${accessKey}`, 'fp', 's'));
  };
  return { feed, verified, warm, remembered, advance: (ms: number) => (now += ms) };
}

describe('WarmConnects', () => {
  it('nothing is decided from memory before the first resync has loaded', async () => {
    const { warm, remembered } = setup();
    remembered('k1');
    expect(warm.usable).toBe(false);
    expect(warm.token()).toBe(-1);
    warm.attach(warm.token(), 'k1', 'fp', RECORD);
    expect(warm.attachmentFor('k1', 'd1', '10.0.0.1')).toBeUndefined();
    await warm.resync(async () => ({ bans: [] }));
    expect(warm.usable).toBe(true);
    warm.attach(warm.token(), 'k1', 'fp', RECORD);
    expect(warm.attachmentFor('k1', 'd1', '10.0.0.1')).toMatchObject({ hashId: 'fp', value: RECORD });
  });

  it('a feed that has not proved itself current recently decides nothing', async () => {
    const { feed, warm, remembered } = setup();
    await warm.resync(async () => ({ bans: [] }));
    remembered('k1');
    warm.attach(warm.token(), 'k1', 'fp', RECORD);
    feed.heard = false;
    expect(warm.usable).toBe(false);
    expect(warm.attachmentFor('k1', 'd1', undefined)).toBeUndefined();
    feed.heard = true;
    expect(warm.attachmentFor('k1', 'd1', undefined)).toBeDefined();
  });

  it('a key found gone in Redis drops its record; a key memory does not hold changes nothing', async () => {
    const { warm, remembered } = setup();
    await warm.resync(async () => ({ bans: [] }));
    remembered('k1');
    remembered('k2');
    warm.attach(warm.token(), 'k1', 'fp', RECORD);
    const token = warm.token(); // a CONNECT of k2 starts reading Redis...
    warm.keyFoundGone('made-up'); // ...while a made-up key is refused: no key memory holds has changed
    warm.attach(token, 'k2', 'fp', RECORD);
    expect(warm.attachmentFor('k2', 'd2', undefined)).toBeDefined();
    warm.keyFoundGone('k1');
    expect(warm.attachmentFor('k1', 'd1', undefined)).toBeUndefined();
    expect(warm.attachmentFor('k2', 'd2', undefined)).toBeDefined();
  });

  it('a key change drops its record, and a read begun before any key change is not attached', async () => {
    const { warm, remembered } = setup();
    await warm.resync(async () => ({ bans: [] }));
    remembered('k1');
    remembered('k2');
    warm.attach(warm.token(), 'k1', 'fp', RECORD);
    const token = warm.token(); // a CONNECT of k2 starts reading Redis...
    warm.keyChanged('k1'); // ...a change of some key is announced meanwhile...
    warm.attach(token, 'k2', 'fp', RECORD); // ...so what it read is not trusted for later CONNECTs.
    expect(warm.attachmentFor('k1', 'd1', undefined)).toBeUndefined();
    expect(warm.attachmentFor('k2', 'd1', undefined)).toBeUndefined();
    warm.attach(warm.token(), 'k2', 'fp', RECORD);
    expect(warm.attachmentFor('k2', 'd1', undefined)).toBeDefined();
  });

  it('a device whose change is still being read goes to Redis until the read after it settles', async () => {
    const { warm, remembered } = setup();
    await warm.resync(async () => ({ bans: [] }));
    remembered('k1');
    warm.attach(warm.token(), 'k1', 'fp', RECORD);
    const first = warm.deviceChanging('d1');
    const second = warm.deviceChanging('d1');
    expect(warm.attachmentFor('k1', 'd1', undefined)).toBeUndefined();
    expect(warm.attachmentFor('k1', 'd2', undefined)).toBeDefined();
    warm.deviceSettled('d1', first); // read after the first change only
    expect(warm.attachmentFor('k1', 'd1', undefined)).toBeUndefined();
    warm.deviceSettled('d1', second);
    expect(warm.attachmentFor('k1', 'd1', undefined)).toBeDefined();
  });

  it('a ban noticed on the key or the address sends its CONNECTs to Redis for the longest ban', async () => {
    const { warm, remembered, advance } = setup();
    await warm.resync(async () => ({ bans: ['address:10.0.0.9'] }));
    remembered('k1');
    remembered('k2');
    warm.attach(warm.token(), 'k1', 'fp', RECORD);
    warm.attach(warm.token(), 'k2', 'fp', RECORD);
    expect(warm.attachmentFor('k1', 'd1', '10.0.0.9')).toBeUndefined(); // banned before the resync
    warm.banNoticed('key:k1');
    expect(warm.attachmentFor('k1', 'd1', '10.0.0.1')).toBeUndefined();
    expect(warm.attachmentFor('k2', 'd1', '10.0.0.1')).toBeDefined();
    advance(10_000);
    expect(warm.attachmentFor('k1', 'd1', '10.0.0.1')).toBeDefined();
    expect(warm.attachmentFor('k1', 'd1', '10.0.0.9')).toBeDefined();
  });

  it('losing the feed forgets every record; a resync is usable only once its load succeeded, retrying', async () => {
    const { warm, remembered } = setup();
    await warm.resync(async () => ({ bans: [] }));
    remembered('k1');
    warm.attach(warm.token(), 'k1', 'fp', RECORD);
    warm.lost();
    expect(warm.usable).toBe(false);
    let attempts = 0;
    await warm.resync(async () => {
      attempts++;
      if (attempts < 3) throw new Error('Stream is not writeable');
      return { bans: [] };
    }, 1);
    expect(attempts).toBe(3);
    expect(warm.usable).toBe(true);
    expect(warm.attachmentFor('k1', 'd1', undefined)).toBeUndefined(); // dropped, to be read again
  });

  it('a resync superseded while loading does not make memory usable', async () => {
    const { warm } = setup();
    let release = () => {};
    const slow = warm.resync(() => new Promise((resolve) => (release = () => resolve({ bans: [] }))));
    warm.lost();
    release();
    await slow;
    expect(warm.usable).toBe(false);
  });

  it('changes announced before the load began are settled by it; those announced during it are not', async () => {
    const { warm, remembered } = setup();
    remembered('k1');
    warm.deviceChanging('d1'); // announced before: the load reads d1 after the change
    let release = () => {};
    const loading = warm.resync(() => new Promise((resolve) => (release = () => resolve({ bans: [] }))));
    warm.deviceChanging('d2'); // announced while loading: what the load read of d2 may be older
    release();
    await loading;
    warm.attach(warm.token(), 'k1', 'fp', RECORD);
    expect(warm.attachmentFor('k1', 'd1', undefined)).toBeDefined();
    expect(warm.attachmentFor('k1', 'd2', undefined)).toBeUndefined();
  });

  it('proofs loaded from Redis at a resync admit their keys from memory, unless a key changed during the load', async () => {
    const feed = { heardWithin: () => true };
    const key = Buffer.alloc(32, 7);
    const verified = new VerifiedCredentials<KeyRecord>({ ttlMs: 60_000, key });
    const warm = new WarmConnects({ feed, verified, banMemoryMs: 10_000 });
    const proof = verified.proof('kg:key:k1', 'fp', 's').toString('base64url');
    const proven = [{ accessKey: 'k1', proof, fingerprint: 'fp', record: RECORD }];
    await warm.resync(async () => ({ bans: [], proven }));
    const attachment = warm.attachmentFor('k1', 'd1', undefined);
    expect(attachment).toMatchObject({ hashId: 'fp', value: RECORD });
    expect(verified.recognises('k1', verified.proof('kg:key:k1', 'fp', 's'))).toBe(true);
    expect(verified.recognises('k1', verified.proof('kg:key:k1', 'fp', 'guess'))).toBe(false);

    await warm.resync(async () => {
      warm.keyChanged('k2'); // announced while loading: what was read may be older
      return { bans: [], proven };
    });
    expect(warm.attachmentFor('k1', 'd1', undefined)).toBeUndefined();
    // Without a shared cache key nothing is adopted.
    const local = new VerifiedCredentials<KeyRecord>({ ttlMs: 60_000 });
    const alone = new WarmConnects({ feed, verified: local, banMemoryMs: 10_000 });
    await alone.resync(async () => ({ bans: [], proven }));
    expect(alone.attachmentFor('k1', 'd1', undefined)).toBeUndefined();
  });

  it('the periodic re-validation drops every record (changes Redis does not announce, such as FLUSHALL)', async () => {
    const { warm, remembered } = setup();
    await warm.resync(async () => ({ bans: [] }));
    remembered('k1');
    const token = warm.token();
    warm.attach(token, 'k1', 'fp', RECORD);
    warm.dropRecords();
    expect(warm.attachmentFor('k1', 'd1', undefined)).toBeUndefined();
    warm.attach(token, 'k1', 'fp', RECORD); // read before the drop: not trusted
    expect(warm.attachmentFor('k1', 'd1', undefined)).toBeUndefined();
  });
});
