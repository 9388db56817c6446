import { once } from 'node:events';
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freeLoopbackPort } from '../../src/demo/redis-server.js';

describe('freeLoopbackPort', () => {
  it('finds a port below the ephemeral range (where port-0 listeners and outgoing connections cannot take it) that can be listened on', async () => {
    const ports = await Promise.all(Array.from({ length: 5 }, () => freeLoopbackPort()));
    for (const port of ports) {
      expect(port).toBeGreaterThanOrEqual(20_000);
      expect(port).toBeLessThan(32_768);
      const server = createServer().listen(port, '127.0.0.1');
      await once(server, 'listening');
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
