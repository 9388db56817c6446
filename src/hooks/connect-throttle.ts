/**
 * Brute-force protection for CONNECT (issue 6): failed CONNECTs are counted per source address and per
 * access key; past a threshold the address (or the key) is banned for a while, the ban doubling on each
 * further offence up to a maximum. Counted in memory, per instance: it needs no Redis, so it keeps working
 * when Redis is down, and a throttled CONNECT costs neither a bcrypt verification nor a Redis read. Bans
 * are also shared through Redis (authenticate.ts): another instance refuses a banned address or key after
 * its one Redis read, still before any verification.
 */

export interface ThrottleSettings {
  /** Failures that start a ban; 0 turns throttling off. */
  readonly threshold: number;
  /** Length of the first ban, in ms. */
  readonly banMs: number;
  /** Longest ban, in ms; also how long a record of failures is kept after the last one. */
  readonly banMaxMs: number;
  /** Most addresses (and, separately, most keys) remembered; past it the oldest record is dropped. */
  readonly maxEntries?: number;
}

export const DEFAULT_THROTTLE: Required<ThrottleSettings> = {
  threshold: 5,
  banMs: 30_000,
  banMaxMs: 3_600_000,
  maxEntries: 100_000,
};

/**
 * What a failure was:
 * - `credentials`: CONNACK 4, a wrong secret (or unknown key): counts for the address and the key;
 * - `refused`: CONNACK 5, the secret was right but the device may not connect: counts for the address only
 *   (it cost a verification; the key was not guessed).
 * CONNACK 3 (keygate or Redis unavailable) and 2 (bad client ID, no verification) are not failures.
 */
export type FailureKind = 'credentials' | 'refused';

/** A ban in force, or one that has just begun. */
export interface Ban {
  readonly scope: 'address' | 'key';
  /** Length of this ban, in ms. */
  readonly ms: number;
  /** When it lifts (epoch ms). */
  readonly until: number;
}

interface Entry {
  failures: number;
  lastFailureAt: number;
  bannedUntil: number;
  banMs: number;
  /** Bans so far (the next ban lasts banMs × 2^bans, capped). */
  bans: number;
}

/**
 * A bounded map of failure records: insertion order is age; an update moves a record to the end. Also
 * the back-off of flooding devices (flood-limits.ts), with a threshold of 1.
 */
export class Records {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly settings: Required<ThrottleSettings>,
    private readonly scope: Ban['scope'],
  ) {}

  get size(): number {
    return this.entries.size;
  }

  /** The record, or undefined when there is none or it is older than banMaxMs (then forgotten). */
  get(id: string, now: number): Entry | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    if (now >= entry.bannedUntil && now - entry.lastFailureAt > this.settings.banMaxMs) {
      this.entries.delete(id);
      return undefined;
    }
    return entry;
  }

  ban(id: string, now: number): Ban | undefined {
    const entry = this.get(id, now);
    if (entry === undefined || now >= entry.bannedUntil) return undefined;
    return { scope: this.scope, ms: entry.banMs, until: entry.bannedUntil };
  }

  /** Counts one failure; returns the ban it starts, if any. */
  fail(id: string, now: number): Ban | undefined {
    let entry = this.get(id, now);
    if (entry === undefined) {
      entry = { failures: 0, lastFailureAt: now, bannedUntil: 0, banMs: 0, bans: 0 };
    } else {
      this.entries.delete(id);
    }
    this.entries.set(id, entry);
    if (this.entries.size > this.settings.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
    entry.lastFailureAt = now;
    if (now < entry.bannedUntil) return undefined; // cannot happen through check(); never extends a ban
    entry.failures++;
    if (entry.failures < this.settings.threshold) return undefined;
    const { banMs, banMaxMs } = this.settings;
    entry.banMs = Math.min(banMaxMs, banMs * 2 ** Math.min(entry.bans, 40));
    entry.bannedUntil = now + entry.banMs;
    entry.bans++;
    entry.failures = 0;
    return { scope: this.scope, ms: entry.banMs, until: entry.bannedUntil };
  }

  /** A success: the failure count starts again; the ban level is kept until the record is forgotten. */
  succeed(id: string, now: number): void {
    const entry = this.get(id, now);
    if (entry !== undefined) entry.failures = 0;
  }

  forget(id: string): void {
    this.entries.delete(id);
  }
}

/**
 * The throttle's state and decisions. `address` is the peer's IP address (no port) or undefined when
 * unknown; `key` is the access key, or undefined when the user name is not a valid identifier.
 */
export class ConnectThrottle {
  readonly settings: Required<ThrottleSettings>;
  private readonly addresses: Records;
  private readonly keys: Records;
  /** Verifications under way, per address (bounded by the addresses with a CONNECT in progress). */
  private readonly verifying = new Map<string, number>();

  constructor(
    settings: Partial<ThrottleSettings> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.settings = { ...DEFAULT_THROTTLE, ...settings };
    this.addresses = new Records(this.settings, 'address');
    this.keys = new Records(this.settings, 'key');
  }

  get enabled(): boolean {
    return this.settings.threshold > 0;
  }

  /**
   * Whether any address has a record (failures or a ban). While none has, `check` and `success` decide the
   * same for every address — and a warm reconnect need not read its peer's address (a getpeername(2)).
   */
  get addressesOnRecord(): boolean {
    return this.enabled && this.addresses.size > 0;
  }

  /** Records held (addresses, keys): bounded by maxEntries each. */
  get size(): { addresses: number; keys: number } {
    return { addresses: this.addresses.size, keys: this.keys.size };
  }

  /**
   * The ban that refuses this CONNECT, or undefined to let it be decided. A banned address is refused
   * whatever the key. A banned key is refused only from addresses with failures on record: a device
   * using the key from an address with a clean record still connects (no lock-out from elsewhere).
   */
  check(address: string | undefined, key: string | undefined): Ban | undefined {
    // Nothing on record (the usual case: every warm reconnect asks): no ban, without reading the clock.
    if (!this.enabled || (this.addresses.size === 0 && this.keys.size === 0)) return undefined;
    const now = this.now();
    if (address !== undefined) {
      const ban = this.addresses.ban(address, now);
      if (ban !== undefined) return ban;
    }
    if (key === undefined) return undefined;
    const keyBan = this.keys.ban(key, now);
    if (keyBan === undefined) return undefined;
    const clean = address !== undefined && this.addresses.get(address, now) === undefined;
    return clean ? undefined : keyBan;
  }

  /**
   * Whether a ban recorded by another instance (in Redis) refuses this CONNECT: the same rule as `check`
   * — a banned address always; a banned key only from an address with failures on record here.
   */
  refusesShared(address: string | undefined, shared: { address: boolean; key: boolean }): boolean {
    if (!this.enabled) return false;
    if (shared.address) return true;
    return shared.key && (address === undefined || this.addresses.get(address, this.now()) !== undefined);
  }

  /**
   * Starts a bcrypt verification for `address`: false when `threshold` of its verifications are already
   * under way. Without this, a burst of concurrent guesses from one address would all be verified before
   * the first failures could ban it (each costs ~50 ms of a core). Pair every true with `endVerification`.
   */
  beginVerification(address: string | undefined): boolean {
    if (!this.enabled || address === undefined) return true;
    const under = this.verifying.get(address) ?? 0;
    if (under >= this.settings.threshold) return false;
    this.verifying.set(address, under + 1);
    return true;
  }

  endVerification(address: string | undefined): void {
    if (!this.enabled || address === undefined) return;
    const under = (this.verifying.get(address) ?? 1) - 1;
    if (under <= 0) this.verifying.delete(address);
    else this.verifying.set(address, under);
  }

  /** Counts a failed CONNECT; returns the bans it starts (log each once). */
  failure(address: string | undefined, key: string | undefined, kind: FailureKind): Ban[] {
    if (!this.enabled) return [];
    const now = this.now();
    const bans: Ban[] = [];
    const addressBan = address === undefined ? undefined : this.addresses.fail(address, now);
    if (addressBan) bans.push(addressBan);
    if (kind === 'credentials' && key !== undefined) {
      const keyBan = this.keys.fail(key, now);
      if (keyBan) bans.push(keyBan);
    }
    return bans;
  }

  /**
   * A CONNECT was accepted: the right secret for the key. The key's record is dropped (whoever guessed
   * wrong, the key's owner has proved it); the address's failure count starts again but its ban level
   * is kept, so connecting with one valid key does not wipe the record of guessing others.
   */
  success(address: string | undefined, key: string): void {
    if (!this.enabled) return;
    this.keys.forget(key);
    if (address !== undefined) this.addresses.succeed(address, this.now());
  }
}
