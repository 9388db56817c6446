import { hash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Remembers that a secret was verified against a stored bcrypt hash, so a device that reconnects does not
 * pay for bcrypt again (docs/CREDENTIAL-CACHE.md: the design and its security argument).
 *
 * What is remembered is a *proof*: HMAC-SHA256 under a server-side cache key of (the key's Redis name, the
 * stored bcrypt hash, the secret). Never the secret, never anything a guess can be checked against
 * without the cache key. A proof is recognised only for the same secret against the same stored hash:
 * changing a key's secret in Redis changes the hash and so every proof of it. (Callers give the hash as
 * its SHA-256 fingerprint, which binds the proof to it just as well and is what sessions already hold.)
 *
 * A remembered proof may carry an *attachment*: the key's parsed record as read with it, which lets a
 * warm reconnect be decided without Redis while the change feed is current (hooks/warm-connects.ts). The
 * attachment goes whenever the key changes (`detach`) and with the proof.
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
 * the epoch) as a big-endian double, then — once a warm reconnect has matched it — its seal (SEAL_BYTES).
 * ~56 bytes of heap per key (72 sealed), where an object holding a Buffer and a number costs an object, an
 * ArrayBuffer, a Uint8Array, a heap number and a backing store (issue 7).
 */
const EXPIRY_BYTES = 8;
/** HMAC-SHA256. */
const PROOF_BYTES = 32;
/** SHA-256's block size: the HMAC key is padded to it (RFC 2104). */
const SHA256_BLOCK_BYTES = 64;

/**
 * A *seal*: the first 16 bytes of SHA-256 over a random per-process salt and the secret, kept in memory
 * only (never in Redis), appended to a remembered proof once a warm reconnect has matched that proof. The
 * next warm reconnects of the key check the seal — one hash of one block — instead of the HMAC, whose two
 * hashes over six blocks and the message built for them were a fifth of what a warm CONNECT cost keygate
 * over bare aedes (callgrind, issue 7 target 3; docs/CREDENTIAL-CACHE.md, "The seal").
 */
const SEAL_BYTES = 16;
const SALT_BYTES = 16;

const expiryBytes = Buffer.alloc(EXPIRY_BYTES);

/** The expiry after a remembered proof (read without allocating: every warm reconnect reads it). */
function expiryOf(remembered: string): number {
  const from = PROOF_BYTES;
  for (let i = 0; i < EXPIRY_BYTES; i++) expiryBytes[i] = remembered.charCodeAt(from + i);
  return expiryBytes.readDoubleBE(0);
}

/**
 * Whether `entry` remembers `proof` (a proof as a one-byte string, see `digest`). Constant-time: the loop
 * has no branch on the bytes and always reads all 32. (And what is compared are MACs under a key the peer
 * does not know, of input the peer chose: how many leading bytes matched would tell it nothing it could
 * steer a next guess with — unlike a MAC the peer supplies itself, as in a webhook signature.) A string
 * loop rather than `timingSafeEqual`, which needs two Buffers: one more allocation and a call into C++ on
 * every warm reconnect (issue 7, target 3).
 */
function rememberedAs(entry: { readonly proof: string }, proof: string): boolean {
  if (proof.length !== PROOF_BYTES || entry.proof.length < PROOF_BYTES + EXPIRY_BYTES) return false;
  let difference = 0;
  for (let i = 0; i < PROOF_BYTES; i++) difference |= entry.proof.charCodeAt(i) ^ proof.charCodeAt(i);
  return difference === 0;
}

/** Whether `entry` carries a seal (after its proof and expiry). */
function isSealed(entry: { readonly proof: string }): boolean {
  return entry.proof.length === PROOF_BYTES + EXPIRY_BYTES + SEAL_BYTES;
}

/** Whether `seal` (a digest as a one-byte string) starts with `entry`'s seal. Constant-time, as `rememberedAs`. */
function sealedAs(entry: { readonly proof: string }, seal: string): boolean {
  const from = PROOF_BYTES + EXPIRY_BYTES;
  let difference = 0;
  for (let i = 0; i < SEAL_BYTES; i++) difference |= entry.proof.charCodeAt(from + i) ^ seal.charCodeAt(i);
  return difference === 0;
}

/** Drops `entry`'s seal, if it has one: it answers only for the attachment it was made under. */
function unseal(entry: { proof: string }): void {
  if (isSealed(entry)) entry.proof = withSeal(entry.proof);
}

/** `remembered` (a proof and its expiry) with `seal`'s first SEAL_BYTES bytes after them, or without a seal. */
function withSeal(remembered: string, seal?: string): string {
  // Built in a buffer and decoded once: a concatenation or a slice would keep two strings where one does.
  const entry = Buffer.alloc(PROOF_BYTES + EXPIRY_BYTES + (seal === undefined ? 0 : SEAL_BYTES));
  entry.write(remembered.slice(0, PROOF_BYTES + EXPIRY_BYTES), 'latin1');
  if (seal !== undefined) entry.write(seal.slice(0, SEAL_BYTES), PROOF_BYTES + EXPIRY_BYTES, 'latin1');
  return entry.toString('latin1');
}

/** What a remembered proof carries besides itself (read-only to callers). */
export interface Attachment<T> {
  /** The stored-hash representation the proof and the value go with (the hash's fingerprint). */
  readonly hashId: string;
  readonly value: T;
}

/**
 * One key's entry. One object per key, fields rather than a nested attachment object: every connected
 * device's key has one (issue 7: heap per connection), and `hashId` and `value` are the very strings and
 * records its session holds.
 */
class Remembered<T> {
  hashId: string | undefined = undefined;
  value: T | undefined = undefined;
  constructor(public proof: string) {}
}

export class VerifiedCredentials<T = unknown> {
  /** The inner message: the key XOR ipad, then the parts (grown when a longer message comes). */
  private inner: Buffer;
  /** The outer message: the key XOR opad, then the inner digest. */
  private readonly outer: Buffer;
  /** A seal's message: this process' random salt, then the secret (grown when a longer one comes). */
  private sealInput: Buffer;
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  /** By `id` (the access key: the string its sessions hold too). */
  private readonly remembered = new Map<string, Remembered<T>>();
  /** Verifications under way, by proof: concurrent CONNECTs with the same credentials share one. */
  private readonly inFlight = new Map<string, Promise<boolean>>();
  /** True when the key was given (shared by the instances): proofs are then worth keeping in Redis. */
  readonly shareable: boolean;

  constructor(options: VerifiedCredentialsOptions) {
    if (!(options.ttlMs > 0)) throw new RangeError('ttlMs must be positive');
    if (options.key !== undefined && options.key.length < MIN_CACHE_KEY_BYTES) {
      throw new RangeError(`the cache key must hold at least ${MIN_CACHE_KEY_BYTES} bytes`);
    }
    const key = options.key ?? randomBytes(32);
    // RFC 2104: a key longer than the block is hashed first; the key, zero-padded to the block, XOR ipad
    // starts the inner message and XOR opad the outer one (which ends with the inner digest).
    const padded = Buffer.alloc(SHA256_BLOCK_BYTES);
    (key.length > SHA256_BLOCK_BYTES ? hash('sha256', key, 'buffer') : key).copy(padded);
    this.inner = Buffer.alloc(SHA256_BLOCK_BYTES + 256);
    this.outer = Buffer.alloc(SHA256_BLOCK_BYTES + PROOF_BYTES);
    for (let i = 0; i < SHA256_BLOCK_BYTES; i++) {
      this.inner[i] = (padded[i] as number) ^ 0x36;
      this.outer[i] = (padded[i] as number) ^ 0x5c;
    }
    this.sealInput = Buffer.alloc(SALT_BYTES + 256);
    randomBytes(SALT_BYTES).copy(this.sealInput);
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

  /**
   * The proof for these credentials: HMAC-SHA256 under the cache key (RFC 2104) of the three parts, each
   * prefixed by its UTF-8 length as 4 bytes big-endian (no two inputs share an encoding). The secret may
   * be given as its UTF-8 bytes (the CONNECT's password, checked as `secretBytes` does): the same proof.
   */
  proof(keyName: string, secretHash: string, secret: string | Uint8Array): Buffer {
    return Buffer.from(this.digest(keyName, secretHash, secret), 'latin1');
  }

  /**
   * The proof as a one-byte (latin1) string of its 32 bytes: what memory keeps and compares.
   *
   * Spelt out as RFC 2104's two hashes over pads prepared once, each a one-shot `crypto.hash` with a
   * string result: it runs on every warm reconnect, where `createHmac` (a key set-up, an object, six
   * updates and a digest, each a call into OpenSSL) took ~20 µs of a ~550 µs CONNECT in the broker, and
   * the same two hashes returning Buffers (an ArrayBuffer each) about twice what they take now (issue 7,
   * target 3). The same bytes as `createHmac('sha256', key)` over the same message
   * (test/unit/verified-credentials.test.ts).
   */
  private digest(keyName: string, secretHash: string, secret: string | Uint8Array): string {
    const secretMost = typeof secret === 'string' ? 3 * secret.length : secret.length;
    const most = SHA256_BLOCK_BYTES + 12 + 3 * (keyName.length + secretHash.length) + secretMost;
    this.inner = withRoom(this.inner, SHA256_BLOCK_BYTES, most);
    const end = this.writePart(
      secret,
      this.writePart(secretHash, this.writePart(keyName, SHA256_BLOCK_BYTES)),
    );
    const innerDigest = hash('sha256', this.inner.subarray(0, end), 'binary');
    // The message held the secret: wiped, so that it does not linger in memory until the next proof.
    // TypedArray's own fill, and the digest copied by a loop: Buffer's `fill` and `write` are calls into
    // Node's C++ (~1–2 µs each in the broker's profile of a warm reconnect), these are not.
    Uint8Array.prototype.fill.call(this.inner, 0, SHA256_BLOCK_BYTES, end);
    for (let i = 0; i < PROOF_BYTES; i++) this.outer[SHA256_BLOCK_BYTES + i] = innerDigest.charCodeAt(i);
    return hash('sha256', this.outer, 'binary');
  }

  /** Writes `part` (UTF-8) at `at` + 4 in the inner message, its length at `at`; returns where it ends. */
  private writePart(part: string | Uint8Array, at: number): number {
    const written = writeUtf8(part, this.inner, at + 4);
    this.inner.writeUInt32BE(written, at);
    return at + 4 + written;
  }

  /** The seal of `secret` (see SEAL_BYTES) as a one-byte string of SHA-256's 32 bytes; its first 16 count. */
  private seal(secret: string | Uint8Array): string {
    const most = SALT_BYTES + (typeof secret === 'string' ? 3 * secret.length : secret.length);
    this.sealInput = withRoom(this.sealInput, SALT_BYTES, most);
    const end = SALT_BYTES + writeUtf8(secret, this.sealInput, SALT_BYTES);
    const digest = hash('sha256', this.sealInput.subarray(0, end), 'binary');
    // The secret is wiped at once, as in `digest`.
    Uint8Array.prototype.fill.call(this.sealInput, 0, SALT_BYTES, end);
    return digest;
  }

  /**
   * Whether `proof` was remembered for key `id` — in memory, or as `shared` (the proof kept in Redis,
   * base64url, when there is one). Constant-time comparisons.
   */
  recognises(id: string, proof: Buffer, shared?: string): boolean {
    const entry = this.live(id);
    if (entry !== undefined && rememberedAs(entry, proof.toString('latin1'))) return true;
    if (shared === undefined || !this.shareable) return false;
    const stored = Buffer.from(shared, 'base64url');
    if (stored.length !== proof.length || !timingSafeEqual(stored, proof)) return false;
    this.keep(id, proof);
    return true;
  }

  /**
   * Whether the proof of (`keyName`, the attachment's hash, `secret`) is the one `attachment` was
   * remembered with — `attachment` as `attachment(id)` has just returned it (live): a warm reconnect looks
   * its entry up once, not again to compare the proof, and never makes the proof a Buffer. Once sealed
   * (the first match seals it), the entry answers from its seal: `keyName` is then not read — the entry
   * is that key's, and the seal goes with the attachment.
   */
  recognisesAttached(attachment: Attachment<T>, keyName: string, secret: string | Uint8Array): boolean {
    const entry = attachment as Remembered<T>;
    if (isSealed(entry)) return sealedAs(entry, this.seal(secret));
    if (!rememberedAs(entry, this.digest(keyName, attachment.hashId, secret))) return false;
    // The proof matched: the secret is the one it was made with, for this attachment's hash. Sealed, so
    // that the key's next warm reconnects check the seal (attach and detach drop it with the attachment).
    entry.proof = withSeal(entry.proof, this.seal(secret));
    return true;
  }

  /** The entry of `id` unless it has expired (then it is dropped). */
  private live(id: string): Remembered<T> | undefined {
    const entry = this.remembered.get(id);
    if (entry === undefined) return undefined;
    if (expiryOf(entry.proof) > this.now()) return entry;
    this.remembered.delete(id);
    return undefined;
  }

  /** Attaches `value` (read with the hash `hashId`) to the proof remembered for `id`, if there is one. */
  attach(id: string, hashId: string, value: T): void {
    const entry = this.remembered.get(id);
    if (entry === undefined) return;
    unseal(entry);
    entry.hashId = hashId;
    entry.value = value;
  }

  /** What is attached to the live proof of `id`, if anything. */
  attachment(id: string): Attachment<T> | undefined {
    const entry = this.live(id);
    return entry?.hashId === undefined ? undefined : (entry as Attachment<T>);
  }

  /** Drops what is attached to `id`'s proof (the key changed); the proof stays. */
  detach(id: string): void {
    const entry = this.remembered.get(id);
    if (entry === undefined) return;
    unseal(entry);
    entry.hashId = undefined;
    entry.value = undefined;
  }

  /** Drops every attachment (changes may have been missed). */
  detachAll(): void {
    for (const entry of this.remembered.values()) {
      unseal(entry);
      entry.hashId = undefined;
      entry.value = undefined;
    }
  }

  /**
   * Takes a proof kept in Redis (base64url) as remembered for `id`, without a CONNECT to check it against:
   * a restarted instance loading the proofs its siblings (or its former self) made. Only when the cache key
   * is shared; false when the proof is not one (wrong length).
   */
  adopt(id: string, shared: string): boolean {
    if (!this.shareable) return false;
    const stored = Buffer.from(shared, 'base64url');
    if (stored.length !== PROOF_BYTES) return false;
    this.keep(id, stored);
    return true;
  }

  /** Remembers a proof after a successful bcrypt verification. */
  remember(id: string, proof: Buffer): void {
    this.keep(id, proof);
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

  /** Forgets everything remembered for a key. */
  forget(id: string): void {
    this.remembered.delete(id);
  }

  /** Remembers `proof` for `id` (anything attached to an earlier proof goes). */
  private keep(id: string, proof: Buffer): void {
    this.remembered.delete(id);
    if (this.remembered.size >= this.maxEntries) {
      const oldest = this.remembered.keys().next();
      if (!oldest.done) this.remembered.delete(oldest.value);
    }
    // One flat string, decoded from one buffer (a concatenation would be a cons string: two strings and a
    // pair, kept for as long as the key is remembered — heap per connection, issue 7).
    const entry = Buffer.allocUnsafe(proof.length + EXPIRY_BYTES);
    proof.copy(entry);
    entry.writeDoubleBE(this.now() + this.ttlMs, proof.length);
    this.remembered.set(id, new Remembered<T>(entry.toString('latin1')));
  }
}

/** `buffer` if it holds `most` bytes, else a larger one (twice its size at least) with its first `keep` bytes. */
function withRoom(buffer: Buffer, keep: number, most: number): Buffer {
  if (buffer.length >= most) return buffer;
  const grown = Buffer.alloc(Math.max(most, 2 * buffer.length));
  buffer.copy(grown, 0, 0, keep);
  return grown;
}

/** Writes `part` — bytes, or a string as UTF-8 — into `target` at `at`; returns how many bytes it took. */
function writeUtf8(part: string | Uint8Array, target: Buffer, at: number): number {
  if (typeof part !== 'string') {
    target.set(part, at);
    return part.length;
  }
  // Key names, bcrypt hashes and most secrets are ASCII: copied by a loop (their UTF-8 bytes are their char
  // codes), not by Buffer's `write`, a call into Node's C++ (the larger part of writing the message).
  return copyAscii(part, target, at) ? part.length : target.write(part, at, 'utf8');
}

/**
 * Copies `text` into `target` at `at` when it is ASCII (each char code is then its one UTF-8 byte) and
 * says so; false, with `target` partly written, when a character is not (the caller writes it as UTF-8).
 */
function copyAscii(text: string, target: Uint8Array, at: number): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x80) return false;
    target[at + i] = code;
  }
  return true;
}
