import type { Client, ConnectPacket } from 'aedes';
import type { Principal } from '../policy/authorization.js';
import type { FloodState } from './flood-limits.js';

/** What keygate needs about a CONNECT before `authenticate` runs (Aedes has rewritten some of it by then). */
export interface ConnectInfo {
  /** The client ID exactly as sent: Aedes replaces an empty one with `aedes_<uuid>` before `authenticate`. */
  readonly rawClientId: string;
  /** The will, which is not yet on the client at `authenticate` time. */
  readonly will: ConnectPacket['will'];
}

/** A client that passed `authenticate`; its FloodState fields start at 0, 0, undefined. */
export interface Session extends FloodState {
  readonly deviceId: string;
  readonly accessKey: string;
  /**
   * SHA-256 of the bcrypt hash the secret was verified against — not the secret, not reversible to it —
   * so that a secret change in Redis can be recognised and the session revoked.
   */
  readonly secretFingerprint: string;
  /** The device and key records its authorization is decided on; replaced when they change in Redis. */
  principal: Principal;
  /** Set when keygate disconnects the session because its right to connect is gone: its will is refused. */
  revoked: boolean;
  /**
   * Per-delivery memo: device ID → what this session may see of that device (bits, see DeliveryGuard),
   * valid while the device directory's generation equals `memoGeneration`. Created on the first
   * delivery (most devices never receive another device's messages).
   */
  memo: Map<string, number> | undefined;
  memoGeneration: number;
  /**
   * The connection while SessionRegistry indexes this session (its indexes hold sessions, not clients);
   * null before it is opened and once its client is gone.
   */
  client: Client | null;
}

/** A session as a CONNECT opens it: not revoked, nothing memoised, no PUBLISH counted yet. */
export function createSession(
  deviceId: string,
  accessKey: string,
  secretFingerprint: string,
  principal: Principal,
): Session {
  return {
    deviceId,
    accessKey,
    secretFingerprint,
    principal,
    revoked: false,
    memo: undefined,
    memoGeneration: -1,
    floodWindowStart: 0,
    floodCount: 0,
    floodViolation: undefined,
    client: null,
  };
}

/**
 * Per-client state, keyed by the client object so that nothing outlives the connection, and indexed by
 * access key and by device ID so that a change in Redis finds the sessions it affects. A client leaves
 * the indexes when its broker reports it gone ('clientDisconnect'); the few closed clients aedes never
 * reports (closed before it registered them) leave lazily, on the next look-up or sweep.
 *
 * The indexes hold each client's Session, which points at its client only while indexed (`client`,
 * nulled when it leaves) — never the client itself. A Map or Set that held an object can keep it reachable
 * for V8's young-generation collector after `delete` (the mechanism: src/server/connection-list.ts).
 * Holding clients, the indexes kept every connection open at such a moment — aedes Client, socket, parser,
 * streams, ~20 KB — alive through the next scavenges and into the old generation: 3.3 KB promoted per warm
 * reconnect against bare aedes' 1.2 KB, scavenges twice as long (issue 7, target 3; docs/BENCHMARKS.md,
 * session 9). What such a Map keeps now is a few small sessions whose client is null.
 */
export class SessionRegistry {
  /** Only the CONNECTs that carry something `authenticate` cannot read off the client (see rememberConnect). */
  private readonly connects = new WeakMap<Client, ConnectInfo>();
  /** Whether keygate's preConnect hook has run: without it a will would go unchecked (fail closed). */
  private preConnectRan = false;
  private readonly sessions = new WeakMap<Client, Session>();
  private readonly byKey = new Map<string, Indexed>();
  private readonly byDevice = new Map<string, Indexed>();
  /** The brokers whose 'clientDisconnect' this registry follows (one, unless a process runs several). */
  private readonly followed = new WeakSet<object>();

  /**
   * Keeps what `authenticate` will need of this CONNECT — only when it has a will (not on the client yet
   * when `authenticate` runs) or an empty client ID (aedes has replaced it by then). Most CONNECTs have
   * neither, and keep nothing: a WeakMap entry per CONNECT was a measurable part of a warm reconnect
   * (issue 7, target 3).
   */
  rememberConnect(client: Client, info: ConnectInfo): void {
    this.preConnectRan = true;
    if (info.will || info.rawClientId === '') this.connects.set(client, info);
  }

  /**
   * What preConnect kept of this client's CONNECT: the client ID as sent and the will. Undefined when
   * keygate's preConnect hook was never installed (then `authenticate` refuses: it cannot check a will).
   */
  takeConnect(client: Client): ConnectInfo | undefined {
    if (!this.preConnectRan) return undefined;
    const info = this.connects.get(client);
    if (info === undefined) return { rawClientId: client.id, will: undefined };
    this.connects.delete(client);
    return info;
  }

  open(client: Client, session: Session): void {
    // Opened again (a test, a second broker): indexed once, under its latest session.
    this.forget(client);
    this.sessions.set(client, session);
    session.client = client;
    addTo(this.byKey, session.accessKey, session);
    addTo(this.byDevice, session.deviceId, session);
    // aedes' Client has its broker (not in its typings); clients made up by tests have none.
    const { broker } = client as { broker?: ReportsDisconnects };
    if (broker !== undefined && !this.followed.has(broker)) {
      this.followed.add(broker);
      broker.on('clientDisconnect', (gone: Client) => this.forget(gone));
    }
  }

  /**
   * Drops a closed client from the indexes at once. Left there until its device reconnected (or the next
   * sweep), every closed connection kept the whole aedes Client — socket, parser, buffers, ~17 KB —
   * reachable: 590 Clients against bare aedes' 38 in the middle of a warm-reconnect run (issue 7).
   */
  forget(client: Client): void {
    const session = this.sessions.get(client);
    if (session === undefined || session.client !== client) return;
    session.client = null;
    removeFrom(this.byKey, session.accessKey, session);
    removeFrom(this.byDevice, session.deviceId, session);
  }

  /** Live clients that authenticated with `accessKey`. */
  withKey(accessKey: string): Client[] {
    return liveIn(this.byKey, accessKey);
  }

  /** Live clients connected as `deviceId` (one, or briefly two during a takeover). */
  withDevice(deviceId: string): Client[] {
    return liveIn(this.byDevice, deviceId);
  }

  /**
   * Forgets the closed clients still indexed (a device that disconnected and has not come back since),
   * so that they can be collected. Called at every periodic re-validation.
   */
  sweep(): void {
    sweep(this.byKey);
    sweep(this.byDevice);
  }

  /** Clients held by the indexes, closed ones included (what `sweep` and reconnects bound). */
  get indexed(): { byKey: number; byDevice: number } {
    return { byKey: count(this.byKey), byDevice: count(this.byDevice) };
  }

  /** Every access key with at least one live session. */
  keys(): string[] {
    return [...this.byKey.keys()].filter((accessKey) => liveIn(this.byKey, accessKey).length > 0);
  }

  get(client: Client | null): Session | undefined {
    return client === null ? undefined : this.sessions.get(client);
  }
}

/** What the registry needs of aedes' broker: its report of a registered client gone (aedes.js). */
interface ReportsDisconnects {
  on(event: 'clientDisconnect', listener: (client: Client) => void): unknown;
}

/**
 * The sessions under one ID: the session itself when there is one (the usual case: a Set per ID would
 * cost a hash table per connection, issue 7), a Set when there are more.
 */
type Indexed = Session | Set<Session>;

/**
 * Whether the session's client is gone: closed (aedes did not report it, or not yet), or forgotten. A
 * closed one is let go of on the way (its `client` nulled, as `forget` does) when the caller drops it.
 */
function isGone(session: Session): boolean {
  return session.client === null || session.client.closed;
}

/** Drops a gone session from an index's point of view: it no longer points at its client. */
function release(session: Session): void {
  session.client = null;
}

/**
 * Adds `session` under `id`. Gone sessions leave on the way: the one session of an ID when its client is
 * gone (a device reconnecting replaces its former connection), and those of a Set each time it reaches a
 * power of two from 8 on (amortised O(1)). Without it, a device reconnecting over and over would pile up
 * its dead connections — each a whole aedes Client with its socket — until the next sweep.
 */
function addTo(index: Map<string, Indexed>, id: string, session: Session): void {
  const held = index.get(id);
  if (held === undefined || held === session) index.set(id, session);
  else if (!(held instanceof Set)) {
    if (!isGone(held)) index.set(id, new Set([held, session]));
    else {
      release(held);
      index.set(id, session);
    }
  } else {
    if (held.size >= 8 && (held.size & (held.size - 1)) === 0) {
      for (const other of held) if (isGone(other)) drop(held, other);
    }
    held.add(session);
  }
}

/** Removes a gone session from its Set, letting go of its client. */
function drop(sessions: Set<Session>, session: Session): void {
  release(session);
  sessions.delete(session);
}

/** Removes `session` from under `id`. */
function removeFrom(index: Map<string, Indexed>, id: string, session: Session): void {
  const held = index.get(id);
  if (held === session) index.delete(id);
  else if (held instanceof Set && held.delete(session)) settle(index, id, held);
}

/** After sessions left the Set under `id`: no ID without a session, and one session held as itself. */
function settle(index: Map<string, Indexed>, id: string, sessions: Set<Session>): void {
  if (sessions.size === 0) index.delete(id);
  else if (sessions.size === 1) index.set(id, sessions.values().next().value as Session);
}

function count(index: Map<string, Indexed>): number {
  let n = 0;
  for (const held of index.values()) n += held instanceof Set ? held.size : 1;
  return n;
}

/** Drops every gone session from the index (and the IDs left without one). */
function sweep(index: Map<string, Indexed>): void {
  for (const id of index.keys()) liveIn(index, id);
}

/** The live clients under `id`, dropping gone sessions from the index on the way. */
function liveIn(index: Map<string, Indexed>, id: string): Client[] {
  const held = index.get(id);
  if (held === undefined) return [];
  if (!(held instanceof Set)) {
    if (!isGone(held)) return [held.client as Client];
    release(held);
    index.delete(id);
    return [];
  }
  const live: Client[] = [];
  for (const session of held) {
    if (isGone(session)) drop(held, session);
    else live.push(session.client as Client);
  }
  settle(index, id, held);
  return live;
}
