// Micro-benchmark: the cost of the frame guard (src/server/frame-guard.ts) per packet, next to the cost of
// parsing the same bytes with mqtt-packet (what aedes does with every byte anyway). 200,000 QoS 0 PUBLISH
// of 64-byte payloads, read in 64 KB chunks from a stream, with and without the guard.
// Run: npm run build && node bench/frame-guard.mjs. Sizes: BENCH_MESSAGES (200000), BENCH_PAYLOAD (64).
import { PassThrough } from 'node:stream';
import mqttPacket from 'mqtt-packet';
import { guardConnection } from '../dist/server/frame-guard.js';
import { median } from './lib.mjs';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200_000);
const PAYLOAD = Number(process.env.BENCH_PAYLOAD ?? 64);
const RUNS = 5;
const { generate } = mqttPacket;
const connect = generate({ cmd: 'connect', clientId: 'bench', protocolVersion: 4, keepalive: 60 });
const publish = generate({
  cmd: 'publish',
  topic: 'losant/dev-000001/state',
  payload: Buffer.alloc(PAYLOAD),
});
const bytes = Buffer.concat([connect, ...Array.from({ length: MESSAGES }, () => publish)]);
const chunks = [];
for (let at = 0; at < bytes.length; at += 65_536) chunks.push(bytes.subarray(at, at + 65_536));

/** Milliseconds to read every chunk from a stream (as aedes reads a socket), guarded or not. */
function read(guarded) {
  const stream = new PassThrough({ highWaterMark: bytes.length + 1 });
  stream.client = { connackSent: true }; // what aedes sets: after the CONNACK
  if (guarded) {
    guardConnection(stream, {
      maxConnectBytes: 262_144,
      maxPacketBytes: 1_048_576,
      onDrop: (reason) => {
        throw new Error(`dropped: ${reason}`);
      },
    });
  }
  for (const chunk of chunks) stream.write(chunk);
  stream.end();
  const start = process.hrtime.bigint();
  let total = 0;
  for (let chunk = stream.read(65_536); chunk !== null; chunk = stream.read(65_536)) total += chunk.length;
  if (total !== bytes.length) throw new Error('short read');
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function parse() {
  const parser = mqttPacket.parser();
  let packets = 0;
  parser.on('packet', () => packets++);
  const start = process.hrtime.bigint();
  for (const chunk of chunks) parser.parse(chunk);
  if (packets !== MESSAGES + 1) throw new Error('parse failed');
  return Number(process.hrtime.bigint() - start) / 1e6;
}

read(true); // warm-up
const plain = median(Array.from({ length: RUNS }, () => read(false)));
const guarded = median(Array.from({ length: RUNS }, () => read(true)));
const parsed = median(Array.from({ length: RUNS }, () => parse()));
const perPacket = ((guarded - plain) * 1e6) / MESSAGES;
console.log(
  `${MESSAGES} PUBLISH of ${publish.length} B: read ${plain.toFixed(1)} ms, read + guard ${guarded.toFixed(1)} ms ` +
    `(guard ≈ ${perPacket.toFixed(0)} ns/packet); mqtt-packet parse ${parsed.toFixed(0)} ms ` +
    `(guard/parse = ${((100 * (guarded - plain)) / parsed).toFixed(2)} %)`,
);
