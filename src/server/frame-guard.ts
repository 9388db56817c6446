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
}

const CONNECT = 1;

/** The framing state of one connection: one small object, with no closure (heap per connection counts). */
class Guard {
  skip = 0; // bytes of the current packet's body still to come
  inHeader = false; // the first byte of a fixed header was read, its remaining length is incomplete
  type = 0; // control packet type of the packet whose header is being read
  length = 0; // remaining length decoded so far
  lengthBytes = 0; // bytes of the remaining length read so far
  multiplier = 1;
  packets = 0; // fixed headers completed
  preConnack = 0; // bytes charged to the pre-CONNACK budget
  authenticated = false;
  dropped = false;

  constructor(
    readonly conn: Duplex & GuardedConn,
    readonly options: FrameGuardOptions,
    readonly read: Duplex['read'],
  ) {}

  drop(reason: DropReason): null {
    this.dropped = true;
    // onDrop first: a destroyed socket no longer knows its peer address.
    this.options.onDrop(reason, this.conn);
    this.conn.destroy();
    return null;
  }

  /** Follows the framing over `chunk`; returns the reason to close the connection, if any. */
  inspect(chunk: Buffer): DropReason | undefined {
    const { maxConnectBytes, maxPacketBytes } = this.options;
    if (!this.authenticated) this.authenticated = this.conn.client?.connackSent === true;
    const end = chunk.length;
    let at = 0;
    while (at < end) {
      if (this.skip > 0) {
        const step = Math.min(this.skip, end - at);
        this.skip -= step;
        at += step;
        continue;
      }
      if (!this.inHeader) {
        // First byte of a fixed header: the control packet type is its high nibble [MQTT-2.2.1].
        this.type = (chunk[at] as number) >> 4;
        if (this.packets === 0 && this.type !== CONNECT) return 'not-connect'; // [MQTT-3.1.0-1]
        this.inHeader = true;
        this.length = 0;
        this.lengthBytes = 0;
        this.multiplier = 1;
        at++;
        continue;
      }
      // Remaining length: 7 bits a byte, least significant first, continuation bit 0x80 [MQTT-2.2.3].
      const byte = chunk[at] as number;
      at++;
      this.length += (byte & 0x7f) * this.multiplier;
      this.multiplier *= 128;
      this.lengthBytes++;
      if (byte & 0x80) {
        if (this.lengthBytes === 4) return 'malformed-length'; // at most 4 bytes [MQTT-2.2.3]
        continue;
      }
      this.inHeader = false;
      this.packets++;
      this.skip = this.length;
      if (this.authenticated) {
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

/** The `read` of every guarded stream: one shared function; the state hangs off the stream. */
function guardedRead(this: Duplex & { [GUARD]: Guard }, size?: number): unknown {
  const guard = this[GUARD];
  if (guard.dropped) return null;
  const chunk = guard.read.call(this, size) as Buffer | null;
  if (chunk === null || chunk.length === 0) return chunk;
  const reason = guard.inspect(chunk);
  return reason === undefined ? chunk : guard.drop(reason);
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
  const guarded = conn as Duplex & GuardedConn & { [GUARD]: Guard };
  guarded[GUARD] = new Guard(guarded, options, conn.read);
  conn.read = guardedRead as Duplex['read'];
}
