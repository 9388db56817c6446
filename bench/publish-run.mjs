// One publish-throughput run, shared by bench/throughput.mjs (rates) and bench/instructions.mjs
// (instructions per message): the Redis seed (devices, keys and their scope), raw MQTT connections with
// pre-encoded packets, and the run itself (publishers flooding their own topics, one subscriber on
// `losant/+/state`, `INFO commandstats` around it when given a Redis connection).
import { once } from 'node:events';
import { connect } from 'node:net';
import { performance } from 'node:perf_hooks';
import bcrypt from 'bcryptjs';
import mqttPacket from 'mqtt-packet';
import { commandsBetween, connectPacket, redisCommands } from './lib.mjs';

export const SECRET = 'bench-secret';
export const PREFIX = 'keygate:';
const { generate } = mqttPacket;
const PINGREQ = generate({ cmd: 'pingreq' });

/** Fixed-width IDs, so that every PUBLISH the subscriber receives has the same size. */
export const deviceId = (i) => `dev-${String(i).padStart(6, '0')}`;

/**
 * The scope of every key: half by device ID (the first devices with i % 10 == 1), half by the tag
 * `batch=0` (i % 20 == 0): 500 + 500 = 1,000 devices out of 10,000, disjoint.
 */
export function scopeOf(devices) {
  const byTag = [];
  for (let i = 0; i < devices; i += 20) byTag.push(i);
  const byId = [];
  for (let i = 1; i < devices && byId.length < byTag.length; i += 10) byId.push(i);
  return { byId, byTag, restrictions: [...byId.map(deviceId), 'batch=0'].join(',') };
}

/** Reads exactly `n` bytes the socket has not handed out yet (before any 'data' consumer is attached). */
function readBytes(socket, n) {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const onData = (chunk) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < n) return;
      socket.off('data', onData);
      socket.off('error', reject);
      socket.off('close', onClose);
      if (buffered.length > n) socket.unshift(buffered.subarray(n));
      resolve(buffered.subarray(0, n));
    };
    const onClose = () => reject(new Error('connection closed'));
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('close', onClose);
  });
}

/** A raw MQTT 3.1.1 connection: CONNECT sent, CONNACK 0 received (retried while keygate answers 3). */
export async function rawConnect(port, clientId, username) {
  const packet = connectPacket(clientId, username, SECRET);
  for (let attempt = 0; ; attempt++) {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    socket.pause();
    await once(socket, 'connect');
    socket.write(packet);
    socket.resume();
    const connack = await readBytes(socket, 4);
    socket.pause();
    if (connack[0] === 0x20 && connack[3] === 0) return socket;
    socket.destroy();
    if (connack[3] !== 3 || attempt > 50) throw new Error(`CONNACK ${connack[3]} for ${clientId}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export async function oneRun(variant, port, scope, redis, sizes) {
  const sub = { id: deviceId(scope.byTag[0]), key: `key-${scope.byTag[0]}` };
  const pubs = [];
  for (let i = 0; pubs.length < sizes.publishers; i++) {
    const list = i % 2 === 0 ? scope.byId : scope.byTag;
    const n = list[1 + Math.floor(i / 2)];
    if (n === undefined) throw new Error('not enough devices in scope for BENCH_PUBLISHERS');
    pubs.push(n);
  }
  const subscriber = await rawConnect(port, sub.id, sub.key);
  const publishers = await Promise.all(pubs.map((n) => rawConnect(port, deviceId(n), `key-${n}`)));

  const before = redis ? await redisCommands(redis) : undefined;
  subscriber.write(
    generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'losant/+/state', qos: 0 }] }),
  );
  subscriber.resume();
  const suback = await readBytes(subscriber, 5);
  if (suback[0] !== 0x90 || suback[4] !== 0) throw new Error(`SUBACK ${suback.toString('hex')}`);
  const afterSubscribe = redis ? await redisCommands(redis) : undefined;

  const payload = Buffer.alloc(sizes.payload, 0x61);
  const perPublisher = Math.ceil(sizes.messages / sizes.publishers);
  const total = perPublisher * sizes.publishers;
  const packetSize = generate({
    cmd: 'publish',
    topic: `losant/${deviceId(pubs[0])}/state`,
    payload,
    qos: 0,
    retain: false,
    dup: false,
  }).length;
  const expectedBytes = total * packetSize;
  let received = 0;
  let lastAt = 0;
  let acceptedAll = false;
  const done = new Promise((resolve) => {
    const timer = setTimeout(resolve, 60_000 + total / 10);
    // A broker that drops messages (none should) ends the run after 5 s without a delivery.
    const idle = setInterval(() => {
      if (acceptedAll && performance.now() - lastAt > 5000) finish();
    }, 500);
    const finish = () => {
      clearTimeout(timer);
      clearInterval(idle);
      resolve();
    };
    subscriber.on('data', (chunk) => {
      received += chunk.length;
      lastAt = performance.now();
      if (received >= expectedBytes) finish();
    });
  });
  subscriber.resume();

  const CHUNK = 500;
  const start = performance.now();
  const sent = publishers.map(async (socket, p) => {
    const one = generate({
      cmd: 'publish',
      topic: `losant/${deviceId(pubs[p])}/state`,
      payload,
      qos: 0,
      retain: false,
      dup: false,
    });
    const block = Buffer.concat(Array.from({ length: CHUNK }, () => one));
    for (let left = perPublisher; left > 0; left -= CHUNK) {
      const data = left >= CHUNK ? block : block.subarray(0, left * one.length);
      if (!socket.write(data)) await once(socket, 'drain');
    }
    // The broker handles one client's packets in order: its PINGRESP means every PUBLISH before the
    // PINGREQ has been read, authorized and handed on (kernel buffers do not count as accepted).
    socket.write(PINGREQ);
    socket.resume();
    const pingresp = await readBytes(socket, 2);
    if (pingresp[0] !== 0xd0) throw new Error(`expected PINGRESP, got ${pingresp.toString('hex')}`);
    return performance.now();
  });
  const acceptedAt = Math.max(...(await Promise.all(sent)));
  acceptedAll = true;
  lastAt = Math.max(lastAt, acceptedAt);
  await done;
  const afterPublish = redis ? await redisCommands(redis) : undefined;
  for (const socket of [subscriber, ...publishers]) socket.destroy();

  const delivered = Math.floor(received / packetSize);
  const result = {
    variant,
    messages: total,
    delivered,
    acceptedPerSec: total / ((acceptedAt - start) / 1000),
    deliveredPerSec: delivered / ((lastAt - start) / 1000),
  };
  if (redis) {
    result.redisPerSubscribe = commandsBetween(before, afterSubscribe);
    result.redisDuringPublish = commandsBetween(afterSubscribe, afterPublish);
  }
  return result;
}

/**
 * Seeds `devices` devices (`tags group=<n%10>,batch=<n%20>`) and one key per in-scope device, each
 * restricted to the same 1,000 devices (scopeOf), secret SECRET at bcrypt cost 4. Resolves with the scope.
 */
export async function seedPublishScope(redis, devices) {
  const scope = scopeOf(devices);
  const hash = bcrypt.hashSync(SECRET, 4);
  let pipeline = redis.pipeline();
  for (let i = 0; i < devices; i++) {
    pipeline.hset(`${PREFIX}device:${deviceId(i)}`, { tags: `group=${i % 10},batch=${i % 20}` });
    if (pipeline.length >= 1000) {
      await pipeline.exec();
      pipeline = redis.pipeline();
    }
  }
  for (const i of [...scope.byId, ...scope.byTag]) {
    pipeline.hset(`${PREFIX}key:key-${i}`, { secret: hash, restrictions: scope.restrictions });
  }
  await pipeline.exec();
  return scope;
}
