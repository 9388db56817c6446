import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import type { AedesPublishPacket } from 'aedes';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from '../support/harness.js';
import { type RedisServer, startRedisServer } from '../support/redis-server.js';

const run = promisify(execFile);
const readme = readFileSync('README.md', 'utf8');

/** The fenced code block between `<!-- name:start -->` and `<!-- name:end -->`. */
function block(name: string): string {
  const match = readme.match(
    new RegExp(`<!-- ${name}:start -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\`\`\`\\n<!-- ${name}:end -->`),
  );
  if (!match?.[1]) throw new Error(`README has no ${name} block`);
  return match[1];
}

describe('README', () => {
  it('shows exactly the library example that the type-check compiles', () => {
    expect(block('library-example')).toBe(readFileSync('examples/library.ts', 'utf8'));
  });

  describe('redis-cli walk-through, run as written with the real redis-cli and mosquitto_pub', () => {
    let redis: RedisServer;
    let broker: TestBroker;

    beforeAll(async () => {
      // Its own Redis: the walk-through writes under the default prefix `keygate:`.
      redis = await startRedisServer();
      broker = await startTestBroker({ redisUrl: redis.url, prefix: 'keygate:' });
    });

    afterAll(async () => {
      await broker.close();
      await redis.stop();
    });

    it('seeds a device and a key, then the device publishes', async () => {
      const published = new Promise<AedesPublishPacket>((resolve) =>
        broker.running.broker.on('publish', (packet, client) => {
          if (client) resolve(packet);
        }),
      );
      // Only the ports differ from a default install: point the two real binaries at this test's servers.
      const prelude = [
        'set -euo pipefail',
        `redis-cli() { command redis-cli -p ${redis.port} "$@"; }`,
        `mosquitto_pub() { command mosquitto_pub -p ${broker.port} "$@"; }`,
      ].join('\n');
      const script = `${prelude}\n${block('walkthrough')}`;
      const { stdout } = await run('bash', ['-c', script], { cwd: process.cwd() });
      expect(stdout).toBe('2\n3\n'); // each HSET answers with the number of fields it added

      const packet = await published;
      expect(packet.topic).toBe('losant/thermo-1/state');
      expect(packet.payload.toString()).toBe('{"data":{"t":21}}');
      const stored = await run('redis-cli', [
        '-p',
        String(redis.port),
        'HGET',
        'keygate:key:k-123',
        'secret',
      ]);
      expect(stored.stdout.trim()).toMatch(/^\$2b\$10\$/);
      expect(stored.stdout).not.toContain('my-device-secret');
    });

    it('refuses the same command with a wrong secret (mosquitto_pub exits non-zero)', async () => {
      const attempt = run('mosquitto_pub', [
        '-p',
        String(broker.port),
        '-i',
        'thermo-1',
        '-u',
        'k-123',
        '-P',
        'wrong',
        '-t',
        'losant/thermo-1/state',
        '-m',
        'x',
      ]);
      await expect(attempt).rejects.toMatchObject({
        stderr: expect.stringMatching(/bad user name or password/i),
      });
    });
  });
});
