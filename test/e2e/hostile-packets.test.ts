import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import bcrypt from 'bcryptjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import {
  collect,
  connackOf,
  connect,
  redisUrl,
  Seeder,
  startTestBroker,
  subackCodes,
  type TestBroker,
  waitFor,
} from '../support/harness.js';
import { createTestPki, type TestPki } from '../support/pki.js';
import { encodeConnect, encodePublish, fixedHeader, RawSession } from '../support/raw-mqtt.js';
import { freePort } from '../support/redis-server.js';

// A client that declares a huge packet, sends bytes before it is authenticated, or never sends its CONNECT
// is closed by the broker without it buffering what was announced (README "Security: hostile packets").
const SECRET = 'hostile-secret';
const MAX_CONNECT = 4096;
const MAX_PACKET = 65_536;
const CONNECT_TIMEOUT = 500;
const b = (text: string) => Buffer.from(text, 'utf8');

const header = fixedHeader;

/** A QoS 0 PUBLISH whose remaining length is exactly `remaining` bytes. */
function publishOfLength(topic: string, remaining: number): Buffer {
  return encodePublish(b(topic), Buffer.alloc(remaining - 2 - Buffer.byteLength(topic), 0x61));
}

/** A CONNECT whose remaining length is exactly `remaining` bytes (the password padded). */
function connectOfLength(remaining: number, clientId = 'dev-1'): Buffer {
  const fixed = 10 + 2 + clientId.length + 2 + 'key-1'.length + 2; // variable header, 3 length prefixes
  return encodeConnect({
    clientId: b(clientId),
    username: b('key-1'),
    password: Buffer.alloc(remaining - fixed, 0x61),
  });
}

interface Outcome {
  /** Everything the broker sent. */
  readonly received: Buffer;
  /** Whether the broker closed the connection within the wait. */
  readonly closed: boolean;
  readonly ms: number;
}

/** Writes `bytes` on a fresh TCP connection (then more via `more`), and reports what the broker did. */
async function exchange(
  port: number,
  bytes: Buffer,
  options: { waitMs?: number; more?: (socket: Socket) => void } = {},
): Promise<Outcome> {
  const socket = netConnect(port, '127.0.0.1');
  await once(socket, 'connect');
  return watch(socket, bytes, options);
}

async function watch(
  socket: Socket,
  bytes: Buffer,
  { waitMs = 3000, more }: { waitMs?: number; more?: (socket: Socket) => void },
): Promise<Outcome> {
  const started = Date.now();
  let received = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    received = Buffer.concat([received, chunk]);
  });
  socket.on('error', () => {});
  const closed = new Promise<true>((resolve) => socket.once('close', () => resolve(true)));
  if (bytes.length > 0) socket.write(bytes);
  more?.(socket);
  const outcome = await Promise.race([
    closed,
    new Promise<false>((resolve) => setTimeout(() => resolve(false), waitMs)),
  ]);
  socket.destroy();
  return { received, closed: outcome, ms: Date.now() - started };
}

/** The CONNACK return code in what the broker sent, or undefined when there is none. */
function connackCode(received: Buffer): number | undefined {
  return received.length >= 4 && received[0] === 0x20 ? received[3] : undefined;
}

async function dropped(broker: TestBroker, reason: string): Promise<number> {
  const text = await broker.running.metrics.text();
  const match = text.match(new RegExp(`keygate_connections_dropped_total\\{reason="${reason}"\\} (\\d+)`));
  return Number(match?.[1] ?? Number.NaN);
}

/** Waits until the log holds a "connection dropped" record with `reason` and returns it. */
async function dropLog(broker: TestBroker, reason: string): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const record = broker.logs.records().find((r) => r.msg === 'connection dropped' && r.reason === reason);
    if (record !== undefined) return record;
    if (Date.now() > deadline) throw new Error(`no "connection dropped" log for ${reason}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

let broker: TestBroker;
let seed: Seeder;
let pki: TestPki;

beforeAll(async () => {
  pki = createTestPki();
  broker = await startTestBroker({
    maxConnectBytes: MAX_CONNECT,
    maxPacketBytes: MAX_PACKET,
    connectTimeoutMs: CONNECT_TIMEOUT,
    tlsCertFile: pki.serverCert,
    tlsKeyFile: pki.serverKey,
    wsPort: 0,
  });
  seed = new Seeder(broker.prefix);
  for (const id of ['dev-1', 'dev-2', 'dev-3']) await seed.device(id);
  await seed.key('key-1', SECRET);
  // A cost-10 hash: verifying it takes tens of milliseconds, a window to send bytes before the CONNACK.
  await seed.key('slow-key', SECRET, { secret: bcrypt.hashSync(SECRET, 10) });
  const deadline = Date.now() + 5000;
  while (!broker.running.readiness().ready) {
    if (Date.now() > deadline) throw new Error('broker never became ready');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
});

afterAll(async () => {
  await seed?.close();
  await broker?.close();
  pki?.remove();
});

describe('before the CONNECT', () => {
  it('a CONNECT declaring 256 MB is closed at its header, with no CONNACK', async () => {
    const before = await dropped(broker, 'connect-too-large');
    const outcome = await exchange(broker.port, header(0x10, 268_435_455), {
      // The client goes on streaming the body it announced: the broker does not wait for it.
      more: (socket) => {
        const chunk = Buffer.alloc(65_536, 0x61);
        for (let i = 0; i < 64; i++) socket.write(chunk);
      },
    });
    expect(outcome.closed).toBe(true);
    expect(connackCode(outcome.received)).toBeUndefined();
    expect(await dropped(broker, 'connect-too-large')).toBe(before + 1);
    const log = await dropLog(broker, 'connect-too-large');
    expect(log.address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('a CONNECT of exactly maxConnectBytes is read and answered; one byte more is closed', async () => {
    const atLimit = await exchange(broker.port, connectOfLength(MAX_CONNECT), { waitMs: 3000 });
    // The padded password is wrong: CONNACK 4 shows the broker read and judged the whole CONNECT.
    expect(connackCode(atLimit.received)).toBe(4);
    const over = await exchange(broker.port, connectOfLength(MAX_CONNECT + 1));
    expect(over.closed).toBe(true);
    expect(connackCode(over.received)).toBeUndefined();
  });

  it('a PUBLISH as the first packet is closed [MQTT-3.1.0-1]', async () => {
    const before = await dropped(broker, 'not-connect');
    const outcome = await exchange(broker.port, encodePublish(b('losant/dev-1/state'), b('{}')));
    expect(outcome.closed).toBe(true);
    expect(outcome.received.length).toBe(0);
    expect(await dropped(broker, 'not-connect')).toBe(before + 1);
  });

  it('a remaining length of 5 bytes is closed [MQTT-2.2.3]', async () => {
    const before = await dropped(broker, 'malformed-length');
    const outcome = await exchange(broker.port, Buffer.from([0x10, 0xff, 0xff, 0xff, 0xff, 0x01]));
    expect(outcome.closed).toBe(true);
    expect(await dropped(broker, 'malformed-length')).toBe(before + 1);
  });

  it('PUBLISHes streamed behind the CONNECT, before its CONNACK, are closed once over maxConnectBytes', async () => {
    const connectPacket = encodeConnect({
      clientId: b('dev-2'),
      username: b('slow-key'),
      password: b(SECRET),
    });
    const publish = publishOfLength('losant/dev-2/state', 1000);
    // Under the budget: the same start with two PUBLISHes is accepted (the CONNECT is valid).
    const under = await exchange(broker.port, Buffer.concat([connectPacket, publish, publish]), {
      waitMs: 1500,
    });
    expect(connackCode(under.received)).toBe(0);
    expect(under.closed).toBe(false);

    const before = await dropped(broker, 'pre-connack-bytes');
    const over = await exchange(
      broker.port,
      Buffer.concat([connectPacket, ...Array.from({ length: 8 }, () => publish)]),
    );
    expect(over.closed).toBe(true);
    expect(connackCode(over.received)).toBeUndefined();
    expect(await dropped(broker, 'pre-connack-bytes')).toBe(before + 1);
  });

  it('a client that sends nothing is closed after connectTimeoutMs', async () => {
    const before = await dropped(broker, 'connect-timeout');
    const outcome = await exchange(broker.port, Buffer.alloc(0), { waitMs: 5000 });
    expect(outcome.closed).toBe(true);
    expect(outcome.ms).toBeGreaterThanOrEqual(CONNECT_TIMEOUT - 100); // the timeout closed it
    expect(await dropped(broker, 'connect-timeout')).toBeGreaterThan(before);
    expect((await dropLog(broker, 'connect-timeout')).address).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('a client that sends half a CONNECT is closed after connectTimeoutMs', async () => {
    const connectPacket = encodeConnect({ clientId: b('dev-1'), username: b('key-1'), password: b(SECRET) });
    const outcome = await exchange(broker.port, connectPacket.subarray(0, 10), { waitMs: 5000 });
    expect(outcome.closed).toBe(true);
    expect(outcome.ms).toBeGreaterThanOrEqual(CONNECT_TIMEOUT - 100);
    expect(connackCode(outcome.received)).toBeUndefined();
  });
});

describe('after the CONNACK', () => {
  it('a packet declaring more than maxPacketBytes is closed; another client keeps working', async () => {
    const { client: other, returnCode } = await connect(broker.port, {
      clientId: 'dev-3',
      username: 'key-1',
      password: SECRET,
    });
    expect(returnCode).toBe(0);
    const received = collect(other);
    expect(await subackCodes(other, ['losant/dev-3/#'])).toEqual([0]);

    const before = await dropped(broker, 'packet-too-large');
    const hostile = await RawSession.open(broker.port, {
      clientId: b('dev-1'),
      username: b('key-1'),
      password: b(SECRET),
    });
    hostile.send(header(0x30, MAX_PACKET + 1));
    hostile.send(Buffer.alloc(MAX_PACKET, 0x61));
    await hostile.waitClosed();
    expect(await dropped(broker, 'packet-too-large')).toBe(before + 1);

    other.publish('losant/dev-3/state', 'still here');
    await waitFor(received, 'losant/dev-3/state still here');
    other.end(true);
  });

  it('a PUBLISH of exactly maxPacketBytes is delivered', async () => {
    const { client, returnCode } = await connect(broker.port, {
      clientId: 'dev-3',
      username: 'key-1',
      password: SECRET,
    });
    expect(returnCode).toBe(0);
    const sizes: number[] = [];
    client.on('message', (_topic, payload) => sizes.push(payload.length));
    expect(await subackCodes(client, ['losant/dev-3/#'])).toEqual([0]);
    const session = await RawSession.open(broker.port, {
      clientId: b('dev-1'),
      username: b('key-1'),
      password: b(SECRET),
    });
    expect(await subackCodes(client, ['losant/dev-1/#'])).toEqual([0]);
    const topic = 'losant/dev-1/state';
    session.send(publishOfLength(topic, MAX_PACKET));
    const deadline = Date.now() + 5000;
    while (sizes.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(sizes).toEqual([MAX_PACKET - 2 - topic.length]);
    expect(session.closed).toBe(false);
    session.close();
    client.end(true);
  });
});

describe('over TLS and WebSocket', () => {
  it('TLS: a client that never starts the handshake, or sends no CONNECT after it, is closed', async () => {
    const port = broker.running.listeners.mqtts?.port as number;
    const silent = netConnect(port, '127.0.0.1');
    await once(silent, 'connect');
    const noHandshake = await watch(silent, Buffer.alloc(0), { waitMs: 5000 });
    expect(noHandshake.closed).toBe(true);
    const log = broker.logs
      .records()
      .find(
        (r) => r.msg === 'connection dropped' && r.transport === 'mqtts' && r.reason === 'connect-timeout',
      );
    expect(log?.address).toMatch(/^127\.0\.0\.1:\d+$/);

    const secure = tlsConnect({ port, host: '127.0.0.1', ca: pki.read(pki.caCert), servername: 'localhost' });
    await once(secure, 'secureConnect');
    const noConnect = await watch(secure as unknown as Socket, Buffer.alloc(0), { waitMs: 5000 });
    expect(noConnect.closed).toBe(true);
  });

  it('TLS: a CONNECT declaring 256 MB is closed at its header', async () => {
    const port = broker.running.listeners.mqtts?.port as number;
    const secure = tlsConnect({ port, host: '127.0.0.1', ca: pki.read(pki.caCert), servername: 'localhost' });
    await once(secure, 'secureConnect');
    const outcome = await watch(secure as unknown as Socket, header(0x10, 268_435_455), {});
    expect(outcome.closed).toBe(true);
    expect(connackCode(outcome.received)).toBeUndefined();
  });

  it('WebSocket: a client that never upgrades, or sends no CONNECT after it, is closed', async () => {
    const port = broker.running.listeners.ws?.port as number;
    const silent = netConnect(port, '127.0.0.1');
    await once(silent, 'connect');
    const noUpgrade = await watch(silent, Buffer.alloc(0), { waitMs: 5000 });
    expect(noUpgrade.closed).toBe(true);

    const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, 'mqtt');
    await once(ws, 'open');
    const closedAt = once(ws, 'close');
    const result = await Promise.race([
      closedAt.then(() => 'closed'),
      new Promise((resolve) => setTimeout(() => resolve('open'), 5000)),
    ]);
    expect(result).toBe('closed');
  });

  it('WebSocket: a CONNECT declaring 256 MB is closed at its header, a message over the limit too', async () => {
    const port = broker.running.listeners.ws?.port as number;
    const cases: [Buffer, string][] = [
      [header(0x10, 268_435_455), 'connect-too-large'],
      // A CONNECT the guard would read, in one WebSocket message larger than the largest packet allowed:
      // ws refuses it at its frame header, before the guard sees a byte of it.
      [Buffer.concat([connectOfLength(MAX_CONNECT), Buffer.alloc(MAX_PACKET)]), 'packet-too-large'],
    ];
    for (const [message, reason] of cases) {
      const before = await dropped(broker, reason);
      const ws = new WebSocket(`ws://127.0.0.1:${port}/mqtt`, 'mqtt');
      ws.on('error', () => {});
      await once(ws, 'open');
      const received: Buffer[] = [];
      ws.on('message', (data: Buffer) => received.push(data));
      const closedAt = once(ws, 'close');
      ws.send(message);
      const result = await Promise.race([
        closedAt.then(() => 'closed'),
        new Promise((resolve) => setTimeout(() => resolve('open'), 3000)),
      ]);
      expect(result).toBe('closed');
      expect(received).toEqual([]);
      expect(await dropped(broker, reason)).toBe(before + 1);
    }
  });

  it('WebSocket: an upgraded client that sends its CONNECT in time stays connected past the timeout', async () => {
    const port = broker.running.listeners.ws?.port as number;
    const { client, returnCode } = await connect(port, {
      protocol: 'ws',
      path: '/mqtt',
      clientId: 'dev-2',
      username: 'key-1',
      password: SECRET,
    });
    expect(returnCode).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, CONNECT_TIMEOUT * 3));
    expect(client.connected).toBe(true);
    client.end(true);
  });
});

// Not every HTTP request is an upgrade: a plain request still gets its 404 (the timeouts leave it alone).
it('WebSocket listener: a plain HTTP request is answered', async () => {
  const port = broker.running.listeners.ws?.port as number;
  const status = await new Promise<number | undefined>((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port, path: '/' }, (res) => {
      res.resume();
      resolve(res.statusCode);
    })
      .on('error', reject)
      .end();
  });
  expect(status).toBe(404);
});

/** Resident memory of a process, in bytes: now (VmRSS) and its peak since it started (VmHWM). Linux. */
function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(status.match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'))?.[1]) * 1024;
  return { rss: kb('VmRSS'), peak: kb('VmHWM') };
}

type HostileMode = 'huge-connect' | 'before-connack' | 'after-connack';

/**
 * One hostile client: connection after connection, it declares a 256 MB packet (a CONNECT; a PUBLISH
 * behind a valid CONNECT, before its CONNACK; or a PUBLISH once connected) and streams its body in 64 KB
 * writes until the broker closes the connection. Resolves with the bytes the kernel took from it.
 */
async function hostileClient(
  port: number,
  mode: HostileMode,
  quota: number,
  deadline: number,
): Promise<number> {
  const chunk = Buffer.alloc(65_536, 0x61);
  const hugePublish = Buffer.concat([header(0x30, 268_435_455), Buffer.from([0, 1, 0x61])]);
  const connectPacket = encodeConnect({
    clientId: b('mem-dev'),
    username: b('mem-key'),
    password: b(SECRET),
  });
  let pushed = 0;
  while (pushed < quota && Date.now() < deadline) {
    const socket = netConnect(port, '127.0.0.1');
    socket.on('error', () => {});
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    await Promise.race([once(socket, 'connect'), closed]);
    if (socket.destroyed) continue;
    if (mode === 'huge-connect') socket.write(header(0x10, 268_435_455));
    if (mode === 'before-connack') socket.write(Buffer.concat([connectPacket, hugePublish]));
    if (mode === 'after-connack') {
      socket.write(connectPacket);
      let received = 0;
      socket.on('data', (data: Buffer) => {
        received += data.length;
      });
      while (received < 4 && !socket.destroyed) await new Promise((resolve) => setTimeout(resolve, 5));
      socket.write(hugePublish);
    }
    let open = true;
    void closed.then(() => {
      open = false;
    });
    while (open && pushed < quota) {
      const flushed = socket.write(chunk, (err) => {
        if (!err) pushed += chunk.length;
      });
      if (!flushed) await Promise.race([once(socket, 'drain').catch(() => {}), closed]);
    }
    socket.destroy();
    await closed;
  }
  return pushed;
}

describe('memory under hostile clients (the broker as its own process)', () => {
  it('16 clients pushing 256 MB of declared-huge packets grow the broker by far less', async () => {
    const prefix = `kgmem:${Date.now()}:`;
    const memSeed = new Seeder(prefix);
    await memSeed.device('mem-dev');
    await memSeed.key('mem-key', SECRET);
    await memSeed.close();
    const port = await freePort();
    const child = spawn(process.execPath, ['dist/server/main.js'], {
      env: {
        PATH: process.env.PATH,
        REDIS_URL: redisUrl(),
        KEYGATE_PREFIX: prefix,
        KEYGATE_PERSISTENCE: 'memory',
        MQTT_HOST: '127.0.0.1',
        MQTT_PORT: String(port),
        HTTP_PORT: String(await freePort()),
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    try {
      const pid = child.pid as number;
      const started = Date.now() + 15_000;
      while ((await connackOf(port, { clientId: 'mem-dev', username: 'mem-key', password: SECRET })) !== 0) {
        if (Date.now() > started) throw new Error('the broker process never accepted a CONNECT');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const before = memoryOf(pid);
      const modes: HostileMode[] = ['huge-connect', 'before-connack', 'after-connack'];
      const deadline = Date.now() + 120_000;
      const pushed = await Promise.all(
        Array.from({ length: 16 }, (_, i) =>
          hostileClient(port, modes[i % 3] as HostileMode, 16 * 2 ** 20, deadline),
        ),
      );
      const total = pushed.reduce((sum, n) => sum + n, 0);
      const after = memoryOf(pid);
      const grew = after.peak - before.rss;
      console.log(
        `hostile clients pushed ${(total / 2 ** 20).toFixed(0)} MB; broker RSS ${(before.rss / 2 ** 20).toFixed(1)} MB before, peak ${(after.peak / 2 ** 20).toFixed(1)} MB (+${(grew / 2 ** 20).toFixed(1)} MB)`,
      );
      expect(total).toBeGreaterThan(200 * 2 ** 20);
      expect(grew).toBeLessThan(30 * 2 ** 20);
      // Still serving.
      expect(await connackOf(port, { clientId: 'mem-dev', username: 'mem-key', password: SECRET })).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  }, 180_000);
});
