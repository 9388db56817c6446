import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { SecretVerifier } from '../../src/crypto/secret-verifier.js';

// The bcrypt threads yield to the event loop when both want the CPU (Linux: per-thread nice values).
describe('SecretVerifier threads', () => {
  it.runIf(process.platform === 'linux')('run at nice 10 while the event loop keeps nice 0', async () => {
    const verifier = new SecretVerifier({ threads: 2 });
    try {
      await Promise.all([verifier.verify('a', undefined), verifier.verify('b', undefined)]);
      const nice = execFileSync('ps', ['-L', '-o', 'tid=,ni=', '-p', String(process.pid)], {
        encoding: 'utf8',
      })
        .trim()
        .split('\n')
        .map((line) => line.trim().split(/\s+/).map(Number));
      const main = nice.find(([tid]) => tid === process.pid);
      expect(main?.[1]).toBe(0);
      expect(nice.filter(([, ni]) => ni === 10).length).toBe(2);
    } finally {
      await verifier.close();
    }
  });
});
