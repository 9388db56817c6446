import type { AedesOptions } from 'aedes';
import type { Logger } from 'pino';
import type { Config } from '../config.js';

/** What Aedes stores sessions, retained messages and wills in, and how messages cross broker instances. */
export interface BrokerStorage {
  /** Options for Aedes.createBroker: `persistence` and `mq` (undefined: Aedes' in-memory defaults). */
  readonly aedesOptions: Pick<AedesOptions, 'persistence' | 'mq'>;
  close(): Promise<void>;
}

/** `KEYGATE_PERSISTENCE=memory`: Aedes' in-memory defaults (a throwaway broker). */
export async function createStorage(_config: Config, _logger: Logger): Promise<BrokerStorage> {
  return { aedesOptions: {}, close: async () => {} };
}
