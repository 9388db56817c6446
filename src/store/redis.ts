import { Redis, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';

export interface RedisConnectionOptions {
  url: string;
  /** Bound on every command (SPEC section 5: a paused Redis must not hang a CONNECT). */
  commandTimeoutMs: number;
  logger: Logger;
  /** Name shown by `CLIENT LIST`. */
  connectionName?: string;
}

/** Password-free form of a Redis URL, for logs. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable REDIS_URL)';
  }
}

/**
 * A Redis connection for the auth path. Fail fast rather than queue: with ioredis' defaults a command
 * issued while Redis is down waits for reconnection (10 s, or forever for a SIGSTOPped server), and a
 * CONNECT would hang. Here a command fails at once while disconnected and after `commandTimeoutMs`
 * when Redis does not answer; reconnection goes on in the background forever.
 */
export function createRedisConnection(options: RedisConnectionOptions): Redis {
  const { url, logger } = options;
  const redisOptions: RedisOptions = {
    enableOfflineQueue: false,
    commandTimeout: options.commandTimeoutMs,
    connectTimeout: Math.max(options.commandTimeoutMs, 1000),
    maxRetriesPerRequest: 0,
    retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
    connectionName: options.connectionName ?? 'keygate',
  };
  const redis = new Redis(url, redisOptions);
  // One line when Redis goes away, one when it is back: never a line per retry.
  let down = false;
  redis.on('error', (err: Error) => {
    if (down) return;
    down = true;
    logger.error(
      { redis: redactRedisUrl(url), err: err.message },
      'cannot reach Redis: new CONNECTs get CONNACK 3 (server unavailable) until it answers; check that redis-server is running and REDIS_URL is right — retrying in the background',
    );
  });
  redis.on('ready', () => {
    if (down) logger.info({ redis: redactRedisUrl(url) }, 'Redis is reachable again');
    down = false;
  });
  return redis;
}

/**
 * The names matching `pattern`, one SCAN step at a time (never KEYS, which blocks Redis while it walks
 * every key). Empty steps are skipped; SCAN may return a name in two steps.
 */
export async function* scanNames(redis: Redis, pattern: string, count = 1000): AsyncGenerator<string[]> {
  let cursor = '0';
  do {
    const [next, names] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', count);
    cursor = next;
    if (names.length > 0) yield names;
  } while (cursor !== '0');
}
