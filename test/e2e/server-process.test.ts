import { afterEach, describe, expect, it } from 'vitest';
import { type BrokerProcess, startBrokerProcess } from '../support/broker-process.js';
import { connackOf, redisUrl, Seeder, uniquePrefix } from '../support/harness.js';
import { freePort } from '../support/redis-server.js';

// `npm start` runs dist/server/main.js (built by the test setup); these tests run it as a process.
let child: BrokerProcess | undefined;

afterEach(async () => {
  await child?.kill();
  child = undefined;
});

function startServer(env: Record<string, string>): BrokerProcess {
  child = startBrokerProcess(env);
  return child;
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
    });
    // The listeners come up first (a stand-in answers CONNACK 3); "broker ready" is when devices are served.
    await server.waitFor('broker ready');
    expect(await connackOf(port, { clientId: 'dev-1', username: 'key-1', password: 'process-secret' })).toBe(
      0,
    );
    expect(await connackOf(port, { clientId: 'dev-1', username: 'key-1', password: 'nope' })).toBe(4);

    server.proc.kill('SIGTERM');
    expect(await server.exited).toBe(0);
    expect(server.stdout()).toContain('"msg":"stopped"');
    expect(server.stdout()).not.toContain('process-secret');
  });

  it('a bad setting stops it at once with one line naming the setting (exit 78)', async () => {
    const server = startServer({ MQTT_PORT: 'eighteen' });
    expect(await server.exited).toBe(78);
    expect(server.stderr().trim().split('\n')).toHaveLength(1);
    expect(server.stderr()).toMatch(/^keygate: invalid configuration: MQTT_PORT/);
  });

  it('with Redis unreachable it keeps running, says so once, and answers CONNACK 3', async () => {
    const port = await freePort();
    const server = startServer({
      REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
      MQTT_PORT: String(port),
    });
    await server.waitFor('MQTT listener up');
    await server.waitFor('cannot reach Redis');
    expect(await connackOf(port, { clientId: 'dev-1', username: 'key-1', password: 'x' })).toBe(3);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(server.stdout().match(/cannot reach Redis/g)).toHaveLength(1);
    expect(server.proc.exitCode).toBeNull();
    server.proc.kill('SIGINT');
    expect(await server.exited).toBe(0);
  });
});
