import type { Attachment, VerifiedCredentials } from '../crypto/verified-credentials.js';
import type { KeyRecord } from '../policy/model.js';

/**
 * Longest the change feed may have been silent for a CONNECT to be decided from memory, in ms: every
 * change Redis executed up to this long ago has been heard (a canary's notification proves it, see
 * ChangeFeed.heardWithin). Past it (Redis hangs, the subscriber is down, the server stopped publishing
 * notifications), every CONNECT reads Redis again — and gets CONNACK 3 if Redis cannot answer.
 */
export const WARM_FRESHNESS_MS = 1000;

/** Most bans noticed and remembered at once; past it no CONNECT is decided from memory (fail safe). */
const MAX_NOTICED_BANS = 100_000;

/** A proof of a recent verification kept in Redis, with the key record read with it. */
export interface ProvenKey {
  readonly accessKey: string;
  /** base64url, as kept in Redis. */
  readonly proof: string;
  readonly fingerprint: string;
  readonly record: KeyRecord;
}

/** What a resync reloads: the bans in Redis and, when proofs are shared, the proven keys. */
export interface Reloaded {
  readonly bans: readonly string[];
  readonly proven?: readonly ProvenKey[];
}

/** What WarmConnects needs of the change feed. */
export interface CurrentFeed {
  heardWithin(ms: number): boolean;
}

export interface WarmConnectsOptions {
  readonly feed: CurrentFeed;
  /** The verified-credential cache, whose proofs carry the key records read with them. */
  readonly verified: VerifiedCredentials<KeyRecord>;
  /** How long a noticed ban keeps the CONNECTs it names on the Redis path (the longest ban), ms. */
  readonly banMemoryMs: number;
  readonly now?: () => number;
}

/**
 * Warm reconnects decided from memory (issue 7, targets 3 and 5). A device whose credentials were verified
 * recently is admitted without a Redis round trip when all of this holds, and otherwise reads Redis as
 * every CONNECT used to:
 *   - its key's record, read from Redis by an earlier CONNECT, is attached to the remembered proof, and no
 *     notification about the key has arrived since (`keyChanged` drops it);
 *   - the device is in the device directory and no change of it is still being read (`deviceChanging`);
 *   - no brute-force ban naming the key or the address has been noticed (another instance's bans are
 *     read from Redis on the Redis path);
 *   - the memory is in step with Redis: loaded after the change feed last (re)subscribed (`resync`), and
 *     the feed heard a canary written less than WARM_FRESHNESS_MS ago (`usable`).
 * So a CONNECT decided from memory is decided on Redis as it was at most WARM_FRESHNESS_MS ago — the same
 * bound as a change reaching a live session — and the session it opens is revoked like any other when the
 * notification of an earlier change arrives. The secret is still checked (a proof over the key's hash
 * fingerprint and the secret, docs/CREDENTIAL-CACHE.md); a wrong one goes the Redis path and costs bcrypt.
 */
export class WarmConnects {
  private readonly feed: CurrentFeed;
  private readonly verified: VerifiedCredentials<KeyRecord>;
  private readonly banMemoryMs: number;
  private readonly now: () => number;
  /** Memory was loaded after the feed last (re)subscribed, and not lost since. */
  private synced = false;
  private epoch = 0;
  /** Bumped by every key change and every resync: a Redis read begun before must not be attached. */
  private generation = 0;
  /** Devices whose change notification arrived and whose new record is still being read, by change number. */
  private readonly changingDevices = new Map<string, number>();
  private deviceChanges = 0;
  /** Ban names (`address:<ip>`, `key:<accessKey>`) noticed, with when. */
  private readonly bans = new Map<string, number>();

  constructor(options: WarmConnectsOptions) {
    this.feed = options.feed;
    this.verified = options.verified;
    this.banMemoryMs = options.banMemoryMs;
    this.now = options.now ?? Date.now;
  }

  /** Whether CONNECTs may be decided from memory now. */
  get usable(): boolean {
    return this.synced && this.feed.heardWithin(WARM_FRESHNESS_MS);
  }

  /**
   * Taken before a CONNECT's Redis read; `attach` keeps what was read only if the token is still good
   * (no key changed, no resync meanwhile). -1 when memory is not usable.
   */
  token(): number {
    return this.usable ? this.generation : -1;
  }

  /** Attaches a key's record, read from Redis under `token`, to its proof (see VerifiedCredentials). */
  attach(token: number, accessKey: string, fingerprint: string, record: KeyRecord): void {
    if (token < 0 || token !== this.generation || !this.synced) return;
    this.verified.attach(accessKey, fingerprint, record);
  }

  /**
   * The key record (and the fingerprint of the hash it goes with) to decide this CONNECT from memory, or
   * undefined when it must read Redis. The caller still checks the secret and reads the device directory.
   */
  attachmentFor(
    accessKey: string,
    deviceId: string,
    address: string | undefined,
  ): Attachment<KeyRecord> | undefined {
    if (!this.usable || this.changingDevices.has(deviceId)) return undefined;
    if (
      this.bans.size > 0 &&
      (this.banned(`key:${accessKey}`) || (address !== undefined && this.banned(`address:${address}`)))
    )
      return undefined;
    return this.verified.attachment(accessKey);
  }

  /** Whether a ban has been noticed (then `attachmentFor` needs the peer's address). */
  get bansNoticed(): boolean {
    return this.bans.size > 0;
  }

  /** A key was written, deleted, renamed or expired. */
  keyChanged(accessKey: string): void {
    this.generation++;
    this.verified.detach(accessKey);
  }

  /**
   * A CONNECT read the key from Redis and found it gone or unusable there (FLUSHALL, FLUSHDB and SWAPDB
   * announce nothing per key): memory drops its record at once rather than at the next periodic
   * re-validation. Only a key memory holds: a stream of made-up keys changes nothing in memory.
   */
  keyFoundGone(accessKey: string): void {
    if (this.verified.attachment(accessKey) !== undefined) this.keyChanged(accessKey);
  }

  /**
   * Drops every attached record (kept: the proofs), at each periodic re-validation: changes Redis does not
   * announce per key (FLUSHALL, FLUSHDB, SWAPDB) then reach CONNECTs within KEYGATE_REVALIDATE_MS, as they
   * reach live sessions.
   */
  dropRecords(): void {
    this.generation++;
    this.verified.detachAll();
  }

  /** A device changed: until `deviceSettled(id, n)` with the number returned, its CONNECTs read Redis. */
  deviceChanging(deviceId: string): number {
    const n = ++this.deviceChanges;
    this.changingDevices.set(deviceId, n);
    return n;
  }

  /** The directory holds the device as read after change `n` (or later). */
  deviceSettled(deviceId: string, n: number): void {
    if (this.changingDevices.get(deviceId) === n) this.changingDevices.delete(deviceId);
  }

  /** A ban was written (or expired) in Redis by some instance. */
  banNoticed(name: string): void {
    if (this.bans.size >= MAX_NOTICED_BANS) this.sweepBans();
    this.bans.set(name, this.now());
  }

  /** The subscriber connection is gone: nothing is decided from memory until the next resync has loaded. */
  lost(): void {
    this.synced = false;
    this.epoch++;
    this.generation++;
    this.verified.detachAll();
  }

  /**
   * The feed (re)subscribed: changes may have been missed. Forgets every attached record, then `load`s
   * (the device directory, the bans in Redis, the proofs kept there with their keys: a restarted instance
   * then admits warm reconnects from memory at once); memory is usable again once that succeeded, unless
   * another resync or loss came meanwhile. A failed load (the main connection may come up after the subscriber's)
   * is tried again every `retryMs` until it succeeds or is superseded. Resolves true when this load made
   * memory usable, false when superseded (by another resync, a loss, or `close`).
   */
  async resync(load: () => Promise<Reloaded>, retryMs = 500): Promise<boolean> {
    this.lost();
    const epoch = this.epoch;
    for (;;) {
      const changesBefore = this.deviceChanges;
      const generation = this.generation;
      let reloaded: Reloaded;
      try {
        reloaded = await load();
      } catch {
        if (epoch !== this.epoch) return false;
        await new Promise((resolve) => setTimeout(resolve, retryMs).unref());
        if (epoch !== this.epoch) return false;
        continue;
      }
      if (epoch !== this.epoch) return false;
      for (const name of reloaded.bans) this.banNoticed(name);
      // Records read before a key change was announced are not trusted: they are read again on use.
      if (generation === this.generation) {
        for (const { accessKey, proof, fingerprint, record } of reloaded.proven ?? []) {
          if (this.verified.adopt(accessKey, proof)) this.verified.attach(accessKey, fingerprint, record);
        }
      }
      // The load read every device after these changes were announced.
      for (const [deviceId, n] of this.changingDevices)
        if (n <= changesBefore) this.changingDevices.delete(deviceId);
      this.synced = true;
      return true;
    }
  }

  /** Stops: nothing is decided from memory any more, and a resync under way gives up. */
  close(): void {
    this.lost();
  }

  private banned(name: string): boolean {
    const at = this.bans.get(name);
    if (at === undefined) return this.bans.size >= MAX_NOTICED_BANS;
    if (this.now() - at < this.banMemoryMs) return true;
    this.bans.delete(name);
    return this.bans.size >= MAX_NOTICED_BANS;
  }

  private sweepBans(): void {
    const now = this.now();
    for (const [name, at] of this.bans) if (now - at >= this.banMemoryMs) this.bans.delete(name);
  }
}
