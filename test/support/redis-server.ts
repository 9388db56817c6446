import { freeLoopbackPort, startThrowawayRedis, type ThrowawayRedis } from '../../src/demo/redis-server.js';

export type RedisServer = ThrowawayRedis;
export const freePort = freeLoopbackPort;

/** A real throwaway `redis-server` (the demo's launcher), on `port` or a free one. */
export function startRedisServer(extraArgs: string[] = [], port?: number): Promise<RedisServer> {
  return startThrowawayRedis({ extraArgs, ...(port === undefined ? {} : { port }) });
}
