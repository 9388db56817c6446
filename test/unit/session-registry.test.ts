/**
 * SessionRegistry's indexes hold a client's session itself under an ID with one client and a Set only when
 * there are more (issue 7: heap per connection). What callers see must not depend on that.
 */
import { EventEmitter } from 'node:events';
import type { Client } from 'aedes';
import { describe, expect, it } from 'vitest';
import { createSession, type Session, SessionRegistry } from '../../src/hooks/sessions.js';

/**
 * A stand-in aedes client, of `broker` when given (aedes reports a registered client gone with
 * 'clientDisconnect'); without one, it leaves the indexes only lazily, once marked closed.
 */
function client(broker?: EventEmitter): Client & { closed: boolean } {
  return { closed: false, broker } as unknown as Client & { closed: boolean };
}

function session(deviceId: string, accessKey: string): Session {
  return createSession(deviceId, accessKey, 'f', {} as Session['principal']);
}

describe('SessionRegistry', () => {
  it('finds one client by key and by device, and forgets it once closed', () => {
    const registry = new SessionRegistry();
    const a = client();
    registry.open(a, session('d1', 'k1'));
    expect(registry.withKey('k1')).toEqual([a]);
    expect(registry.withDevice('d1')).toEqual([a]);
    expect(registry.keys()).toEqual(['k1']);
    a.closed = true;
    expect(registry.withKey('k1')).toEqual([]);
    expect(registry.withDevice('d1')).toEqual([]);
    expect(registry.keys()).toEqual([]);
  });

  it('keeps every client of a shared key, drops closed ones, and accepts new ones after', () => {
    const registry = new SessionRegistry();
    const [a, b, c] = [client(), client(), client()];
    registry.open(a, session('d1', 'fleet'));
    registry.open(b, session('d2', 'fleet'));
    registry.open(c, session('d3', 'fleet'));
    expect(registry.withKey('fleet')).toEqual([a, b, c]);
    b.closed = true;
    expect(registry.withKey('fleet')).toEqual([a, c]);
    c.closed = true;
    expect(registry.withKey('fleet')).toEqual([a]);
    const d = client();
    registry.open(d, session('d4', 'fleet'));
    expect(registry.withKey('fleet')).toEqual([a, d]);
    a.closed = true;
    d.closed = true;
    expect(registry.withKey('fleet')).toEqual([]);
    expect(registry.keys()).toEqual([]);
  });

  it('a takeover: two clients of one device, then the old one closes', () => {
    const registry = new SessionRegistry();
    const [old, taker] = [client(), client()];
    registry.open(old, session('d1', 'k1'));
    registry.open(taker, session('d1', 'k1'));
    expect(registry.withDevice('d1')).toEqual([old, taker]);
    old.closed = true;
    expect(registry.withDevice('d1')).toEqual([taker]);
    expect(registry.withKey('k1')).toEqual([taker]);
  });

  it('opening the same client twice lists it once', () => {
    const registry = new SessionRegistry();
    const a = client();
    registry.open(a, session('d1', 'k1'));
    registry.open(a, session('d1', 'k1'));
    expect(registry.withKey('k1')).toEqual([a]);
    expect(registry.get(a)?.deviceId).toBe('d1');
  });

  it('a device reconnecting over and over holds one entry, not one per dead connection', () => {
    const registry = new SessionRegistry();
    for (let i = 0; i < 1000; i++) {
      const connection = client();
      registry.open(connection, session('d1', 'k1'));
      connection.closed = true;
    }
    expect(registry.indexed).toEqual({ byKey: 1, byDevice: 1 });
    expect(registry.withKey('k1')).toEqual([]);
  });

  it('a fleet on one key reconnecting over and over: dead connections are dropped as it goes', () => {
    const registry = new SessionRegistry();
    const live = Array.from({ length: 10 }, () => client());
    for (const [i, c] of live.entries()) registry.open(c, session(`fleet-${i}`, 'fleet'));
    for (let i = 0; i < 5000; i++) {
      const connection = client();
      registry.open(connection, session(`churn-${i % 50}`, 'fleet'));
      connection.closed = true;
    }
    // Never more than twice what was live at the last sweep, plus what came since.
    expect(registry.indexed.byKey).toBeLessThanOrEqual(64);
    expect(registry.withKey('fleet')).toEqual(live);
  });

  it('sweep() forgets the closed clients of devices that never came back', () => {
    const registry = new SessionRegistry();
    const gone = Array.from({ length: 100 }, (_, i) => {
      const c = client();
      registry.open(c, session(`d${i}`, `k${i}`));
      return c;
    });
    const stays = client();
    registry.open(stays, session('d-live', 'k-live'));
    for (const c of gone) c.closed = true;
    expect(registry.indexed).toEqual({ byKey: 101, byDevice: 101 });
    registry.sweep();
    expect(registry.indexed).toEqual({ byKey: 1, byDevice: 1 });
    expect(registry.withDevice('d-live')).toEqual([stays]);
  });

  it("drops a client from the indexes as soon as its broker reports it gone ('clientDisconnect')", () => {
    const registry = new SessionRegistry();
    const broker = new EventEmitter();
    const [a, b, c] = [client(broker), client(broker), client(broker)];
    registry.open(a, session('d1', 'k1'));
    registry.open(b, session('d2', 'fleet'));
    registry.open(c, session('d3', 'fleet'));
    expect(broker.listenerCount('clientDisconnect')).toBe(1); // followed once, not once per client
    // Not marked closed: the report alone empties the indexes (nothing waits for a look-up or a sweep).
    broker.emit('clientDisconnect', a);
    broker.emit('clientDisconnect', b);
    expect(registry.indexed).toEqual({ byKey: 1, byDevice: 1 });
    expect(registry.withKey('fleet')).toEqual([c]);
    expect(registry.withDevice('d1')).toEqual([]);
    // The session itself stays readable for hooks still running for the client (its will, say).
    expect(registry.get(a)?.deviceId).toBe('d1');
    broker.emit('clientDisconnect', c);
    expect(registry.indexed).toEqual({ byKey: 0, byDevice: 0 });
  });

  it('a report of a client it never opened, or of one taken over, leaves the others alone', () => {
    const registry = new SessionRegistry();
    const broker = new EventEmitter();
    const [old, taker, stranger] = [client(broker), client(broker), client(broker)];
    registry.open(old, session('d1', 'k1'));
    registry.open(taker, session('d1', 'k1'));
    broker.emit('clientDisconnect', stranger);
    broker.emit('clientDisconnect', old);
    expect(registry.withDevice('d1')).toEqual([taker]);
    expect(registry.indexed).toEqual({ byKey: 1, byDevice: 1 });
  });

  // The indexes hold sessions, and a session points at its client only while indexed: a Map or Set that
  // held a client could keep it alive for V8's scavenger after the client left (issue 7, target 3).
  it('a session lets go of its client whichever way the client leaves the indexes', () => {
    const registry = new SessionRegistry();
    const broker = new EventEmitter();
    const [reported, lookedUp, swept, replaced, inSet] = [
      client(broker),
      client(broker),
      client(broker),
      client(broker),
      client(broker),
    ];
    const sessions = [reported, lookedUp, swept, replaced, inSet].map((c, i) => {
      const opened = session(`d${i + 1}`, i === 4 ? 'fleet' : `k${i + 1}`);
      registry.open(c, opened);
      expect(opened.client).toBe(c);
      return opened;
    });
    const others = Array.from({ length: 8 }, (_, i) => {
      const other = client(broker);
      registry.open(other, session(`fleet-${i}`, 'fleet'));
      return other;
    });
    broker.emit('clientDisconnect', reported);
    lookedUp.closed = true;
    expect(registry.withDevice('d2')).toEqual([]);
    swept.closed = true;
    registry.sweep();
    replaced.closed = true;
    const successor = client(broker);
    registry.open(successor, session('d4', 'k4'));
    inSet.closed = true;
    expect(registry.withKey('fleet')).toEqual(others);
    for (const gone of sessions) expect(gone.client).toBeNull();
    expect(registry.withDevice('d4')).toEqual([successor]);
    // Still readable by the hooks that run for a closed client (its will, say).
    expect(registry.get(reported)?.deviceId).toBe('d1');
  });
});
