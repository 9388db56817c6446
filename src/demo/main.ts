import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { Redis } from 'ioredis';
import { pino } from 'pino';
import { DEFAULT_COST } from '../cli/commands/hash-secret.js';
import { type Config, loadConfig } from '../config.js';
import { ExitCode, isKeygateError } from '../errors.js';
import { createLogger } from '../logger.js';
import { type RunningBroker, startBroker } from '../server/broker.js';
import { Keyspace } from '../store/keyspace.js';
import { redactRedisUrl } from '../store/redis.js';
import { RedisServerNotFound, startThrowawayRedis, type ThrowawayRedis } from './redis-server.js';

/**
 * `npm run demo`: keygate on this machine in one command. Uses REDIS_URL when set, else a throwaway
 * redis-server; seeds two devices and one access key; starts the broker and prints mosquitto commands to
 * try. Instructions go to stdout, the broker's logs to stderr.
 */

const ACCESS_KEY = 'demo-key';
const DEVICES = [
  { id: 'thermo-1', tags: 'floor=3,type=sensor' },
  { id: 'thermo-2', tags: 'floor=4,type=sensor' },
] as const;
const SHUTDOWN_LIMIT_MS = 10_000;

function fail(message: string, code: number): never {
  process.stderr.write(`keygate demo: ${message}\n`);
  process.exit(code);
}

/** Quotes a word for a POSIX shell, only when it needs it. */
function shellWord(word: string): string {
  return /^[A-Za-z0-9_.,:/=@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", `'\\''`)}'`;
}

function command(argv: readonly string[]): string {
  return argv.map(shellWord).join(' ');
}

/**
 * Writes the demo's devices and key the way an admin would, replacing earlier demo records.
 * @throws when Redis cannot be reached or refuses a command.
 */
async function seed(redisUrl: string, keyspace: Keyspace, secretHash: string): Promise<void> {
  const redis = new Redis(redisUrl, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    connectTimeout: 3000,
    retryStrategy: () => null,
  });
  // connect() rejects with a bare "Connection is closed."; the 'error' event says why (ECONNREFUSED, ...).
  let cause: Error | undefined;
  redis.on('error', (err: Error) => {
    cause ??= err;
  });
  try {
    await redis.connect().catch((err: Error) => Promise.reject(cause ?? err));
    const transaction = redis.multi();
    for (const device of DEVICES) {
      transaction.del(keyspace.device(device.id));
      transaction.hset(keyspace.device(device.id), { name: device.id, tags: device.tags });
    }
    transaction.del(keyspace.key(ACCESS_KEY));
    transaction.hset(keyspace.key(ACCESS_KEY), {
      secret: secretHash,
      restrictions: DEVICES.map((device) => device.id).join(','),
      description: 'keygate demo key (npm run demo)',
      createdAt: new Date().toISOString(),
    });
    const failed = ((await transaction.exec()) ?? []).find(([err]) => err !== null)?.[0];
    if (failed) throw failed;
  } finally {
    redis.disconnect();
  }
}

function printInstructions(config: Config, running: RunningBroker, redisLine: string, secret: string): void {
  const host = ['0.0.0.0', '::'].includes(config.mqttHost) ? '127.0.0.1' : config.mqttHost;
  const port = String(running.mqtt.port);
  const root = config.topicRoot;
  const [first, second] = DEVICES;
  const login = (deviceId: string, password: string) => [
    '-h',
    host,
    '-p',
    port,
    '-i',
    deviceId,
    '-u',
    ACCESS_KEY,
    '-P',
    password,
  ];
  const state = JSON.stringify({ data: { temperature: 21 } });
  const sub = command(['mosquitto_sub', ...login(second.id, secret), '-t', `${root}/+/state`, '-v']);
  const pub = command([
    'mosquitto_pub',
    ...login(first.id, secret),
    '-t',
    `${root}/${first.id}/state`,
    '-m',
    state,
  ]);
  const refused = command([
    'mosquitto_pub',
    ...login(first.id, 'wrong-secret'),
    '-t',
    `${root}/${first.id}/state`,
    '-m',
    state,
  ]);
  const devices = DEVICES.map((device) => `${device.id} (${device.tags})`).join(', ');
  process.stdout.write(`
keygate demo is running.
  MQTT     mqtt://${host}:${port}
  Redis    ${redisLine}
  Seeded   devices ${devices}, under the prefix "${config.prefix}"
           access key ${ACCESS_KEY}, restrictions ${DEVICES.map((device) => device.id).join(',')}
  Secret   ${secret}
           (shown only now; Redis holds only its bcrypt hash)

Both devices are in the key's scope, so each may watch the other's state (Losant's rule: a key sees the
devices in its scope, and only those — every delivery is checked, whatever the wildcard).

1. In one terminal, ${second.id} watches the state of every device it may see:

  ${sub}

2. In another, ${first.id} reports its state; ${second.id} receives ${root}/${first.id}/state ${state}

  ${pub}

3. A wrong secret is refused ("Connection Refused: bad user name or password"):

  ${refused}

Press Ctrl-C to stop.
`);
}

async function main(): Promise<void> {
  let config: Config;
  try {
    // The demo listens on loopback unless MQTT_HOST says otherwise (it prints its secret in clear), and
    // its HTTP endpoints on any free port unless HTTP_PORT says otherwise.
    config = loadConfig({ MQTT_HOST: '127.0.0.1', HTTP_PORT: '0', ...process.env });
  } catch (err) {
    fail((err as Error).message, isKeygateError(err) ? err.exitCode : ExitCode.CONFIG);
  }

  let redisServer: ThrowawayRedis | undefined;
  let redisLine: string;
  if (process.env.REDIS_URL) {
    redisLine = `${redactRedisUrl(config.redisUrl)} (from REDIS_URL; the demo records stay there)`;
  } else {
    try {
      redisServer = await startThrowawayRedis();
    } catch (err) {
      if (err instanceof RedisServerNotFound) {
        fail(
          'needs Redis: install redis-server (apt-get install redis-server, brew install redis) or set REDIS_URL=redis://host:6379',
          ExitCode.UNAVAILABLE,
        );
      }
      fail(`cannot start redis-server: ${(err as Error).message}`, ExitCode.UNAVAILABLE);
    }
    const started = redisServer;
    // Every way out, fail() included, takes the throwaway server down with the demo.
    process.on('exit', () => started.kill());
    config.redisUrl = started.url;
    redisLine = `${started.url} (a throwaway redis-server, pid ${started.pid}, stopped with the demo)`;
  }

  const keyspace = new Keyspace(config.prefix);
  const secret = randomBytes(32).toString('base64url');
  try {
    await seed(config.redisUrl, keyspace, await bcrypt.hash(secret, DEFAULT_COST));
  } catch (err) {
    fail(
      `cannot seed Redis at ${redactRedisUrl(config.redisUrl)} (${(err as Error).message}); check REDIS_URL`,
      ExitCode.UNAVAILABLE,
    );
  }

  const logger = createLogger(config.logLevel, pino.destination({ dest: 2, sync: true }));
  let running: RunningBroker;
  try {
    running = await startBroker(config, logger);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') {
      fail(
        `MQTT port ${config.mqttPort} is already in use (another broker, e.g. mosquitto?); pick a free one: MQTT_PORT=${config.mqttPort + 1} npm run demo`,
        ExitCode.UNAVAILABLE,
      );
    }
    fail(`cannot start the broker: ${(err as Error).message}`, ExitCode.UNAVAILABLE);
  }
  printInstructions(config, running, redisLine, secret);

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    process.stdout.write('\nkeygate demo: stopping\n');
    setTimeout(
      () => fail('shutdown took too long: exiting anyway', ExitCode.FAILURE),
      SHUTDOWN_LIMIT_MS,
    ).unref();
    running
      .close()
      .then(() => redisServer?.stop())
      .then(
        () => process.exit(ExitCode.OK),
        (err: Error) => fail(`error while stopping: ${err.message}`, ExitCode.FAILURE),
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

await main();
