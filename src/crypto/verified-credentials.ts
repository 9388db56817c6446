import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Remembers that a secret was verified against a stored bcrypt hash, so a device that reconnects does not
 * pay for bcrypt again (docs/CREDENTIAL-CACHE.md: the design and its security argument).
 *
 * What is remembered is a *proof*: HMAC-SHA256 under a server-side cache key of (the key's Redis name, the
 * stored bcrypt hash, the secret). Never the secret, never anything a guess can be checked against
 * without the cache key. A proof is recognised only for the same secret against the same stored hash:
 * changing a key's secret in Redis changes the hash and so every proof of it. The key's record (active,
 * scope...) is still read from Redis on every CONNECT; only the bcrypt work is saved.
 *
 * Proofs are kept in memory (per process, bounded) and — when the cache key comes from a file shared by
 * the instances (KEYGATE_CREDENTIAL_CACHE_KEY_FILE) — in Redis too, so that a restarted broker and its
 * sibling instances recognise them (the restart storm).
 */
export const MIN_CACHE_KEY_BYTES = 32;

export interface VerifiedCredentialsOptions {
  /** How long a verification is remembered, in ms (> 0). */
  readonly ttlMs: number;
  /** The HMAC key; default: random for this process (then proofs are not worth sharing). */
  readonly key?: Buffer;
  /** Most proofs kept in memory; the oldest go first. Default 100,000. */
  readonly maxEntries?: number;
  readonly now?: () => number;
}

/**
 * A remembered proof is kept as one one-byte (latin1) string: the proof's bytes, then its expiry (ms since
 * the epoch) as a big-endian double. ~56 bytes of heap per key, where an object holding a Buffer and a
 * number costs an object, an ArrayBuffer, a Uint8Array, a heap number and a backing store (issue 7).
 */
const EXPIRY_BYTES = 8;

export class VerifiedCredentials {
  private readonly key: Buffer;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly remembered = new Map<string, string>();
  /** Verifications under way, by proof: concurrent CONNECTs with the same credentials share one. */
  private readonly inFlight = new Map<string, Promise<boolean>>();
  /** True when the key was given (shared by the instances): proofs are then worth keeping in Redis. */
  readonly shareable: boolean;

  constructor(options: VerifiedCredentialsOptions) {
    if (!(options.ttlMs > 0)) throw new RangeError('ttlMs must be positive');
    if (options.key !== undefined && options.key.length < MIN_CACHE_KEY_BYTES) {
      throw new RangeError(`the cache key must hold at least ${MIN_CACHE_KEY_BYTES} bytes`);
    }
    this.key = options.key ?? randomBytes(32);
    this.shareable = options.key !== undefined;
    this.ttlMs = options.ttlMs;
    this.maxEntries = options.maxEntries ?? 100_000;
    this.now = options.now ?? Date.now;
  }

  get size(): number {
    return this.remembered.size;
  }

  get expiresInMs(): number {
    return this.ttlMs;
  }

  /** The proof for these credentials (lengths are prefixed: no two inputs share an encoding). */
  proof(keyName: string, secretHash: string, secret: string): Buffer {
    const hmac = createHmac('sha256', this.key);
    for (const part of [keyName, secretHash, secret]) {
      const bytes = Buffer.from(part, 'utf8');
      const length = Buffer.allocUnsafe(4);
      length.writeUInt32BE(bytes.length);
      hmac.update(length).update(bytes);
    }
    return hmac.digest();
  }

  /**
   * Whether `proof` was remembered for `keyName` — in memory, or as `shared` (the proof kept in Redis,
   * base64url, when there is one). Constant-time comparisons.
   */
  recognises(keyName: string, proof: Buffer, shared?: string): boolean {
    const entry = this.remembered.get(keyName);
    if (entry !== undefined) {
      const bytes = Buffer.from(entry, 'latin1');
      const remembered = bytes.subarray(0, bytes.length - EXPIRY_BYTES);
      if (bytes.readDoubleBE(remembered.length) <= this.now()) this.remembered.delete(keyName);
      else if (remembered.length === proof.length && timingSafeEqual(remembered, proof)) return true;
    }
    if (shared === undefined || !this.shareable) return false;
    const stored = Buffer.from(shared, 'base64url');
    if (stored.length !== proof.length || !timingSafeEqual(stored, proof)) return false;
    this.keep(keyName, proof);
    return true;
  }

  /** Remembers a proof after a successful bcrypt verification. */
  remember(keyName: string, proof: Buffer): void {
    this.keep(keyName, proof);
  }

  /**
   * Runs `verify` once for concurrent identical credentials (the same proof): a fleet sharing one access
   * key that reconnects at once costs one bcrypt verification, not one per device.
   */
  once(proof: Buffer, verify: () => Promise<boolean>): Promise<boolean> {
    const id = proof.toString('base64url');
    let pending = this.inFlight.get(id);
    if (pending === undefined) {
      pending = verify().finally(() => this.inFlight.delete(id));
      this.inFlight.set(id, pending);
    }
    return pending;
  }

  /** Forgets everything remembered for a key (its secret or record changed). */
  forget(keyName: string): void {
    this.remembered.delete(keyName);
  }

  private keep(keyName: string, proof: Buffer): void {
    this.remembered.delete(keyName);
    if (this.remembered.size >= this.maxEntries) {
      const oldest = this.remembered.keys().next();
      if (!oldest.done) this.remembered.delete(oldest.value);
    }
    const entry = Buffer.allocUnsafe(proof.length + EXPIRY_BYTES);
    proof.copy(entry);
    entry.writeDoubleBE(this.now() + this.ttlMs, proof.length);
    this.remembered.set(keyName, entry.toString('latin1'));
  }
}
