import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { z } from 'zod';
import { MIN_CACHE_KEY_BYTES } from './crypto/verified-credentials.js';
import { KeygateError } from './errors.js';
import { isReservedTopic, isValidTopicName } from './policy/topics.js';

/**
 * Every setting of the ready broker: its environment variable, its config-file field and its default.
 * Precedence: environment variable > config file > default. Validated once at start-up (zod), and a bad
 * value stops the process with one line naming the setting and what it accepts.
 */
const port = z.coerce.number().int().min(0).max(65535);
// A listener that is off unless set: unset, empty or `off` = off; else a port (0 = any free port).
const optionalPort = z.preprocess(
  (value) => (value === '' || value === 'off' || value === null ? undefined : value),
  z.coerce.number('a port number (0-65535) or off').int().min(0).max(65535).optional(),
);
// A path to a PEM file; readability and contents are checked after parsing (checkTransports).
const pemFile = z.string().min(1).optional();
const positiveMs = z.coerce.number().int().min(1).max(600_000);
// A single topic level that is neither reserved (`$`) nor a wildcard: devices publish below it.
const topicLevel = z
  .string()
  .refine(
    (level) =>
      level.length <= 64 && isValidTopicName(level) && !level.includes('/') && !isReservedTopic(level),
    'one topic level of at most 64 characters, without / + # and not starting with $',
  );

export const settings = {
  redisUrl: {
    env: 'REDIS_URL',
    schema: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL'),
    default: 'redis://127.0.0.1:6379',
  },
  prefix: { env: 'KEYGATE_PREFIX', schema: z.string().max(64), default: 'keygate:' },
  topicRoot: { env: 'KEYGATE_TOPIC_ROOT', schema: topicLevel, default: 'losant' },
  persistence: { env: 'KEYGATE_PERSISTENCE', schema: z.enum(['redis', 'memory']), default: 'redis' },
  mqttHost: { env: 'MQTT_HOST', schema: z.string().min(1), default: '0.0.0.0' },
  mqttPort: { env: 'MQTT_PORT', schema: port, default: 1883 },
  // TLS: MQTT over TLS on mqttsPort (and secure WebSocket when wssPort is set) once a certificate and its
  // key are given; with a CA, clients must present a certificate it signed.
  mqttsPort: { env: 'MQTTS_PORT', schema: port, default: 8883 },
  tlsCertFile: { env: 'TLS_CERT_FILE', schema: pemFile, default: undefined },
  tlsKeyFile: { env: 'TLS_KEY_FILE', schema: pemFile, default: undefined },
  tlsCaFile: { env: 'TLS_CA_FILE', schema: pemFile, default: undefined },
  // MQTT over WebSocket (path /mqtt): off unless a port is given.
  wsPort: { env: 'WS_PORT', schema: optionalPort, default: undefined },
  wssPort: { env: 'WSS_PORT', schema: optionalPort, default: undefined },
  // /healthz, /readyz and /metrics.
  httpPort: { env: 'HTTP_PORT', schema: port, default: 9102 },
  logLevel: {
    env: 'LOG_LEVEL',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
  },
  authTimeoutMs: { env: 'KEYGATE_AUTH_TIMEOUT_MS', schema: positiveMs, default: 2000 },
  verifyWaitMs: { env: 'KEYGATE_VERIFY_WAIT_MS', schema: positiveMs, default: 25_000 },
  maxQueuedVerifications: {
    env: 'KEYGATE_MAX_QUEUED_VERIFICATIONS',
    schema: z.coerce.number().int().min(1).max(1_000_000),
    default: 10_000,
  },
  redisTimeoutMs: { env: 'KEYGATE_REDIS_TIMEOUT_MS', schema: positiveMs, default: 500 },
  notifications: {
    env: 'KEYGATE_NOTIFICATIONS',
    schema: z.enum(['on', 'off']),
    default: 'on',
  },
  revalidateMs: {
    env: 'KEYGATE_REVALIDATE_MS',
    schema: z.coerce.number().int().min(100).max(86_400_000),
    default: 15_000,
  },
  bcryptThreads: {
    env: 'KEYGATE_BCRYPT_THREADS',
    schema: z.coerce.number().int().min(1).max(64),
    default: availableParallelism(),
  },
  // Brute-force protection (README "Security: brute force"): 0 failures = off.
  banThreshold: {
    env: 'KEYGATE_BAN_THRESHOLD',
    schema: z.coerce.number().int().min(0).max(1_000_000),
    default: 5,
  },
  banMs: { env: 'KEYGATE_BAN_MS', schema: z.coerce.number().int().min(1).max(86_400_000), default: 30_000 },
  banMaxMs: {
    env: 'KEYGATE_BAN_MAX_MS',
    schema: z.coerce.number().int().min(1).max(604_800_000),
    default: 3_600_000,
  },
  // A banned (or backed-off) CONNECT waits this long for its CONNACK 5: slows down clients that retry at once.
  banDelayMs: {
    env: 'KEYGATE_BAN_DELAY_MS',
    schema: z.coerce.number().int().min(0).max(60_000),
    default: 1000,
  },
  // Hostile packets (README "Security: hostile packets"). Sizes are an MQTT packet's remaining length
  // as declared in its fixed header [MQTT-2.2.3]: a larger declaration closes the connection before any
  // of its bytes are buffered.
  maxConnectBytes: {
    env: 'KEYGATE_MAX_CONNECT_BYTES',
    schema: z.coerce.number().int().min(1024).max(268_435_455),
    default: 262_144,
  },
  maxPacketBytes: {
    env: 'KEYGATE_MAX_PACKET_BYTES',
    schema: z.coerce.number().int().min(1024).max(268_435_455),
    default: 1_048_576,
  },
  connectTimeoutMs: { env: 'KEYGATE_CONNECT_TIMEOUT_MS', schema: positiveMs, default: 10_000 },
  // Floods from authenticated devices (README "Security: floods"): 0 = off. Over a limit, the device is
  // disconnected and backed off (KEYGATE_BAN_MS, doubling up to KEYGATE_BAN_MAX_MS).
  maxPayloadBytes: {
    env: 'KEYGATE_MAX_PAYLOAD_BYTES',
    schema: z.coerce.number().int().min(0).max(268_435_455),
    default: 262_144,
  },
  rateLimit: {
    env: 'KEYGATE_RATE_LIMIT',
    schema: z.coerce.number().int().min(0).max(1_000_000),
    default: 0,
  },
  rateWindowMs: {
    env: 'KEYGATE_RATE_WINDOW_MS',
    schema: z.coerce.number().int().min(1).max(86_400_000),
    default: 15_000,
  },
  // No lost acknowledged messages (README "When Redis fails"): a QoS 1 PUBACK is written only once the
  // message is stored; a store slower than this closes the connection without PUBACK (the client resends).
  storeTimeoutMs: { env: 'KEYGATE_STORE_TIMEOUT_MS', schema: positiveMs, default: 5_000 },
  // Verified-credential cache (docs/CREDENTIAL-CACHE.md): a reconnect with the secret verified within this
  // many ms skips bcrypt; 0 = bcrypt on every CONNECT. With the key file (>= 32 bytes, the same on every
  // instance, never in Redis) proofs are shared through Redis, so a restarted broker re-admits at once.
  credentialCacheMs: {
    env: 'KEYGATE_CREDENTIAL_CACHE_MS',
    schema: z.coerce.number().int().min(0).max(2_592_000_000),
    default: 86_400_000,
  },
  credentialCacheKeyFile: { env: 'KEYGATE_CREDENTIAL_CACHE_KEY_FILE', schema: pemFile, default: undefined },
} as const;

type Settings = typeof settings;
export type Config = { -readonly [K in keyof Settings]: z.infer<Settings[K]['schema']> };

export const DEFAULT_CONFIG_FILE = 'config/keygate.json';

function readConfigFile(path: string, explicit: boolean): Record<string, unknown> {
  if (!existsSync(path)) {
    if (explicit) throw new KeygateError('KG_ERR_CONFIG_INVALID', `KEYGATE_CONFIG: no file at ${path}`);
    return {};
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new KeygateError('KG_ERR_CONFIG_INVALID', `${path} is not valid JSON (${(err as Error).message})`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new KeygateError('KG_ERR_CONFIG_INVALID', `${path} must hold a JSON object`);
  }
  for (const field of Object.keys(parsed)) {
    if (!Object.hasOwn(settings, field)) {
      throw new KeygateError(
        'KG_ERR_CONFIG_INVALID',
        `${path}: unknown setting "${field}"; known: ${Object.keys(settings).join(', ')}`,
      );
    }
  }
  return parsed as Record<string, unknown>;
}

/**
 * Loads the configuration from `env` and the optional JSON file (`KEYGATE_CONFIG`, else
 * `config/keygate.json` when it exists).
 * @throws KeygateError KG_ERR_CONFIG_INVALID naming the setting.
 */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, cwd = process.cwd()): Config {
  const explicit = env.KEYGATE_CONFIG !== undefined && env.KEYGATE_CONFIG !== '';
  const file = readConfigFile(
    resolve(cwd, explicit ? (env.KEYGATE_CONFIG as string) : DEFAULT_CONFIG_FILE),
    explicit,
  );
  const config: Record<string, unknown> = {};
  const sources = new Map<string, string>();
  for (const [field, setting] of Object.entries(settings)) {
    const fromEnv = env[setting.env];
    const raw = fromEnv !== undefined && fromEnv !== '' ? fromEnv : (file[field] ?? setting.default);
    const source = fromEnv !== undefined && fromEnv !== '' ? setting.env : `"${field}" in the config file`;
    const explicit = (fromEnv !== undefined && fromEnv !== '') || (file[field] ?? undefined) !== undefined;
    if (explicit) sources.set(field, source);
    const result = (setting.schema as z.ZodType).safeParse(raw);
    if (!result.success) {
      const why = result.error.issues[0]?.message ?? 'invalid';
      throw new KeygateError('KG_ERR_CONFIG_INVALID', `${source}: ${why}`);
    }
    config[field] = result.data;
  }
  checkTransports(config as Config, sources, cwd);
  return config as Config;
}

/**
 * Cross-setting checks of the listeners: the TLS files come as a pair, are readable and hold a usable
 * certificate and key; a TLS listener set explicitly needs them; two listeners never share a port.
 * Resolves the TLS file paths against `cwd`. `sources` names where each explicitly set field came from.
 */
function checkTransports(config: Config, sources: Map<string, string>, cwd: string): void {
  const fail = (field: string, why: string): never => {
    const source = sources.get(field) ?? settings[field as keyof Settings].env;
    throw new KeygateError('KG_ERR_CONFIG_INVALID', `${source}: ${why}`);
  };
  if (config.credentialCacheKeyFile !== undefined) {
    config.credentialCacheKeyFile = resolve(cwd, config.credentialCacheKeyFile);
    let size = 0;
    try {
      size = readFileSync(config.credentialCacheKeyFile).length;
    } catch (err) {
      fail(
        'credentialCacheKeyFile',
        `cannot read ${config.credentialCacheKeyFile} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`,
      );
    }
    if (size < MIN_CACHE_KEY_BYTES) {
      fail(
        'credentialCacheKeyFile',
        `${config.credentialCacheKeyFile} must hold at least ${MIN_CACHE_KEY_BYTES} random bytes (e.g. openssl rand -out FILE 32)`,
      );
    }
    if (config.credentialCacheMs === 0)
      fail('credentialCacheKeyFile', 'needs KEYGATE_CREDENTIAL_CACHE_MS > 0');
  }
  const pem: Partial<Record<'tlsCertFile' | 'tlsKeyFile' | 'tlsCaFile', string>> = {};
  for (const field of ['tlsCertFile', 'tlsKeyFile', 'tlsCaFile'] as const) {
    const path = config[field];
    if (path === undefined) continue;
    config[field] = resolve(cwd, path);
    try {
      pem[field] = readFileSync(config[field] as string, 'utf8');
    } catch (err) {
      fail(field, `cannot read ${config[field]} (${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`);
    }
  }
  const tls = pem.tlsCertFile !== undefined || pem.tlsKeyFile !== undefined;
  if (tls) {
    if (pem.tlsCertFile === undefined) fail('tlsKeyFile', 'needs TLS_CERT_FILE (the certificate) too');
    if (pem.tlsKeyFile === undefined) fail('tlsCertFile', 'needs TLS_KEY_FILE (its private key) too');
    try {
      new X509Certificate(pem.tlsCertFile as string);
    } catch {
      fail('tlsCertFile', `${config.tlsCertFile} does not hold a PEM certificate`);
    }
    try {
      createSecureContext({ cert: pem.tlsCertFile, key: pem.tlsKeyFile });
    } catch (err) {
      fail(
        'tlsKeyFile',
        `${config.tlsKeyFile} is not the private key of TLS_CERT_FILE (${(err as Error).message})`,
      );
    }
  } else {
    if (pem.tlsCaFile !== undefined) fail('tlsCaFile', 'needs TLS_CERT_FILE and TLS_KEY_FILE too');
    if (sources.has('mqttsPort')) fail('mqttsPort', 'needs TLS_CERT_FILE and TLS_KEY_FILE');
    if (config.wssPort !== undefined) fail('wssPort', 'needs TLS_CERT_FILE and TLS_KEY_FILE');
  }
  if (pem.tlsCaFile !== undefined) {
    try {
      createSecureContext({ ca: pem.tlsCaFile });
      new X509Certificate(pem.tlsCaFile);
    } catch {
      fail('tlsCaFile', `${config.tlsCaFile} does not hold a PEM CA certificate`);
    }
  }
  if (config.banMaxMs < config.banMs) fail('banMaxMs', `must be at least KEYGATE_BAN_MS (${config.banMs})`);
  const ports: [field: keyof Config, port: number | undefined][] = [
    ['mqttPort', config.mqttPort],
    ['mqttsPort', tls ? config.mqttsPort : undefined],
    ['wsPort', config.wsPort],
    ['wssPort', config.wssPort],
    ['httpPort', config.httpPort],
  ];
  const taken = new Map<number, string>();
  for (const [field, port] of ports) {
    if (port === undefined || port === 0) continue;
    const other = taken.get(port);
    if (other !== undefined)
      fail(field, `port ${port} is already ${settings[other as keyof Settings].env}'s`);
    taken.set(port, field);
  }
}
