import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import bcrypt from 'bcryptjs';
import { Redis } from 'ioredis';
import mqtt, { type IClientOptions, type MqttClient, type Packet } from 'mqtt';
import { expect, inject } from 'vitest';
import { type Config, settings } from '../../src/config.js';
import { createLogger } from '../../src/logger.js';
import { type RunningBroker, startBroker } from '../../src/server/broker.js';

export const redisUrl = (): string => inject('redisUrl');

/** A prefix no other test uses, so tests never share keys. */
export function uniquePrefix(): string {
  return `kgtest:${randomBytes(6).toString('hex')}:`;
}

/** bcrypt at cost 4: fast tests; the broker accepts any cost. */
export function hashSecret(secret: string): string {
  return bcrypt.hashSync(secret, 4);
}

export interface LogCapture {
  readonly lines: string[];
  text(): string;
  records(): Record<string, unknown>[];
}

export function captureLogs(): { stream: Writable; capture: LogCapture } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(line);
      callback();
    },
  });
  return {
    stream,
    capture: {
      lines,
      text: () => lines.join('\n'),
      records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
    },
  };
}

export interface TestBroker {
  readonly running: RunningBroker;
  readonly port: number;
  readonly prefix: string;
  readonly logs: LogCapture;
  close(): Promise<void>;
}

/** Every setting at its shipped default (src/config.ts): tests run the product as it is configured. */
const SHIPPED_DEFAULTS = Object.fromEntries(
  Object.entries(settings).map(([field, setting]) => [field, setting.default]),
) as Config;

/** Starts the ready broker on a free port against the test Redis, with a fresh prefix and captured logs. */
export async function startTestBroker(overrides: Partial<Config> = {}): Promise<TestBroker> {
  const prefix = overrides.prefix ?? uniquePrefix();
  const config: Config = {
    ...SHIPPED_DEFAULTS,
    redisUrl: redisUrl(),
    prefix,
    persistence: 'memory',
    mqttHost: '127.0.0.1',
    mqttPort: 0,
    mqttsPort: 0,
    httpPort: 0,
    logLevel: 'debug',
    bcryptThreads: 2,
    // Off: many tests fail CONNECTs on purpose from 127.0.0.1 (test/e2e/brute-force.test.ts turns it on).
    banThreshold: 0,
    // Refusals answered at once (test/e2e/brute-force.test.ts tests the tarpit).
    banDelayMs: 0,
    ...overrides,
  };
  const { stream, capture } = captureLogs();
  const running = await startBroker(config, createLogger(config.logLevel, stream));
  return { running, port: running.mqtt.port, prefix, logs: capture, close: () => running.close() };
}

/**
 * A counter of the broker's /metrics registry, summed over its label sets — those matching `labels` when
 * given. Throws when the broker has no such metric.
 */
export async function counterTotal(
  broker: TestBroker,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const metric = broker.running.metrics.registry.getSingleMetric(name);
  if (metric === undefined) throw new Error(`no metric ${name}`);
  const { values } = await metric.get();
  return values
    .filter((v) => Object.entries(labels).every(([label, value]) => v.labels[label] === value))
    .reduce((sum, v) => sum + v.value, 0);
}

/** Seeds keys and devices the way an admin does: plain hashes under the prefix. */
export class Seeder {
  readonly redis: Redis;

  constructor(
    readonly prefix: string,
    url = redisUrl(),
  ) {
    this.redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  }

  async device(id: string, fields: Record<string, string> = {}): Promise<void> {
    await this.redis.del(`${this.prefix}device:${id}`);
    await this.redis.hset(`${this.prefix}device:${id}`, { name: id, ...fields });
  }

  /** Creates an access key; `secret` is stored as a bcrypt hash unless `fields.secret` overrides it. */
  async key(id: string, secret: string, fields: Record<string, string> = {}): Promise<void> {
    await this.redis.del(`${this.prefix}key:${id}`);
    await this.redis.hset(`${this.prefix}key:${id}`, { secret: hashSecret(secret), ...fields });
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

export interface ConnectResult {
  /** The CONNACK return code, or undefined when the connection closed with no CONNACK. */
  readonly returnCode: number | undefined;
  readonly client: MqttClient;
}

/** An mqtt.js client for the test broker: MQTT 3.1.1, loopback, no reconnect. */
function openClient(port: number, options: IClientOptions): MqttClient {
  return mqtt.connect({
    host: '127.0.0.1',
    port,
    protocolVersion: 4,
    reconnectPeriod: 0,
    connectTimeout: 5000,
    ...options,
  });
}

/**
 * Reconnects a persistent session (clean: false) with a message collector attached before CONNECT: a
 * broker drains the offline queue right after the CONNACK, before `connect()` would have returned.
 */
export function resumeSession(
  port: number,
  options: IClientOptions,
): { client: MqttClient; received: string[] } {
  const client = openClient(port, { ...options, clean: false });
  return { client, received: collect(client) };
}

/**
 * Connects with mqtt.js (MQTT 3.1.1, no reconnect) and resolves with the CONNACK return code. The client
 * stays open when accepted: end it.
 */
export function connect(port: number, options: IClientOptions = {}): Promise<ConnectResult> {
  const client = openClient(port, options);
  return new Promise((resolve) => {
    const settle = (returnCode: number | undefined): void => {
      client.removeAllListeners('connect');
      resolve({ returnCode, client });
    };
    client.once('connect', (connack) => settle(connack.returnCode ?? 0));
    client.once('error', (err) => {
      const code = (err as { code?: unknown }).code;
      settle(typeof code === 'number' ? code : undefined);
    });
    client.once('close', () => settle(undefined));
  });
}

/**
 * Connects a device the test expects in: adds the client to `open` (the test file ends those after each
 * test, accepted or not) and asserts CONNACK 0, naming the client ID and username when it is not.
 */
export async function connectDevice(
  port: number,
  options: IClientOptions,
  open: MqttClient[],
): Promise<MqttClient> {
  const { returnCode, client } = await connect(port, options);
  open.push(client);
  expect(returnCode, `${options.clientId} with ${options.username} should connect`).toBe(0);
  return client;
}

/** Connects and returns only the return code, closing the client. */
export async function connackOf(port: number, options: IClientOptions = {}): Promise<number | undefined> {
  const { returnCode, client } = await connect(port, options);
  client.end(true);
  return returnCode;
}

/** Subscribes and resolves with the SUBACK return codes, one per filter (0x80 = refused). */
export function subackCodes(client: MqttClient, filters: string[], qos: 0 | 1 = 0): Promise<number[]> {
  return new Promise((resolve) => {
    const onPacket = (packet: Packet) => {
      if (packet.cmd !== 'suback') return;
      client.removeListener('packetreceive', onPacket);
      resolve(packet.granted as number[]);
    };
    client.on('packetreceive', onPacket);
    client.subscribe(filters, { qos }, () => {});
  });
}

/** Collects every message a client receives, as `topic payload`. */
export function collect(client: MqttClient): string[] {
  const received: string[] = [];
  client.on('message', (topic, payload) => received.push(`${topic} ${payload.toString()}`));
  return received;
}

/** Resolves once `received` holds an entry equal to `entry` (or rejects after `ms`). */
export async function waitFor(received: string[], entry: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!received.includes(entry)) {
    if (Date.now() > deadline) throw new Error(`never received "${entry}"; got ${JSON.stringify(received)}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Resolves when the client's connection closes (or rejects after `ms`). */
export function closed(client: MqttClient, ms = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    // mqtt.js clears `connected` on close: a client that is already closed resolves at once.
    if (!client.connected) return resolve();
    const timer = setTimeout(() => reject(new Error('connection was not closed')), ms);
    client.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
