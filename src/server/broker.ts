import { once } from 'node:events';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { createKeygate, type Keygate } from '../keygate.js';

export interface RunningBroker {
  readonly broker: Aedes;
  readonly keygate: Keygate;
  /** The MQTT listener's address (its port is the real one when 0 was asked for). */
  readonly mqtt: AddressInfo;
  close(): Promise<void>;
}

/** Starts keygate's ready broker: Aedes with keygate's hooks, and the MQTT TCP listener. */
export async function startBroker(config: Config, logger: Logger): Promise<RunningBroker> {
  const keygate = createKeygate({
    redis: config.redisUrl,
    prefix: config.prefix,
    topicRoot: config.topicRoot,
    logger,
    authTimeoutMs: config.authTimeoutMs,
    redisCommandTimeoutMs: config.redisTimeoutMs,
    bcryptThreads: config.bcryptThreads,
    notifications: config.notifications === 'on',
    revalidateIntervalMs: config.revalidateMs,
  });
  const broker = await Aedes.createBroker({ ...keygate.hooks });
  // Errors emitted by aedes (e.g. a refused stale will of a dead broker) must not crash the process.
  (broker as unknown as NodeJS.EventEmitter).on('error', (err: Error) =>
    logger.warn({ err: err.message }, 'broker error'),
  );
  broker.on('clientError', (client, err) =>
    logger.debug({ clientId: client?.id, err: err.message }, 'client error'),
  );
  broker.on('connectionError', (client, err) =>
    logger.debug({ clientId: client?.id, err: err.message }, 'connection error'),
  );

  const server: Server = createServer(broker.handle);
  server.listen(config.mqttPort, config.mqttHost);
  try {
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([err]) => Promise.reject(err)),
    ]);
  } catch (err) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await keygate.close();
    throw err;
  }
  const mqtt = server.address() as AddressInfo;
  logger.info(
    { host: mqtt.address, port: mqtt.port, topicRoot: config.topicRoot, prefix: config.prefix },
    'MQTT listener up',
  );

  let closing: Promise<void> | undefined;
  return {
    broker,
    keygate,
    mqtt,
    close() {
      closing ??= (async () => {
        const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
        // broker.close() disconnects every client, which lets the listener finish closing.
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        await serverClosed;
        await keygate.close();
      })();
      return closing;
    },
  };
}
