import { PassThrough } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import { describe, expect, it } from 'vitest';
import { type DropReason, guardConnection } from '../../src/server/frame-guard.js';
import { fixedHeader } from '../support/raw-mqtt.js';

// The frame guard follows MQTT framing over whatever chunks a read returns: its verdict must not depend on
// where a transport splits the bytes, and it must read every byte of a well-behaved stream unchanged.
const MAX_CONNECT = 1024;
const MAX_PACKET = 4096;

const connect = mqttPacket.generate({ cmd: 'connect', clientId: 'dev-1', protocolVersion: 4, keepalive: 60 });
const publish = (bytes: number) =>
  mqttPacket.generate({
    cmd: 'publish',
    topic: 't',
    payload: Buffer.alloc(bytes - 3),
    qos: 0,
    retain: false,
    dup: false,
  });

const header = fixedHeader;

interface Run {
  readonly reason: DropReason | undefined;
  readonly read: Buffer;
}

/**
 * Writes `before` (read while aedes has not sent the CONNACK) then `after` (read once it has) in chunks of
 * `size` bytes, reading each chunk as aedes does, and reports what the guard decided and what was read.
 */
function run(before: Buffer, after: Buffer, size: number): Run {
  const stream = new PassThrough() as PassThrough & { client?: { connackSent: boolean } };
  let reason: DropReason | undefined;
  guardConnection(stream, {
    maxConnectBytes: MAX_CONNECT,
    maxPacketBytes: MAX_PACKET,
    onDrop: (why) => {
      reason = why;
    },
  });
  stream.client = { connackSent: false };
  const read: Buffer[] = [];
  const feed = (bytes: Buffer) => {
    for (let at = 0; at < bytes.length && reason === undefined; at += size) {
      stream.write(bytes.subarray(at, at + size));
      const chunk = stream.read() as Buffer | null;
      if (chunk !== null) read.push(chunk);
    }
  };
  feed(before);
  stream.client.connackSent = true;
  feed(after);
  return { reason, read: Buffer.concat(read) };
}

const SIZES = [1, 2, 3, 7, 64, 1 << 20];

describe.each(SIZES)('read in chunks of %i bytes', (size) => {
  it('a well-behaved stream is read unchanged', () => {
    const before = Buffer.concat([connect, publish(100)]);
    const after = Buffer.concat([publish(MAX_PACKET), publish(10), header(0xc0, 0)]);
    const outcome = run(before, after, size);
    expect(outcome.reason).toBeUndefined();
    expect(outcome.read).toEqual(Buffer.concat([before, after]));
  });

  it.each<[string, Buffer, Buffer, DropReason | undefined]>([
    ['a PUBLISH first [MQTT-3.1.0-1]', publish(10), Buffer.alloc(0), 'not-connect'],
    ['a PINGREQ first', header(0xc0, 0), Buffer.alloc(0), 'not-connect'],
    ['a CONNECT of maxConnectBytes', header(0x10, MAX_CONNECT), Buffer.alloc(0), undefined],
    ['a CONNECT of maxConnectBytes + 1', header(0x10, MAX_CONNECT + 1), Buffer.alloc(0), 'connect-too-large'],
    ['a CONNECT declaring 256 MB', header(0x10, 268_435_455), Buffer.alloc(0), 'connect-too-large'],
    [
      '5 bytes of remaining length',
      Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0x01]),
      Buffer.alloc(0),
      'malformed-length',
    ],
    [
      'PUBLISHes after the CONNECT up to the budget',
      Buffer.concat([connect, publish(MAX_CONNECT - connect.length - 1)]),
      Buffer.alloc(0),
      undefined,
    ],
    [
      'PUBLISHes after the CONNECT over the budget',
      Buffer.concat([connect, publish(MAX_CONNECT - connect.length)]),
      Buffer.alloc(0),
      'pre-connack-bytes',
    ],
    ['after the CONNACK, a packet of maxPacketBytes', connect, header(0x30, MAX_PACKET), undefined],
    [
      'after the CONNACK, a packet of maxPacketBytes + 1',
      connect,
      header(0x30, MAX_PACKET + 1),
      'packet-too-large',
    ],
  ])('%s', (_name, before, after, reason) => {
    expect(run(before, after, size).reason).toBe(reason);
  });
});

it('after a drop, reads return nothing more and the stream is destroyed', () => {
  const stream = new PassThrough();
  const reasons: DropReason[] = [];
  guardConnection(stream, {
    maxConnectBytes: MAX_CONNECT,
    maxPacketBytes: MAX_PACKET,
    onDrop: (r) => reasons.push(r),
  });
  stream.write(publish(10));
  expect(stream.read()).toBeNull();
  stream.write(connect);
  expect(stream.read()).toBeNull();
  expect(stream.destroyed).toBe(true);
  expect(reasons).toEqual(['not-connect']);
});
