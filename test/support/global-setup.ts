import { execFileSync } from 'node:child_process';
import type { TestProject } from 'vitest/node';
import { type RedisServer, startRedisServer } from './redis-server.js';

declare module 'vitest' {
  export interface ProvidedContext {
    redisUrl: string;
  }
}

let server: RedisServer | undefined;

/**
 * Once per run: builds dist/ (the CLI, the demo and the README walk-through run the built code as a user
 * would), and uses REDIS_URL when set, else starts one real redis-server on a free port.
 */
export async function setup(project: TestProject): Promise<void> {
  execFileSync('npm', ['run', 'build', '--silent'], { stdio: 'inherit' });
  let url = process.env.REDIS_URL;
  if (url === undefined || url === '') {
    server = await startRedisServer();
    url = server.url;
  }
  project.provide('redisUrl', url);
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
