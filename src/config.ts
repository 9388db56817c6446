import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import { z } from 'zod';
import { KeygateError } from './errors.js';
import { isReservedTopic, isValidTopicName } from './policy/topics.js';

/**
 * Every setting of the ready broker: its environment variable, its config-file field and its default.
 * Precedence: environment variable > config file > default. Validated once at start-up (zod), and a bad
 * value stops the process with one line naming the setting and what it accepts.
 */
const port = z.coerce.number().int().min(0).max(65535);
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
  persistence: { env: 'KEYGATE_PERSISTENCE', schema: z.enum(['memory']), default: 'memory' },
  mqttHost: { env: 'MQTT_HOST', schema: z.string().min(1), default: '0.0.0.0' },
  mqttPort: { env: 'MQTT_PORT', schema: port, default: 1883 },
  logLevel: {
    env: 'LOG_LEVEL',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
    default: 'info',
  },
  authTimeoutMs: { env: 'KEYGATE_AUTH_TIMEOUT_MS', schema: positiveMs, default: 2000 },
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
  for (const [field, setting] of Object.entries(settings)) {
    const fromEnv = env[setting.env];
    const raw = fromEnv !== undefined && fromEnv !== '' ? fromEnv : (file[field] ?? setting.default);
    const result = (setting.schema as z.ZodType).safeParse(raw);
    if (!result.success) {
      const source = fromEnv !== undefined && fromEnv !== '' ? setting.env : `"${field}" in the config file`;
      const why = result.error.issues[0]?.message ?? 'invalid';
      throw new KeygateError('KG_ERR_CONFIG_INVALID', `${source}: ${why}`);
    }
    config[field] = result.data;
  }
  return config as Config;
}
