import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Aedes, type Client } from 'aedes';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { KeygateError } from '../errors.js';
import { clientAddress } from '../hooks/client-address.js';
import { createKeygate, type Keygate } from '../keygate.js';
import { createMetrics, type PrometheusMetrics } from '../metrics.js';
import { type HttpEndpoints, type Readiness, startHttpEndpoints } from './http.js';
import { type ListenerAddresses, type Listeners, startListeners } from './listeners.js';
import { createStorage } from './persistence.js';
import { dropClientAnnouncements } from './sys-announcements.js';

export interface RunningBroker {
  readonly broker: Aedes;
  readonly keygate: Keygate;
  /** The MQTT TCP listener's address (its port is the real one when 0 was asked for). */
  readonly mqtt: AddressInfo;
  /** Every MQTT listener's address. */
  readonly listeners: ListenerAddresses;
  /** The HTTP endpoints' address (/healthz, /readyz, /metrics on HTTP_PORT). */
  readonly http: AddressInfo;
  readonly metrics: PrometheusMetrics;
  /** What /readyz answers. */
  readiness(): Readiness;
  /**
   * Graceful shutdown: /readyz turns 503, the MQTT listeners stop accepting, every client is closed, then
   * the storage and keygate, and the HTTP endpoints last.
   */
  close(): Promise<void>;
}

/** The error aedes closes a connection with when no CONNECT arrived within its `connectTimeout`. */
const AEDES_CONNECT_TIMEOUT = 'connect did not arrive in time';

function closeBroker(broker: Aedes): Promise<void> {
  return new Promise((resolve) => broker.close(() => resolve()));
}

/** Starts keygate's ready broker: Aedes with keygate's hooks, its storage, and the listeners. */
export async function startBroker(config: Config, logger: Logger): Promise<RunningBroker> {
  const metrics = createMetrics();
  const keygate = createKeygate({
    redis: config.redisUrl,
    prefix: config.prefix,
    topicRoot: config.topicRoot,
    logger,
    authTimeoutMs: config.authTimeoutMs,
    verifyWaitMs: config.verifyWaitMs,
    maxQueuedVerifications: config.maxQueuedVerifications,
    redisCommandTimeoutMs: config.redisTimeoutMs,
    bcryptThreads: config.bcryptThreads,
    notifications: config.notifications === 'on',
    revalidateIntervalMs: config.revalidateMs,
    storeTimeoutMs: config.storeTimeoutMs,
    refusalDelayMs: config.banDelayMs,
    credentialCache:
      config.credentialCacheMs === 0
        ? false
        : {
            ttlMs: config.credentialCacheMs,
            ...(config.credentialCacheKeyFile === undefined
              ? {}
              : { key: readFileSync(config.credentialCacheKeyFile) }),
          },
    throttle: { threshold: config.banThreshold, banMs: config.banMs, banMaxMs: config.banMaxMs },
    floods: {
      maxPayloadBytes: config.maxPayloadBytes,
      rateLimit: config.rateLimit,
      rateWindowMs: config.rateWindowMs,
      banMs: config.banMs,
      banMaxMs: config.banMaxMs,
    },
    metrics,
  });
  const storage = await createStorage(config, logger);
  // Until the real broker is up (with the Redis persistence, Aedes waits for Redis to load the stored
  // subscriptions), a stand-in answers every CONNECT with CONNACK 3: the listeners are up at once and a
  // device learns "server unavailable" rather than finding nothing listening.
  const standIn = await Aedes.createBroker({
    connectTimeout: config.connectTimeoutMs,
    authenticate: (_client, _username, _password, done) =>
      done(new KeygateError('KG_ERR_STORE_UNAVAILABLE', 'broker starting') as never, null),
  });
  // A connection that has not sent a complete CONNECT within connectTimeoutMs is closed by aedes: counted
  // with the frame guard's drops.
  const onConnectionError = (client: Client | null, err: Error): void => {
    if (err.message !== AEDES_CONNECT_TIMEOUT) return;
    logger.info({ address: clientAddress(client), reason: 'connect-timeout' }, 'connection dropped');
    metrics.connectionDropped('connect-timeout');
  };
  standIn.on('connectionError', onConnectionError);
  let current: Aedes = standIn;
  const dispatcher = { handle: (conn: never, req: never) => current.handle(conn, req) } as unknown as Aedes;
  metrics.countConnectedClients(() => current.connectedClients);

  let real: Aedes | undefined;
  let closing: Promise<void> | undefined;
  let listeners: Listeners | undefined;
  const readiness = (): Readiness => {
    if (closing !== undefined) return { ready: false, reason: 'shutting down' };
    if (listeners === undefined) return { ready: false, reason: 'listeners starting' };
    if (keygate.redis.status !== 'ready') {
      return { ready: false, reason: `Redis not reachable (connection ${keygate.redis.status})` };
    }
    if (real === undefined) return { ready: false, reason: 'broker starting (loading its persistence)' };
    return { ready: true };
  };
  let http: HttpEndpoints | undefined;
  try {
    // HTTP first (/readyz says "listeners starting" meanwhile): the MQTT listeners come up last, right
    // before the real broker starts.
    http = await startHttpEndpoints({
      host: config.mqttHost,
      port: config.httpPort,
      metrics,
      readiness,
      logger,
    });
    listeners = await startListeners(dispatcher, config, logger, {
      dropped: (reason) => metrics.connectionDropped(reason),
    });
  } catch (err) {
    const listenersClosed = listeners?.close();
    await closeBroker(standIn);
    listeners?.dropConnections();
    await listenersClosed;
    await http?.close();
    await storage.close();
    await keygate.close();
    throw err;
  }
  const up = listeners;
  const endpoints = http;
  const realReady = Aedes.createBroker({
    ...storage.aedesOptions,
    ...keygate.hooks,
    connectTimeout: config.connectTimeoutMs,
  }).then((broker) => {
    dropClientAnnouncements(broker, config.persistence === 'redis');
    // Errors emitted by aedes (e.g. a refused stale will of a dead broker) must not crash the process.
    (broker as unknown as NodeJS.EventEmitter).on('error', (err: Error) =>
      logger.warn({ err: err.message }, 'broker error'),
    );
    broker.on('clientError', (client, err) =>
      logger.debug({ clientId: client?.id, err: err.message }, 'client error'),
    );
    broker.on('connectionError', (client, err) => {
      if (err.message === AEDES_CONNECT_TIMEOUT) return onConnectionError(client, err);
      logger.debug({ clientId: client?.id, err: err.message }, 'connection error');
    });
    if (closing !== undefined) {
      // Shut down while it was starting: it never serves.
      void closeBroker(broker);
      return broker;
    }
    real = broker;
    current = broker;
    logger.info({ persistence: config.persistence }, 'broker ready');
    return broker;
  });
  realReady.catch((err: Error) => logger.error({ err: err.message }, 'the broker could not start'));
  // Wait a little for it (immediate in memory, one Redis round trip otherwise); past that, start anyway.
  await Promise.race([realReady, new Promise((resolve) => setTimeout(resolve, 3000).unref())]);
  if (real === undefined)
    logger.warn('broker not ready yet (waiting for Redis): CONNECTs get CONNACK 3 meanwhile');

  return {
    get broker() {
      return current;
    },
    keygate,
    mqtt: up.addresses.mqtt,
    listeners: up.addresses,
    http: endpoints.address,
    metrics,
    readiness,
    close() {
      closing ??= (async () => {
        // Stop accepting at once; /readyz already answers 503, so a load balancer stops sending clients.
        const listenersClosed = up.close();
        // broker.close() disconnects every client, which lets the listeners finish closing; connections
        // that never completed a CONNECT (the broker does not know them) are dropped next.
        await closeBroker(standIn);
        if (real !== undefined) await closeBroker(real);
        up.dropConnections();
        await listenersClosed;
        await storage.close();
        await keygate.close();
        // Last: /readyz and /metrics keep answering while the broker drains.
        await endpoints.close();
      })();
      return closing;
    },
  };
}
