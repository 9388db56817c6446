import type { EventEmitter } from 'node:events';
import type { AedesOptions } from 'aedes';
import aedesPersistenceRedis from 'aedes-persistence-redis';
import { Redis } from 'ioredis';
import MQEmitterRedis from 'mqemitter-redis';
import type { Logger } from 'pino';
import type { Config } from '../config.js';
import { createMemoryMessageQueue, guardReleaseRecursion } from './message-queue.js';

/** What Aedes stores sessions, retained messages and wills in, and how messages cross broker instances. */
export interface BrokerStorage {
  /** Options for Aedes.createBroker: `persistence` and `mq` (no persistence: Aedes' in-memory one). */
  readonly aedesOptions: Pick<AedesOptions, 'persistence' | 'mq'>;
  /** Destroys the persistence (Aedes' close() closes the mq but leaves the persistence open). */
  close(): Promise<void>;
}

const noop = (): void => {};

/**
 * `KEYGATE_PERSISTENCE=redis` (the default): aedes-persistence-redis keeps sessions, subscriptions,
 * retained messages, wills and offline queues in Redis, and mqemitter-redis carries every message between
 * broker instances — so several keygate processes behind one address share all of it, and a restart loses
 * nothing. Their keys are unprefixed (`clients`, `retained`, `will:*`, …) and keygate never touches them.
 * `memory`: Aedes' in-memory defaults, for a throwaway broker. Either way the message queue is guarded
 * against the release recursion that crashed aedes under a stuck subscriber (message-queue.ts).
 */
export async function createStorage(config: Config, logger: Logger): Promise<BrokerStorage> {
  if (config.persistence === 'memory') {
    return { aedesOptions: { mq: createMemoryMessageQueue() }, close: async () => {} };
  }

  // Its own connections, with ioredis' defaults (commands wait for a reconnect rather than fail): the
  // auth path's fail-fast connection is not the right one for storing messages. Outages are logged once
  // by keygate's own connection; these stay quiet.
  const conn = new Redis(config.redisUrl, { connectionName: 'keygate-persistence' });
  conn.on('error', noop);
  const persistence = aedesPersistenceRedis({ conn });
  const subConn = new Redis(config.redisUrl, { connectionName: 'keygate-mq-sub' });
  const pubConn = new Redis(config.redisUrl, { connectionName: 'keygate-mq-pub' });
  subConn.on('error', noop);
  pubConn.on('error', noop);
  // Unlimited concurrency by default (nothing queues), guarded all the same: a setting away from the queue.
  const mq = guardReleaseRecursion(MQEmitterRedis({ subConn, pubConn }));
  // mqemitter-redis throws from its `state` emitter when nobody listens for errors.
  (mq as unknown as { state: EventEmitter }).state.on('error', (err: Error) =>
    logger.debug({ err: err.message }, 'mqemitter-redis error'),
  );
  return {
    aedesOptions: { persistence, mq },
    close: async () => {
      await persistence.destroy().catch(noop);
    },
  };
}
