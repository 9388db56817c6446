import { describe, expect, it } from 'vitest';
import { ConnectThrottle } from '../../src/hooks/connect-throttle.js';

function throttle(settings = {}) {
  const clock = { now: 1_000_000 };
  const t = new ConnectThrottle({ threshold: 3, banMs: 1000, banMaxMs: 4000, ...settings }, () => clock.now);
  return { t, clock };
}

const A = '10.0.0.1';
const B = '10.0.0.2';

describe('ConnectThrottle', () => {
  it('bans an address after `threshold` failures, for banMs', () => {
    const { t, clock } = throttle();
    expect(t.failure(A, 'k1', 'credentials')).toEqual([]);
    expect(t.failure(A, 'k2', 'credentials')).toEqual([]);
    expect(t.check(A, 'k3')).toBeUndefined();
    const bans = t.failure(A, 'k3', 'credentials');
    expect(bans).toEqual([{ scope: 'address', ms: 1000, until: clock.now + 1000 }]);
    expect(t.check(A, 'any')).toMatchObject({ scope: 'address' });
    expect(t.check(A, undefined)).toMatchObject({ scope: 'address' });
    expect(t.check(B, 'k1')).toBeUndefined();
    clock.now += 999;
    expect(t.check(A, 'k1')).toBeDefined();
    clock.now += 1;
    expect(t.check(A, 'k1')).toBeUndefined();
  });

  it('doubles the ban on each further offence, up to banMaxMs', () => {
    const { t, clock } = throttle();
    const offend = () => {
      let bans: ReturnType<typeof t.failure> = [];
      for (let i = 0; i < 3; i++) bans = t.failure(A, undefined, 'refused');
      clock.now += bans[0]?.ms ?? 0;
      return bans[0]?.ms;
    };
    expect([offend(), offend(), offend(), offend()]).toEqual([1000, 2000, 4000, 4000]);
  });

  it('forgets an address banMaxMs after its last failure: the next ban is short again', () => {
    const { t, clock } = throttle();
    for (let i = 0; i < 3; i++) t.failure(A, undefined, 'credentials');
    clock.now += 1000 + 4001;
    for (let i = 0; i < 2; i++) t.failure(A, undefined, 'credentials');
    expect(t.failure(A, undefined, 'credentials')[0]?.ms).toBe(1000);
  });

  it('a success restarts the failure count but keeps the ban level of the address', () => {
    const { t, clock } = throttle();
    for (let i = 0; i < 3; i++) t.failure(A, 'k', 'credentials');
    clock.now += 1000;
    t.failure(A, undefined, 'credentials');
    t.failure(A, undefined, 'credentials');
    t.success(A, 'good');
    expect(t.failure(A, undefined, 'credentials')).toEqual([]);
    t.failure(A, undefined, 'credentials');
    expect(t.failure(A, undefined, 'credentials')).toContainEqual(
      expect.objectContaining({ scope: 'address', ms: 2000 }),
    );
  });

  it('bans a key guessed from several addresses, but only for addresses with failures on record', () => {
    const { t } = throttle({ threshold: 3 });
    t.failure('10.1.0.1', 'k', 'credentials');
    t.failure('10.1.0.2', 'k', 'credentials');
    const bans = t.failure('10.1.0.3', 'k', 'credentials');
    expect(bans).toEqual([expect.objectContaining({ scope: 'key', ms: 1000 })]);
    expect(t.check('10.1.0.1', 'k')).toMatchObject({ scope: 'key' });
    expect(t.check('10.1.0.1', 'other')).toBeUndefined();
    // The device itself, from an address with a clean record, is not locked out.
    expect(t.check('192.168.7.7', 'k')).toBeUndefined();
    // An unknown address gets no benefit of the doubt.
    expect(t.check(undefined, 'k')).toMatchObject({ scope: 'key' });
  });

  it('a success drops the key record', () => {
    const { t } = throttle();
    t.failure('10.1.0.1', 'k', 'credentials');
    t.failure('10.1.0.2', 'k', 'credentials');
    t.success('10.9.9.9', 'k');
    expect(t.failure('10.1.0.3', 'k', 'credentials')).toEqual([]);
  });

  it('CONNACK 5 counts for the address only, not for the key', () => {
    const { t } = throttle();
    for (const a of ['10.1.0.1', '10.1.0.2', '10.1.0.3', '10.1.0.4']) t.failure(a, 'k', 'refused');
    expect(t.check('10.1.0.1', 'k')).toBeUndefined();
  });

  it('is off with threshold 0', () => {
    const { t } = throttle({ threshold: 0 });
    for (let i = 0; i < 100; i++) expect(t.failure(A, 'k', 'credentials')).toEqual([]);
    expect(t.check(A, 'k')).toBeUndefined();
    expect(t.size).toEqual({ addresses: 0, keys: 0 });
  });

  it('keeps at most maxEntries records, dropping the oldest', () => {
    const { t } = throttle({ maxEntries: 10, threshold: 2 });
    t.failure('10.0.0.0', undefined, 'credentials');
    for (let i = 1; i <= 10; i++) t.failure(`10.0.0.${i}`, `k${i}`, 'credentials');
    expect(t.size).toEqual({ addresses: 10, keys: 10 });
    // 10.0.0.0 was dropped: its next failure is its first again.
    expect(t.failure('10.0.0.0', undefined, 'credentials')).toEqual([]);
    expect(t.failure('10.0.0.10', undefined, 'credentials')).toHaveLength(1);
  });
});

describe('ConnectThrottle: verifications under way per address', () => {
  it('allows `threshold` at once per address, then refuses until one ends; off when disabled', () => {
    const throttle = new ConnectThrottle({ threshold: 2, banMs: 1000, banMaxMs: 4000 });
    expect(throttle.beginVerification('10.0.0.1')).toBe(true);
    expect(throttle.beginVerification('10.0.0.1')).toBe(true);
    expect(throttle.beginVerification('10.0.0.1')).toBe(false);
    expect(throttle.beginVerification('10.0.0.2')).toBe(true);
    expect(throttle.beginVerification(undefined)).toBe(true);
    throttle.endVerification('10.0.0.1');
    expect(throttle.beginVerification('10.0.0.1')).toBe(true);
    const off = new ConnectThrottle({ threshold: 0 });
    for (let i = 0; i < 10; i++) expect(off.beginVerification('10.0.0.1')).toBe(true);
  });
});
