import type { AddressInfo } from 'node:net';
import { Aedes } from 'aedes';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { createKeygate, type Keygate } from '../keygate.js';
import { type ListenerAddresses, type Listeners, startListeners } from './listeners.js';
import { createStorage } from './persistence.js';

export interface RunningBroker {
  readonly broker: Aedes;
  readonly keygate: Keygate;
  /** The MQTT TCP listener's address (its port is the real one when 0 was asked for). */
  readonly mqtt: AddressInfo;
  /** Every listener's address. */
  readonly listeners: ListenerAddresses;
  close(): Promise<void>;
}

/** Starts keygate's ready broker: Aedes with keygate's hooks, its storage, and the listeners. */
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
  const storage = await createStorage(config, logger);
  const broker = await Aedes.createBroker({ ...storage.aedesOptions, ...keygate.hooks });
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

  let listeners: Listeners;
  try {
    listeners = await startListeners(broker, config, logger);
  } catch (err) {
    await new Promise<void>((resolve) => broker.close(() => resolve()));
    await storage.close();
    await keygate.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    broker,
    keygate,
    mqtt: listeners.addresses.mqtt,
    listeners: listeners.addresses,
    close() {
      closing ??= (async () => {
        const listenersClosed = listeners.close();
        // broker.close() disconnects every client, which lets the listeners finish closing.
        await new Promise<void>((resolve) => broker.close(() => resolve()));
        await listenersClosed;
        await storage.close();
        await keygate.close();
      })();
      return closing;
    },
  };
}
