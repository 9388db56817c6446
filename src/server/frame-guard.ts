import type { Duplex } from 'node:stream';

/**
 * Why the frame guard closed a connection: a bounded set (a metric label and a log field).
 * - `not-connect`: the first packet is not a CONNECT [MQTT-3.1.0-1];
 * - `connect-too-large`: the CONNECT declares a remaining length over maxConnectBytes;
 * - `pre-connack-bytes`: the bytes sent before the CONNACK add up to more than maxConnectBytes;
 * - `packet-too-large`: a packet after the CONNACK declares a remaining length over maxPacketBytes;
 * - `malformed-length`: a remaining length longer than 4 bytes [MQTT-2.2.3];
 * - `connect-timeout`: no CONNECT (or no TLS handshake, or no WebSocket upgrade) within connectTimeoutMs.
 */
export type DropReason =
  | 'not-connect'
  | 'connect-too-large'
  | 'pre-connack-bytes'
  | 'packet-too-large'
  | 'malformed-length'
  | 'connect-timeout';

export const DROP_REASONS: readonly DropReason[] = [
  'not-connect',
  'connect-too-large',
  'pre-connack-bytes',
  'packet-too-large',
  'malformed-length',
  'connect-timeout',
];

export interface FrameGuardOptions {
  /** Most bytes a connection may send before its CONNACK: the CONNECT's remaining length and all after it. */
  readonly maxConnectBytes: number;
  /** Largest remaining length of a packet after the CONNACK. */
  readonly maxPacketBytes: number;
  /** Called once when the guard has closed `conn`. */
  readonly onDrop: (reason: DropReason, conn: Duplex) => void;
}

/** The part of aedes' Client the guard reads: aedes sets `conn.client` when it handles the connection. */
interface GuardedConn {
  client?: { connackSent?: boolean } | null;
  readonly remoteAddress?: string | undefined;
}

const CONNECT = 1;

// Guard.flags bits.
const IN_HEADER = 1; // the first byte of a fixed header was read, its remaining length is incomplete
const AUTHENTICATED = 2; // aedes has sent the CONNACK
const DROPPED = 4;

/**
 * The framing state of one connection: one small object with no closure and no reference back to the
 * stream (the heap per connection is a target: docs/BENCHMARKS.md).
 */
class Guard {
  skip = 0; // bytes of the current packet's body still to come
  length = 0; // remaining length decoded so far
  lengthBytes = 0; // bytes of the remaining length read so far
  packets = 0; // fixed headers completed
  preConnack = 0; // bytes charged to the pre-CONNACK budget
  flags = 0;

  constructor(readonly options: FrameGuardOptions) {}

  drop(conn: Duplex, reason: DropReason): null {
    this.flags |= DROPPED;
    // onDrop first: a destroyed socket no longer knows its peer address.
    this.options.onDrop(reason, conn);
    conn.destroy();
    return null;
  }

  /** Follows the framing over `chunk`; returns the reason to close the connection, if any. */
  inspect(conn: Duplex & GuardedConn, chunk: Buffer): DropReason | undefined {
    const { maxConnectBytes, maxPacketBytes } = this.options;
    if ((this.flags & AUTHENTICATED) === 0 && conn.client?.connackSent === true) this.flags |= AUTHENTICATED;
    const end = chunk.length;
    let at = 0;
    while (at < end) {
      if (this.skip > 0) {
        const step = Math.min(this.skip, end - at);
        this.skip -= step;
        at += step;
        continue;
      }
      if ((this.flags & IN_HEADER) === 0) {
        // First byte of a fixed header: the control packet type is its high nibble [MQTT-2.2.1].
        if (this.packets === 0 && (chunk[at] as number) >> 4 !== CONNECT) return 'not-connect'; // [MQTT-3.1.0-1]
        this.flags |= IN_HEADER;
        this.length = 0;
        this.lengthBytes = 0;
        at++;
        continue;
      }
      // Remaining length: 7 bits a byte, least significant first, continuation bit 0x80 [MQTT-2.2.3].
      const byte = chunk[at] as number;
      at++;
      // A shift, not `128 ** n`: a power is a double, and one double stored makes the field a boxed heap
      // number in every guard (three of them: 48 bytes per connection, issue 7 target 6). At most 28 bits.
      this.length += (byte & 0x7f) << (7 * this.lengthBytes);
      this.lengthBytes++;
      if (byte & 0x80) {
        if (this.lengthBytes === 4) return 'malformed-length'; // at most 4 bytes [MQTT-2.2.3]
        continue;
      }
      this.flags &= ~IN_HEADER;
      this.packets++;
      this.skip = this.length;
      if ((this.flags & AUTHENTICATED) !== 0) {
        if (this.length > maxPacketBytes) return 'packet-too-large';
      } else if (this.packets === 1) {
        if (this.length > maxConnectBytes) return 'connect-too-large';
        this.preConnack = this.length;
      } else {
        this.preConnack += 1 + this.lengthBytes + this.length;
        if (this.preConnack > maxConnectBytes) return 'pre-connack-bytes';
      }
    }
    return undefined;
  }
}

const GUARD = Symbol('keygate.frameGuard');

/**
 * The `read` of every guarded stream: one shared function; the state hangs off the stream, and the
 * stream's own `read` is its prototype's (net.Socket's, or Readable's for the WebSocket stream).
 */
function guardedRead(this: Duplex & GuardedConn & { [GUARD]: Guard }, size?: number): unknown {
  const guard = this[GUARD];
  if ((guard.flags & DROPPED) !== 0) return null;
  const chunk = (Object.getPrototypeOf(this) as Duplex).read.call(this, size) as Buffer | null;
  if (chunk === null || chunk.length === 0) return chunk;
  const reason = guard.inspect(this, chunk);
  return reason === undefined ? chunk : guard.drop(this, reason);
}

/**
 * The `destroy` of every guarded stream. A connection closed before its CONNACK (aedes' CONNECT timeout, a
 * frame-guard drop, a refused CONNECT) is logged with its peer's address, and a destroyed socket no longer
 * knows it: it is read (and kept by Node) first. Connections that got their CONNACK close without the read:
 * reading every peer's address when the connection opens cost each CONNECT a getpeername(2) (issue 7).
 */
function guardedDestroy(this: Duplex & GuardedConn, error?: Error): unknown {
  if (this.client?.connackSent !== true && !this.destroyed) void this.remoteAddress;
  return (Object.getPrototypeOf(this) as Duplex).destroy.call(this, error);
}

/**
 * Guards one MQTT connection stream (a TCP or TLS socket, or the Duplex over a WebSocket) before aedes
 * reads it. aedes reads with `conn.read()` on 'readable' (aedes/lib/client.js); the guard wraps that
 * instance's `read` and follows the MQTT framing [MQTT-2.2.3] over each chunk returned, jumping from
 * fixed header to fixed header without copying a byte. A packet is judged on the remaining length its
 * fixed header declares, so a connection that declares too much is destroyed before the body it
 * announces is buffered (mqtt-packet's parser would otherwise keep every byte until the packet is
 * complete, whatever its size).
 *
 * Until aedes has sent the CONNACK (`client.connackSent`, set by whichever broker — the stand-in or the
 * real one — handles the connection), every packet is charged to a budget of `maxConnectBytes`: the
 * CONNECT's remaining length, then the whole of every packet after it (aedes queues packets received while
 * the CONNECT is being authenticated). After the CONNACK, each packet may declare up to `maxPacketBytes`.
 */
export function guardConnection(conn: Duplex, options: FrameGuardOptions): void {
  // The prototype's `read` is the one wrapped: a stream whose own `read` was replaced is not supported.
  if (Object.hasOwn(conn, 'read') || Object.hasOwn(conn, 'destroy'))
    throw new TypeError('guardConnection: the stream already has its own read() or destroy()');
  const guarded = conn as Duplex & GuardedConn & { [GUARD]: Guard };
  guarded[GUARD] = new Guard(options);
  conn.read = guardedRead as Duplex['read'];
  conn.destroy = guardedDestroy as Duplex['destroy'];
}
