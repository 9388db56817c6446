// aedes-persistence-redis ships no type declarations; this is the part keygate uses.
declare module 'aedes-persistence-redis' {
  import type { Redis } from 'ioredis';

  interface RedisPersistenceOptions {
    /** An existing connection (it is disconnected by destroy()); must not use a keyPrefix. */
    conn?: Redis;
    maxSessionDelivery?: number;
  }

  interface RedisPersistence {
    destroy(): Promise<void>;
  }

  function aedesPersistenceRedis(options?: RedisPersistenceOptions): RedisPersistence;
  export default aedesPersistenceRedis;
}
