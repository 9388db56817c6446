import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { afterEach, describe, expect, it } from 'vitest';
import { connackOf, redisUrl, Seeder, uniquePrefix } from '../support/harness.js';
import { freePort } from '../support/redis-server.js';

// `npm start` runs dist/server/main.js (built by the test setup); these tests run it as a process.
let child: ChildProcess | undefined;

afterEach(() => {
  if (child && child.exitCode === null) child.kill('SIGKILL');
  child = undefined;
});

function startServer(env: Record<string, string>) {
  const proc = spawn(process.execPath, ['dist/server/main.js'], {
    env: { PATH: process.env.PATH, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child = proc;
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  proc.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(proc, 'exit').then(([code]) => code as number | null);
  const waitFor = async (text: string) => {
    const deadline = Date.now() + 15_000;
    while (!stdout.includes(text)) {
      if (Date.now() > deadline || proc.exitCode !== null)
        throw new Error(`no "${text}" in:\n${stdout}\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return { proc, exited, waitFor, out: () => stdout, err: () => stderr };
}

describe('the ready broker as a process (npm start)', () => {
  it('serves devices with the env settings, and SIGTERM shuts it down with exit 0', async () => {
    const prefix = uniquePrefix();
    const seed = new Seeder(prefix);
    await seed.device('dev-1');
    await seed.key('key-1', 'process-secret');
    await seed.close();
    const port = await freePort();
    const server = startServer({
      REDIS_URL: redisUrl(),
      KEYGATE_PREFIX: prefix,
      MQTT_PORT: String(port),
      MQTT_HOST: '127.0.0.1',
    });
    // The listeners come up first (a stand-in answers CONNACK 3); "broker ready" is when devices are served.
    await server.waitFor('broker ready');
    expect(await connackOf(port, { clientId: 'dev-1', username: 'key-1', password: 'process-secret' })).toBe(
      0,
    );
    expect(await connackOf(port, { clientId: 'dev-1', username: 'key-1', password: 'nope' })).toBe(4);

    server.proc.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(server.out()).toContain('"msg":"stopped"');
    expect(server.out()).not.toContain('process-secret');
  });

  it('a bad setting stops it at once with one line naming the setting (exit 78)', async () => {
    const server = startServer({ MQTT_PORT: 'eighteen' });
    expect(await server.exited).toBe(78);
    expect(server.err().trim().split('\n')).toHaveLength(1);
    expect(server.err()).toMatch(/^keygate: invalid configuration: MQTT_PORT/);
  });

  it('with Redis unreachable it keeps running, says so once, and answers CONNACK 3', async () => {
    const port = await freePort();
    const server = startServer({
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      MQTT_PORT: String(port),
      MQTT_HOST: '127.0.0.1',
    });
    await server.waitFor('MQTT listener up');
    await server.waitFor('cannot reach Redis');
    expect(await connackOf(port, { clientId: 'dev-1', username: 'key-1', password: 'x' })).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(server.out().match(/cannot reach Redis/g)).toHaveLength(1);
    expect(server.proc.exitCode).toBeNull();
    server.proc.kill('SIGINT');
    expect(await server.exited).toBe(0);
  });
});
