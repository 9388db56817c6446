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
  const { maxConnectBytes, maxPacketBytes, onDrop } = options;
  const guarded = conn as Duplex & GuardedConn;
  // Framing state, kept across chunks (a fixed header may be split between two reads).
  let skip = 0; // bytes of the current packet's body still to come
  let inHeader = false; // the first byte of a fixed header was read, its remaining length is incomplete
  let type = 0; // control packet type of the packet whose header is being read
  let length = 0; // remaining length decoded so far
  let lengthBytes = 0; // bytes of the remaining length read so far
  let multiplier = 1;
  let packets = 0; // fixed headers completed
  let preConnack = 0; // bytes charged to the pre-CONNACK budget
  let authenticated = false;
  let dropped = false;

  const drop = (reason: DropReason): null => {
    dropped = true;
    conn.destroy();
    onDrop(reason, conn);
    return null;
  };

  /** Follows the framing over `chunk`; returns the reason to close the connection, if any. */
  const inspect = (chunk: Buffer): DropReason | undefined => {
    if (!authenticated) authenticated = guarded.client?.connackSent === true;
    const end = chunk.length;
    let at = 0;
    while (at < end) {
      if (skip > 0) {
        const step = Math.min(skip, end - at);
        skip -= step;
        at += step;
        continue;
      }
      if (!inHeader) {
        // First byte of a fixed header: the control packet type is its high nibble [MQTT-2.2.1].
        type = (chunk[at] as number) >> 4;
        if (packets === 0 && type !== CONNECT) return 'not-connect'; // [MQTT-3.1.0-1]
        inHeader = true;
        length = 0;
        lengthBytes = 0;
        multiplier = 1;
        at++;
        continue;
      }
      // Remaining length: 7 bits a byte, least significant first, continuation bit 0x80 [MQTT-2.2.3].
      const byte = chunk[at] as number;
      at++;
      length += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      lengthBytes++;
      if (byte & 0x80) {
        if (lengthBytes === 4) return 'malformed-length'; // at most 4 bytes [MQTT-2.2.3]
        continue;
      }
      inHeader = false;
      packets++;
      skip = length;
      if (authenticated) {
        if (length > maxPacketBytes) return 'packet-too-large';
      } else if (packets === 1) {
        if (length > maxConnectBytes) return 'connect-too-large';
        preConnack = length;
      } else {
        preConnack += 1 + lengthBytes + length;
        if (preConnack > maxConnectBytes) return 'pre-connack-bytes';
      }
    }
    return undefined;
  };

  const read = conn.read;
  conn.read = function guardedRead(this: Duplex, size?: number) {
    if (dropped) return null;
    const chunk = read.call(this, size) as Buffer | null;
    if (chunk === null || chunk.length === 0) return chunk;
    const reason = inspect(chunk);
    return reason === undefined ? chunk : drop(reason);
  };
}
