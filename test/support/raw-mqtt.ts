import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';

/** Encodes an MQTT "remaining length" [MQTT-2.2.3]. */
function remainingLength(length: number): Buffer {
  const bytes: number[] = [];
  let value = length;
  do {
    let byte = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    bytes.push(byte);
  } while (value > 0);
  return Buffer.from(bytes);
}

function field(bytes: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(bytes.length);
  return Buffer.concat([length, bytes]);
}

export interface RawConnect {
  clientId: Buffer;
  username?: Buffer;
  password?: Buffer;
  /** Set the password flag without the username flag [MQTT-3.1.2-22]. */
  passwordWithoutUsername?: boolean;
}

/**
 * A CONNECT (MQTT 3.1.1) built byte by byte, so that tests can send what well-behaved clients refuse to:
 * NUL, invalid UTF-8, oversized fields, inconsistent flags.
 */
export function encodeConnect(packet: RawConnect): Buffer {
  let flags = 0x02; // clean session
  const payload = [field(packet.clientId)];
  if (packet.username !== undefined) {
    flags |= 0x80;
    payload.push(field(packet.username));
  }
  if (packet.password !== undefined) {
    flags |= 0x40;
    payload.push(field(packet.password));
  }
  const variableHeader = Buffer.concat([field(Buffer.from('MQTT')), Buffer.from([0x04, flags, 0x00, 0x3c])]);
  const body = Buffer.concat([variableHeader, ...payload]);
  return Buffer.concat([Buffer.from([0x10]), remainingLength(body.length), body]);
}

export interface RawOutcome {
  /** CONNACK return code, or undefined when the broker closed the connection without one. */
  readonly returnCode: number | undefined;
  readonly closed: boolean;
}

/** Sends raw bytes as a fresh connection and reports the CONNACK (or the close). */
export async function sendRaw(port: number, bytes: Buffer, waitMs = 3000): Promise<RawOutcome> {
  const socket: Socket = netConnect(port, '127.0.0.1');
  await once(socket, 'connect');
  let received = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
  });
  socket.on('error', () => {});
  const closed = once(socket, 'close').then(() => true);
  socket.write(bytes);
  const outcome = await Promise.race([
    closed,
    new Promise<false>((resolve) => setTimeout(() => resolve(false), waitMs)),
  ]);
  socket.destroy();
  // CONNACK: 0x20 0x02 <session present> <return code>
  const returnCode = received.length >= 4 && received[0] === 0x20 ? received[3] : undefined;
  return { returnCode, closed: outcome };
}
