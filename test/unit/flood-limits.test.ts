import { describe, expect, it } from 'vitest';
import { FloodLimits, type FloodSettings, type FloodState } from '../../src/hooks/flood-limits.js';

function limits(settings: Partial<FloodSettings> = {}) {
  const clock = { now: 1_000_000 };
  const floods = new FloodLimits(
    { maxPayloadBytes: 100, rateLimit: 3, rateWindowMs: 1000, banMs: 1000, banMaxMs: 4000, ...settings },
    () => clock.now,
  );
  return { floods, clock };
}

const connection = (): FloodState => ({ floodWindowStart: 0, floodCount: 0, floodViolation: undefined });

/** Sends `n` PUBLISHes of `bytes` on `state`; returns the verdict of each. */
function send(floods: FloodLimits, state: FloodState, n: number, bytes = 10) {
  return Array.from({ length: n }, () => floods.check(state, bytes) ?? 'ok');
}

describe('FloodLimits: payload size', () => {
  it('passes a payload of exactly maxPayloadBytes and refuses one byte more', () => {
    const { floods } = limits({ rateLimit: 0 });
    const state = connection();
    expect(floods.check(state, 100)).toBeUndefined();
    expect(floods.check(state, 0)).toBeUndefined();
    expect(floods.check(state, 101)).toBe('KG_ERR_PAYLOAD_TOO_LARGE');
    expect(floods.payloadAllowed(100)).toBe(true);
    expect(floods.payloadAllowed(101)).toBe(false);
  });

  it('0 = no payload limit', () => {
    const { floods } = limits({ maxPayloadBytes: 0, rateLimit: 0 });
    expect(floods.check(connection(), 268_435_455)).toBeUndefined();
    expect(floods.payloadAllowed(268_435_455)).toBe(true);
    expect(floods.enabled).toBe(false);
  });
});

describe('FloodLimits: rate (fixed window per connection, opened by its first PUBLISH)', () => {
  it('passes exactly rateLimit PUBLISHes in a window and refuses the next', () => {
    const { floods } = limits();
    expect(send(floods, connection(), 4)).toEqual(['ok', 'ok', 'ok', 'KG_ERR_RATE_LIMITED']);
  });

  it('opens a new window rateWindowMs after the first PUBLISH of the last one, not before', () => {
    const { floods, clock } = limits();
    const state = connection();
    expect(send(floods, state, 3)).toEqual(['ok', 'ok', 'ok']);
    clock.now += 999; // last millisecond of the window
    expect(floods.check(state, 10)).toBe('KG_ERR_RATE_LIMITED');

    const fresh = connection();
    expect(send(floods, fresh, 3)).toEqual(['ok', 'ok', 'ok']);
    clock.now += 1000; // the window that began 1000 ms ago has ended
    expect(send(floods, fresh, 4)).toEqual(['ok', 'ok', 'ok', 'KG_ERR_RATE_LIMITED']);
  });

  it('anchors the window at the first PUBLISH, not at the connection or the clock', () => {
    const { floods, clock } = limits();
    const state = connection();
    clock.now += 5_000; // a quiet connection
    expect(send(floods, state, 2)).toEqual(['ok', 'ok']);
    clock.now += 600;
    expect(floods.check(state, 10)).toBeUndefined(); // 3rd in the window that began 600 ms ago
    clock.now += 399;
    expect(floods.check(state, 10)).toBe('KG_ERR_RATE_LIMITED');
  });

  it('a device sending at the limit for many windows is never refused', () => {
    const { floods, clock } = limits();
    const state = connection();
    const verdicts: string[] = [];
    for (let i = 0; i < 30; i++) {
      verdicts.push(...send(floods, state, 3));
      clock.now += 1000;
    }
    expect(verdicts.every((v) => v === 'ok')).toBe(true);
  });

  it('counts each connection on its own', () => {
    const { floods } = limits();
    const a = connection();
    const b = connection();
    expect(send(floods, a, 4).at(-1)).toBe('KG_ERR_RATE_LIMITED');
    expect(send(floods, b, 3)).toEqual(['ok', 'ok', 'ok']);
  });

  it('0 = no rate limit', () => {
    const { floods } = limits({ rateLimit: 0 });
    expect(send(floods, connection(), 10_000).every((v) => v === 'ok')).toBe(true);
    expect(floods.enabled).toBe(true); // the payload limit is still on
  });
});

describe('FloodLimits: back-off', () => {
  it('backs a device off for banMs; other devices are not', () => {
    const { floods, clock } = limits();
    expect(floods.backedOff('dev-1')).toBeUndefined();
    expect(floods.backOff('dev-1')).toEqual({ ms: 1000, until: clock.now + 1000 });
    expect(floods.backedOff('dev-1')).toEqual({ ms: 1000, until: clock.now + 1000 });
    expect(floods.backedOff('dev-2')).toBeUndefined();
    clock.now += 999;
    expect(floods.backedOff('dev-1')).toBeDefined();
    clock.now += 1;
    expect(floods.backedOff('dev-1')).toBeUndefined();
  });

  it('doubles on each repeated violation, capped at banMaxMs', () => {
    const { floods, clock } = limits();
    const lengths: number[] = [];
    for (let i = 0; i < 5; i++) {
      const { ms } = floods.backOff('dev-1');
      lengths.push(ms);
      clock.now += ms; // reconnects as soon as allowed, and floods again
    }
    expect(lengths).toEqual([1000, 2000, 4000, 4000, 4000]);
  });

  it('starts again at banMs once banMaxMs has passed since the last violation', () => {
    const { floods, clock } = limits();
    floods.backOff('dev-1');
    clock.now += 1000;
    expect(floods.backOff('dev-1').ms).toBe(2000);
    clock.now += 4001;
    expect(floods.backOff('dev-1').ms).toBe(1000);
  });

  it('a violation during a back-off does not extend it', () => {
    const { floods, clock } = limits();
    const first = floods.backOff('dev-1');
    clock.now += 500;
    expect(floods.backOff('dev-1')).toEqual(first);
  });

  it('remembers at most maxEntries devices', () => {
    const { floods } = limits({ maxEntries: 2 });
    for (const id of ['a', 'b', 'c']) floods.backOff(id);
    expect(floods.size).toBe(2);
    expect(floods.backedOff('a')).toBeUndefined();
    expect(floods.backedOff('c')).toBeDefined();
  });
});
