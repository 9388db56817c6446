/**
 * DeliveryGuard (the memoised per-delivery check behind authorizeForward) against the pure policy it
 * implements: `guard.allows(session, topic)` must equal `decideDelivery(principal, directory.lookup, root,
 * topic).allowed` for every principal and topic, on repeated calls (memo hits) and after every change of
 * the device directory (the memo follows `generation`).
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { DeliveryGuard } from '../../src/hooks/delivery-guard.js';
import { createSession, type Session } from '../../src/hooks/sessions.js';
import { decideDelivery } from '../../src/policy/authorization.js';
import { DeviceDirectory } from '../../src/store/device-directory.js';
import { Keyspace } from '../../src/store/keyspace.js';
import { ProblemLog } from '../../src/store/problem-log.js';
import type { RedisHash } from '../../src/store/records.js';
import { DEVICE_HASHES, generatedTopics, KEYS, PRINCIPAL_SPECS, ROOT } from './policy-world.js';

function newDirectory(): DeviceDirectory {
  const directory = new DeviceDirectory(
    null as never,
    new Keyspace('t:'),
    new ProblemLog(pino({ level: 'silent' })),
  );
  for (const [id, hash] of Object.entries(DEVICE_HASHES)) directory.apply(id, hash);
  return directory;
}

/** One session per fixture principal; the device record is the directory's at connect time. */
function newSessions(directory: DeviceDirectory): Map<string, Session> {
  const sessions = new Map<string, Session>();
  for (const [deviceId, keyName] of PRINCIPAL_SPECS) {
    const device = directory.get(deviceId);
    const key = KEYS.get(keyName);
    if (device === undefined || key === undefined) throw new Error(`test setup: ${deviceId}~${keyName}`);
    sessions.set(
      `${deviceId}~${keyName}`,
      createSession(deviceId, keyName, 'not-a-real-fingerprint', { device, key }),
    );
  }
  return sessions;
}

const TOPICS = generatedTopics([...Object.keys(DEVICE_HASHES), 'ghost', 'ghost-2']);

/** Every (session, topic) pair where the guard disagrees with decideDelivery. */
function disagreements(
  guard: DeliveryGuard,
  directory: DeviceDirectory,
  sessions: ReadonlyMap<string, Session>,
  root = ROOT,
  topics: readonly string[] = TOPICS,
): string[] {
  const out: string[] = [];
  for (const [name, session] of sessions) {
    for (const topic of topics) {
      const expected = decideDelivery(session.principal, directory.lookup, root, topic).allowed;
      const got = guard.allows(session, topic);
      if (got !== expected) out.push(`${name} ${topic}: guard ${got}, policy ${expected}`);
    }
  }
  return out;
}

function countAllowed(guard: DeliveryGuard, sessions: ReadonlyMap<string, Session>): number {
  let n = 0;
  for (const session of sessions.values()) for (const topic of TOPICS) if (guard.allows(session, topic)) n++;
  return n;
}

describe('DeliveryGuard equals decideDelivery', () => {
  it('covers thousands of (principal, topic) pairs', () => {
    expect(PRINCIPAL_SPECS.length * TOPICS.length).toBeGreaterThan(5000);
  });

  it('on a cold memo, and again on warm memos (hits), in either order', () => {
    const directory = newDirectory();
    const guard = new DeliveryGuard(directory, ROOT);
    const sessions = newSessions(directory);
    expect(disagreements(guard, directory, sessions)).toEqual([]);
    expect(disagreements(guard, directory, sessions)).toEqual([]);
    expect(disagreements(guard, directory, sessions, ROOT, [...TOPICS].reverse())).toEqual([]);
    for (const session of sessions.values()) {
      expect(session.memoGeneration).toBe(directory.generation);
      expect(session.memo?.size).toBeGreaterThan(0);
    }
  });

  it('with a fresh guard per topic order (the topic cache is shared across sessions)', () => {
    const directory = newDirectory();
    const sessions = newSessions(directory);
    const guard = new DeliveryGuard(directory, ROOT);
    // Interleave sessions per topic rather than topics per session.
    const out: string[] = [];
    for (const topic of TOPICS) {
      for (const [name, session] of sessions) {
        const expected = decideDelivery(session.principal, directory.lookup, ROOT, topic).allowed;
        if (guard.allows(session, topic) !== expected) out.push(`${name} ${topic}`);
      }
    }
    expect(out).toEqual([]);
  });

  it('allows something and refuses something for every session', () => {
    const directory = newDirectory();
    const guard = new DeliveryGuard(directory, ROOT);
    for (const [name, session] of newSessions(directory)) {
      const answers = new Set(TOPICS.map((t) => guard.allows(session, t)));
      expect([name, [...answers].sort()]).toEqual([name, [false, true]]);
    }
  });

  it('under another topic root', () => {
    const directory = newDirectory();
    const guard = new DeliveryGuard(directory, 'acme');
    const sessions = newSessions(directory);
    const topics = [...TOPICS, ...TOPICS.map((t) => t.replace(/^losant(?=\/|$)/, 'acme'))];
    expect(disagreements(guard, directory, sessions, 'acme', topics)).toEqual([]);
  });
});

/** Directory changes, each applied after every memo is warm. */
const CHANGES: readonly (readonly [label: string, id: string, hash: RedisHash | undefined | 'wrongtype'])[] =
  [
    ['thermo-2 moves to floor 3', 'thermo-2', { tags: 'floor=3' }],
    ['p-1 is deleted', 'p-1', undefined],
    ['p-2 moves to gateway gw-1', 'p-2', { type: 'peripheral', gateway: 'gw-1', tags: 'floor=3' }],
    ['p-star becomes a standalone device', 'p-star', { type: 'standalone', tags: 'room=kitchen' }],
    ['ghost registers on floor 3', 'ghost', { tags: 'floor=3' }],
    ['lamp-9 becomes a key that is not a hash', 'lamp-9', 'wrongtype'],
    ['note-2 gets a tag value with =', 'note-2', { tags: 'note=a=b' }],
    ['p-float is pinned to gw-2', 'p-float', { type: 'peripheral', gateway: 'gw-2', tags: 'floor=3' }],
    ['multi gets malformed tags (removed: deny)', 'multi', { tags: 'floor' }],
    ['thermo-1 loses its tags', 'thermo-1', { tags: '' }],
    ['command gains a floor tag', 'command', { tags: 'room=hall,floor=3' }],
    ['p-out leaves floor 9 for floor 3', 'p-out', { type: 'peripheral', gateway: 'gw-1', tags: 'floor=3' }],
    ['p-1 comes back as a floating peripheral', 'p-1', { type: 'peripheral', tags: 'floor=3' }],
    ['ghost is deleted (an empty hash)', 'ghost', {}],
    ['gw-2 is deleted', 'gw-2', undefined],
    ['thermo-2 moves back to floor 4', 'thermo-2', { tags: 'floor=4' }],
  ];

describe('DeliveryGuard follows the device directory', () => {
  it.each(CHANGES.map((change, i) => [i + 1, ...change] as const))(
    'after change %i (%s) and all earlier ones',
    (count, _label) => {
      const directory = newDirectory();
      const guard = new DeliveryGuard(directory, ROOT);
      const sessions = newSessions(directory);
      for (const [, id, hash] of CHANGES.slice(0, count)) {
        // Warm every memo on the old records, then change one.
        expect(disagreements(guard, directory, sessions)).toEqual([]);
        const before = directory.generation;
        directory.apply(id, hash);
        expect(directory.generation).toBeGreaterThan(before);
        expect(disagreements(guard, directory, sessions)).toEqual([]);
        expect(disagreements(guard, directory, sessions)).toEqual([]);
      }
    },
  );

  it('changes what is delivered (the test is not vacuous)', () => {
    const directory = newDirectory();
    const guard = new DeliveryGuard(directory, ROOT);
    const sessions = newSessions(directory);
    const session = (name: string): Session => {
      const s = sessions.get(name);
      if (s === undefined) throw new Error(name);
      return s;
    };
    const byTag = session('thermo-1~byTag');
    const gateway = session('gw-1~gatewayByTag');
    const unrestricted = session('thermo-1~unrestricted');

    expect(guard.allows(byTag, 'losant/thermo-2/state')).toBe(false);
    expect(guard.allows(byTag, 'losant/p-1/state')).toBe(true);
    expect(guard.allows(gateway, 'losant/p-2/message')).toBe(false);
    expect(guard.allows(gateway, 'losant/p-1/message')).toBe(true);
    expect(guard.allows(unrestricted, 'losant/ghost/state')).toBe(false);
    expect(guard.allows(unrestricted, 'losant/lamp-9/state')).toBe(true);
    const allowedBefore = countAllowed(guard, sessions);

    directory.apply('thermo-2', { tags: 'floor=3' });
    expect(guard.allows(byTag, 'losant/thermo-2/state')).toBe(true);
    expect(guard.allows(byTag, 'losant/thermo-2/message')).toBe(false);

    directory.apply('p-1', undefined);
    expect(guard.allows(byTag, 'losant/p-1/state')).toBe(false);
    expect(guard.allows(gateway, 'losant/p-1/message')).toBe(false);

    directory.apply('p-2', { type: 'peripheral', gateway: 'gw-1', tags: 'floor=3' });
    expect(guard.allows(gateway, 'losant/p-2/message')).toBe(true);

    directory.apply('ghost', { tags: 'x=y' });
    expect(guard.allows(unrestricted, 'losant/ghost/state')).toBe(true);
    expect(guard.allows(byTag, 'losant/ghost/state')).toBe(false);

    directory.apply('lamp-9', 'wrongtype');
    expect(guard.allows(unrestricted, 'losant/lamp-9/state')).toBe(false);

    // Own topics do not depend on the directory.
    directory.apply('thermo-1', undefined);
    expect(guard.allows(byTag, 'losant/thermo-1/x')).toBe(true);
    expect(guard.allows(unrestricted, 'losant/thermo-1/state')).toBe(true);

    expect(countAllowed(guard, sessions)).not.toBe(allowedBefore);
    expect(disagreements(guard, directory, sessions)).toEqual([]);
  });

  it('re-reading an unchanged record keeps the generation and the memo', () => {
    const directory = newDirectory();
    const guard = new DeliveryGuard(directory, ROOT);
    const sessions = newSessions(directory);
    expect(disagreements(guard, directory, sessions)).toEqual([]);
    const generation = directory.generation;
    const session = sessions.get('thermo-1~byTag');
    if (session === undefined) throw new Error('session');
    const memo = new Map(session.memo);
    directory.apply('thermo-2', { tags: 'floor=4', name: 'renamed' });
    expect(directory.generation).toBe(generation);
    expect(guard.allows(session, 'losant/thermo-2/state')).toBe(false);
    expect(session.memo).toEqual(memo);
    expect(disagreements(guard, directory, sessions)).toEqual([]);
  });

  it('drops a memo built on an older generation', () => {
    const directory = newDirectory();
    const guard = new DeliveryGuard(directory, ROOT);
    const [session] = newSessions(directory).values();
    if (session === undefined) throw new Error('session');
    guard.allows(session, 'losant/thermo-2/state');
    guard.allows(session, 'losant/lamp-9/state');
    expect(session.memo?.size).toBe(2);
    directory.apply('bare', { tags: 'x=1' });
    guard.allows(session, 'losant/thermo-2/state');
    expect(session.memoGeneration).toBe(directory.generation);
    expect([...(session.memo?.keys() ?? [])]).toEqual(['thermo-2']);
  });

  it.each([
    ['a custom topic', 'a/b'],
    ['an own topic', 'losant/thermo-1/state'],
    ['a `$` topic', '$SYS/x'],
    ['a topic under the root that is no device topic', 'losant/thermo-2'],
  ])('needs no memo entry for %s', (_label, topic) => {
    const directory = newDirectory();
    const guard = new DeliveryGuard(directory, ROOT);
    const session = newSessions(directory).get('thermo-1~all');
    if (session === undefined) throw new Error('session');
    guard.allows(session, topic);
    expect(session.memo).toBeUndefined();
  });
});
