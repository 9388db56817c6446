import { availableParallelism } from 'node:os';
import { Piscina } from 'piscina';
import { KeygateError } from '../errors.js';
import { type KeygateMetrics, noMetrics } from '../metrics.js';

/**
 * A bcrypt hash of a random string nobody knows, at cost 10 (the CLI's default): verifying against it
 * when an access key does not exist takes as long as a real verification, so "unknown key" and "wrong
 * secret" cannot be told apart by timing (SPEC section 2).
 */
export const DUMMY_HASH = '$2b$10$JYEOG3sbrajm6Y/eHxPBjOtMjftt6wKCxl3V6XiTD8M5Gzz.cdcKa';

export interface SecretVerifierOptions {
  /** Worker threads; default: the number of CPUs. */
  threads?: number;
  /** Verifications allowed to wait for a thread; past that, CONNECTs get CONNACK 3 at once. */
  maxQueue?: number;
  /** Counts verifications and their duration. */
  metrics?: KeygateMetrics;
}

/**
 * Verifies secrets against bcrypt hashes on a pool of worker threads (Piscina running bcryptjs), so a
 * connect storm never stalls the event loop that carries every connected device's traffic.
 */
export class SecretVerifier {
  private readonly pool: Piscina;
  private readonly metrics: KeygateMetrics;

  private closing = false;

  constructor(options: SecretVerifierOptions = {}) {
    this.metrics = options.metrics ?? noMetrics;
    const threads = options.threads ?? availableParallelism();
    this.pool = new Piscina({
      filename: new URL('./bcrypt-worker.cjs', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      maxQueue: options.maxQueue ?? 10_000,
      idleTimeout: Number.POSITIVE_INFINITY,
    });
  }

  /**
   * Whether `secret` matches `hash`; with no hash, a verification against DUMMY_HASH that fails.
   * @throws KeygateError KG_ERR_OVERLOADED when the queue is full.
   */
  async verify(secret: string, hash: string | undefined): Promise<boolean> {
    let matched: boolean;
    const started = performance.now();
    try {
      matched = (await this.pool.run({ secret, hash: hash ?? DUMMY_HASH })) === true;
    } catch (err) {
      this.metrics.verification('error', (performance.now() - started) / 1000);
      if (err instanceof Error && /queue/i.test(err.message)) throw new KeygateError('KG_ERR_OVERLOADED');
      // Shutting down: the pool was destroyed under a pending verification (CONNACK 3, not an error).
      if (this.closing) throw new KeygateError('KG_ERR_STORE_UNAVAILABLE', 'shutting down');
      throw err;
    }
    const ok = matched && hash !== undefined;
    this.metrics.verification(ok ? 'match' : 'mismatch', (performance.now() - started) / 1000);
    return ok;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.pool.destroy();
  }
}
