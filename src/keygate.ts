import type { Aedes } from 'aedes';
import type { Redis } from 'ioredis';
import { type Logger, pino } from 'pino';
import { fingerprintSecretHash } from './crypto/fingerprint.js';
import { SecretVerifier } from './crypto/secret-verifier.js';
import { VerifiedCredentials } from './crypto/verified-credentials.js';
import { createAuthenticate } from './hooks/authenticate.js';
import {
  createAuthorizeForward,
  createAuthorizePublish,
  createAuthorizeSubscribe,
} from './hooks/authorize.js';
import { ConnectThrottle, type ThrottleSettings } from './hooks/connect-throttle.js';
import { DeliveryGuard } from './hooks/delivery-guard.js';
import { FloodLimits, type FloodSettings } from './hooks/flood-limits.js';
import { LiveSessions } from './hooks/live-sessions.js';
import { createPreConnect } from './hooks/pre-connect.js';
import { SessionRegistry } from './hooks/sessions.js';
import { WarmConnects } from './hooks/warm-connects.js';
import { type KeygateMetrics, noMetrics } from './metrics.js';
import type { KeyRecord } from './policy/model.js';
import { ChangeFeed } from './store/change-feed.js';
import { DeviceDirectory, loadDirectory } from './store/device-directory.js';
import { KeyStore } from './store/key-store.js';
import { DEFAULT_PREFIX, Keyspace } from './store/keyspace.js';
import { ProblemLog } from './store/problem-log.js';
import { createRedisConnection } from './store/redis.js';

export const DEFAULT_TOPIC_ROOT = 'losant';

export interface KeygateOptions {
  /**
   * Where the access keys live: a Redis URL (keygate opens and closes its own connection, with fail-fast
   * settings), or an ioredis connection you own (keygate does not close it; give it
   * `enableOfflineQueue: false` and a `commandTimeout` so a dead Redis cannot slow CONNECTs down).
   */
  redis: string | Redis;
  /** Prefix of every keygate key in Redis. Default `keygate:`. */
  prefix?: string;
  /** First topic level of device topics. Default `losant`. */
  topicRoot?: string;
  /** A pino logger; default: silent. */
  logger?: Logger;
  /** Bound on one CONNECT's authentication, in ms; past it the CONNACK is 3. Default 2000. */
  authTimeoutMs?: number;
  /**
   * Longer bound for a CONNECT waiting for its bcrypt verification (queued behind a storm of others), in
   * ms: it waits for its turn rather than being told CONNACK 3 and retrying. Default 25000 (under the 30 s
   * connect timeout of common MQTT clients).
   */
  verifyWaitMs?: number;
  /** Bound on one Redis command when keygate opens the connection itself, in ms. Default 500. */
  redisCommandTimeoutMs?: number;
  /** Threads verifying bcrypt hashes. Default: the number of CPUs. */
  bcryptThreads?: number;
  /**
   * Verifications allowed to wait for a thread before CONNECTs get CONNACK 3. Default 10000: a cold storm of
   * that many devices waits for its turn (KEYGATE_VERIFY_WAIT_MS) rather than retrying.
   */
  maxQueuedVerifications?: number;
  /**
   * Follow changes in Redis through keyspace notifications (enabled with CONFIG SET when the server
   * allows it). Default true. Off, changes reach live sessions at the periodic re-validation only.
   */
  notifications?: boolean;
  /** Period of the full re-validation of live sessions against Redis, in ms. Default 15000. */
  revalidateIntervalMs?: number;
  /**
   * Brute-force protection: after `threshold` failed CONNECTs (CONNACK 4 per address and per key, 5 per
   * address) an address or key is refused (CONNACK 5, no verification) for `banMs`, doubling on each
   * further ban up to `banMaxMs`. In memory, per instance. Defaults 5, 30000, 3600000; `threshold: 0`
   * or `false` turns it off.
   */
  throttle?: Partial<ThrottleSettings> | false;
  /**
   * How long a CONNECT refused by a ban (brute force) or a back-off (floods) waits for its CONNACK 5, in
   * ms: a tarpit for clients that retry at once. Default 1000; 0 answers at once.
   */
  refusalDelayMs?: number;
  /**
   * Longest a QoS 1 PUBLISH waits for its message to be stored (retained, persistent sessions' queues)
   * before aedes may PUBACK it; past it the connection is closed without PUBACK. Default 5000.
   */
  storeTimeoutMs?: number;
  /**
   * Verified-credential cache (docs/CREDENTIAL-CACHE.md): `ttlMs` how long a verification is remembered;
   * `key` (>= 32 bytes, the same on every instance, never stored in Redis) makes the proofs shareable
   * through Redis. Default `{ ttlMs: 86400000 }` with a per-process key; `false`: bcrypt on every CONNECT.
   */
  credentialCache?: { ttlMs?: number; key?: Buffer } | false;
  /**
   * Floods from authenticated devices: a PUBLISH whose payload is over `maxPayloadBytes`, or past
   * `rateLimit` PUBLISHes in `rateWindowMs` on one connection, is refused (the connection closes) and the
   * device's CONNECTs get CONNACK 5 for `banMs`, doubling on each further violation up to `banMaxMs`.
   * A will over `maxPayloadBytes` is refused at CONNECT (5). In memory, per instance. Defaults 262144
   * (256 KB), 0 (no rate limit), 15000, 30000, 3600000; a limit of 0 is off, `false` turns both off.
   */
  floods?: Partial<FloodSettings> | false;
  /** Where to count CONNECTs, refusals, verifications, revocations... (`createMetrics()`). Default: nowhere. */
  metrics?: KeygateMetrics;
}

/** The Aedes hooks keygate provides: spread them into `Aedes.createBroker({ ... })`. */
export interface KeygateHooks {
  preConnect: Aedes['preConnect'];
  authenticate: Aedes['authenticate'];
  authorizePublish: Aedes['authorizePublish'];
  authorizeSubscribe: Aedes['authorizeSubscribe'];
  authorizeForward: Aedes['authorizeForward'];
}

export interface Keygate {
  readonly hooks: KeygateHooks;
  /** The Redis connection keygate reads from. */
  readonly redis: Redis;
  /** Stops the verification threads and, if keygate opened it, the Redis connection. */
  close(): Promise<void>;
}

/** Creates keygate's hooks for an Aedes broker, backed by the Redis key store. */
export function createKeygate(options: KeygateOptions): Keygate {
  const logger = options.logger ?? pino({ level: 'silent' });
  const metrics = options.metrics ?? noMetrics;
  const ownsRedis = typeof options.redis === 'string';
  const redis =
    typeof options.redis === 'string'
      ? createRedisConnection({
          url: options.redis,
          commandTimeoutMs: options.redisCommandTimeoutMs ?? 500,
          logger,
        })
      : options.redis;
  const keyspace = new Keyspace(options.prefix ?? DEFAULT_PREFIX);
  const problems = new ProblemLog(logger);
  const directory = new DeviceDirectory(redis, keyspace, problems);
  const store = new KeyStore(redis, keyspace, problems, directory);
  const verifier = new SecretVerifier({
    threads: options.bcryptThreads,
    maxQueue: options.maxQueuedVerifications,
    metrics,
  });
  const cache = options.credentialCache ?? {};
  const verified =
    cache === false || cache.ttlMs === 0
      ? undefined
      : new VerifiedCredentials<KeyRecord>({
          ttlMs: cache.ttlMs ?? 86_400_000,
          ...(cache.key === undefined ? {} : { key: cache.key }),
        });
  const sessions = new SessionRegistry();
  const throttle = options.throttle === false ? undefined : new ConnectThrottle(options.throttle);
  const floodLimits = options.floods === false ? undefined : new FloodLimits(options.floods);
  const floods = floodLimits?.enabled ? { floods: floodLimits } : {};
  const topicRoot = options.topicRoot ?? DEFAULT_TOPIC_ROOT;
  const timeoutMs = options.authTimeoutMs ?? 2000;
  const authorizeDeps = {
    sessions,
    directory,
    guard: new DeliveryGuard(directory, topicRoot),
    topicRoot,
    timeoutMs,
    logger,
    metrics,
    storeTimeoutMs: options.storeTimeoutMs ?? 5000,
    ...floods,
  };

  // Changes in Redis reach live sessions: at once through keyspace notifications, and with a bounded
  // delay through the periodic re-validation (which also reloads every device into memory). A
  // (re)connection to Redis means notifications may have been missed: re-validate everything then.
  const live = new LiveSessions({ sessions, store, directory, logger, metrics });
  let revalidating: Promise<void> | undefined;
  const revalidateAll = (): void => {
    revalidating ??= live.revalidateAll().finally(() => {
      revalidating = undefined;
    });
  };
  const countRedisError = (): void => metrics.redisError();
  redis.on('error', countRedisError);
  if (redis.status === 'ready') void loadDirectory(directory, logger);
  redis.on('ready', revalidateAll);
  const feed = options.notifications === false ? undefined : new ChangeFeed(redis, keyspace, logger);
  // Warm reconnects decided from memory need the change feed (and the credential cache to hold the records).
  const warm =
    feed === undefined || verified === undefined
      ? undefined
      : new WarmConnects({ feed, verified, banMemoryMs: throttle?.settings.banMaxMs ?? 3_600_000 });
  if (warm) metrics.watchMemoryInStep?.(() => warm.usable);
  const timer = setInterval(() => {
    warm?.dropRecords();
    revalidateAll();
  }, options.revalidateIntervalMs ?? 15_000);
  timer.unref();
  if (feed) {
    feed.on('key', (accessKey) => {
      warm?.keyChanged(accessKey);
      void live.keyChanged(accessKey);
    });
    feed.on('device', (deviceId) => {
      const change = warm?.deviceChanging(deviceId);
      void live.deviceChanged(deviceId).then((settled) => {
        if (settled && change !== undefined) warm?.deviceSettled(deviceId, change);
      });
    });
    feed.on('resync', () => {
      // Changes may have been missed: every device is read again and every session re-decided. With warm
      // reconnects, the one read that makes memory usable again (after the (re)subscription) serves the
      // sessions too — at start-up and after a Redis restart, one full read of the directory fewer.
      if (warm === undefined) {
        revalidateAll();
        return;
      }
      // Memory is usable for CONNECTs again once every device was read after the (re)subscription.
      void warm
        .resync(async () => {
          await directory.loadAll();
          const bans = await store.bans();
          if (!verified?.shareable) return { bans };
          const proven = (await store.sharedProofs()).map(({ accessKey, proof, key }) => ({
            accessKey,
            proof,
            fingerprint: fingerprintSecretHash(key.secretHash as string),
            record: (key.record as { value: KeyRecord }).value,
          }));
          return { bans, proven };
        })
        .then((usable) => {
          // Superseded (another resync, which re-decides the sessions in turn) or stopped: nothing more.
          if (!usable) return;
          logger.debug('memory reloaded after the change feed (re)subscribed');
          return live.recheckAll();
        })
        .catch((err: unknown) =>
          logger.warn({ err: (err as Error).message }, 're-validation after a resync failed'),
        );
    });
    if (warm) {
      feed.on('ban', (name) => warm.banNoticed(name));
      feed.on('lost', () => {
        logger.debug('change feed lost: every CONNECT reads Redis until it is back');
        warm.lost();
      });
    }
    feed.start();
  }

  const hooks: KeygateHooks = {
    preConnect: createPreConnect(sessions),
    authenticate: createAuthenticate({
      store,
      verifier,
      sessions,
      directory,
      topicRoot,
      timeoutMs,
      verifyWaitMs: options.verifyWaitMs ?? 25_000,
      logger,
      metrics,
      ...(throttle?.enabled ? { throttle } : {}),
      refusalDelayMs: options.refusalDelayMs ?? 1000,
      ...(verified === undefined ? {} : { verified }),
      ...(warm === undefined ? {} : { warm }),
      ...floods,
    }),
    authorizePublish: createAuthorizePublish(authorizeDeps),
    authorizeSubscribe: createAuthorizeSubscribe(authorizeDeps),
    authorizeForward: createAuthorizeForward(authorizeDeps),
  };

  let closing: Promise<void> | undefined;
  return {
    hooks,
    redis,
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        redis.off('ready', revalidateAll);
        redis.off('error', countRedisError);
        warm?.close();
        await feed?.close();
        await revalidating;
        await verifier.close();
        if (ownsRedis) redis.disconnect();
      })();
      return closing;
    },
  };
}
