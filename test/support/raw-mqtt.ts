import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';

/** A fixed header: the first byte, then `remaining` as declared [MQTT-2.2.3] (the body may never follow). */
export function fixedHeader(first: number, remaining: number): Buffer {
  return Buffer.concat([Buffer.from([first]), remainingLength(remaining)]);
}

/** Encodes an MQTT "remaining length" [MQTT-2.2.3]. */
export function remainingLength(length: number): Buffer {
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

function packet(header: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([header]), remainingLength(body.length), body]);
}

/** A QoS 0 PUBLISH with a topic given as raw bytes (so it can hold NUL or invalid UTF-8). */
export function encodePublish(topic: Buffer, payload = Buffer.from('x')): Buffer {
  return packet(0x30, Buffer.concat([field(topic), payload]));
}

/** A SUBSCRIBE (packet id 1) with filters given as raw bytes, QoS 0 each. */
export function encodeSubscribe(filters: Buffer[]): Buffer {
  return packet(
    0x82,
    Buffer.concat([
      Buffer.from([0x00, 0x01]),
      ...filters.map((f) => Buffer.concat([field(f), Buffer.from([0])])),
    ]),
  );
}

/** A raw connection that has sent CONNECT and got CONNACK 0, for sending hand-made packets after it. */
export class RawSession {
  private received = Buffer.alloc(0);
  closed = false;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = Buffer.concat([this.received, chunk]);
    });
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('error', () => {});
  }

  static async open(port: number, connect: RawConnect): Promise<RawSession> {
    const socket = netConnect(port, '127.0.0.1');
    await once(socket, 'connect');
    const session = new RawSession(socket);
    socket.write(encodeConnect(connect));
    await session.until(() => session.received.length >= 4);
    if (session.received[3] !== 0) throw new Error(`CONNACK ${session.received[3]}`);
    session.received = session.received.subarray(4);
    return session;
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Stops reading: what the broker sends piles up in its socket buffers (a slow or stuck subscriber). */
  stopReading(): void {
    this.socket.pause();
  }

  /** The return codes of the next SUBACK. */
  async suback(): Promise<number[]> {
    await this.until(
      () =>
        this.received.length >= 2 &&
        this.received[0] === 0x90 &&
        this.received.length >= 2 + (this.received[1] as number),
    );
    const length = this.received[1] as number;
    const codes = [...this.received.subarray(4, 2 + length)];
    this.received = this.received.subarray(2 + length);
    return codes;
  }

  async waitClosed(): Promise<void> {
    await this.until(() => this.closed);
  }

  private async until(check: () => boolean, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!check()) {
      if (Date.now() > deadline) throw new Error('raw session: timed out');
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  close(): void {
    this.socket.destroy();
  }
}
