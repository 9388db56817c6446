import type { Redis } from 'ioredis';
import { KeygateError } from '../errors.js';
import type { DeviceRead } from '../policy/connect-right.js';
import type { Parsed } from '../policy/tags.js';
import type { DeviceDirectory } from './device-directory.js';
import type { Keyspace } from './keyspace.js';
import type { ProblemLog } from './problem-log.js';
import { type KeyRecord, parseKeyRecord, parseSecretHash, type RedisHash } from './records.js';
import { scanNames } from './redis.js';

/** What the store knows about an access key. */
export interface KeyLookup {
  /** The bcrypt hash to verify against, or undefined when the key is missing or its secret unusable. */
  readonly secretHash: string | undefined;
  /** The rest of the key, parsed; only looked at once the secret has been verified. */
  readonly record: Parsed<KeyRecord>;
}

export type DeviceLookup = DeviceRead;

export interface CredentialsLookup {
  readonly key: KeyLookup;
  readonly device: DeviceLookup;
  /** The proof of a recent verification kept in Redis (base64url), when asked for and present. */
  readonly sharedProof?: string;
  /** Brute-force bans another instance recorded in Redis for this address / this key (when asked). */
  readonly sharedBans?: { readonly address: boolean; readonly key: boolean };
}

/** What to read besides the key and the device, in the same round trip. */
export interface LookupExtras {
  /** Read the proof of a recent verification (docs/CREDENTIAL-CACHE.md). */
  readonly proof?: boolean;
  /** Read the shared bans of this address (IP) and of the key. */
  readonly bans?: { readonly address: string | undefined };
}

/** A proof kept in Redis (base64url) and the key it was made for, as read together. */
export interface SharedProof {
  readonly accessKey: string;
  readonly proof: string;
  readonly key: KeyLookup;
}

const MISSING_KEY: KeyLookup = {
  secretHash: undefined,
  record: { ok: false, problem: 'key does not exist' },
};

/** Reads access keys and devices from Redis (SPEC section 1). Read-only. */
export class KeyStore {
  constructor(
    private readonly redis: Redis,
    readonly keyspace: Keyspace,
    private readonly problems: ProblemLog,
    /** Every device record read passes through the directory, which keeps the freshest copy. */
    private readonly directory: DeviceDirectory,
  ) {}

  /**
   * Reads a key and a device in one round trip. The device is read alongside the key so that the time
   * taken does not depend on whether the key exists; nothing about either is acted on before the
   * caller has verified the secret.
   *
   * @throws KeygateError KG_ERR_STORE_UNAVAILABLE when Redis cannot answer.
   */
  async lookupCredentials(
    accessKey: string,
    deviceId: string,
    extras: LookupExtras = {},
  ): Promise<CredentialsLookup> {
    const keyName = this.keyspace.key(accessKey);
    const deviceName = this.keyspace.device(deviceId);
    let results: [Error | null, unknown][] | null;
    // Everything besides the two records is one MGET: fewer commands per CONNECT, still one round trip.
    const extraNames: string[] = [];
    if (extras.proof) extraNames.push(this.keyspace.verified(accessKey));
    const address = extras.bans?.address;
    if (extras.bans) {
      extraNames.push(this.keyspace.ban('key', accessKey));
      if (address !== undefined) extraNames.push(this.keyspace.ban('address', address));
    }
    const pipeline = this.redis.pipeline().hgetall(keyName).hgetall(deviceName);
    if (extraNames.length > 0) pipeline.mget(extraNames);
    try {
      results = await pipeline.exec();
    } catch (err) {
      throw unavailable(err);
    }
    if (results === null || results.length !== (extraNames.length > 0 ? 3 : 2)) {
      throw new KeygateError('KG_ERR_STORE_UNAVAILABLE');
    }
    // An extra that cannot be read is absent: no proof (the CONNECT pays for bcrypt), no shared ban (the
    // in-memory throttle still applies).
    const [extraError, extraValues] = (results[2] ?? [null, []]) as [Error | null, unknown];
    const values: unknown[] = extraError === null && Array.isArray(extraValues) ? [...extraValues] : [];
    const proof = extras.proof ? values.shift() : undefined;
    const keyBanned = extras.bans ? values.shift() != null : false;
    const addressBanned = extras.bans && address !== undefined ? values.shift() != null : false;
    return {
      key: this.toKeyLookup(keyName, results[0] as [Error | null, unknown]),
      device: this.toDeviceLookup(deviceId, results[1] as [Error | null, unknown]),
      ...(typeof proof === 'string' ? { sharedProof: proof } : {}),
      ...(extras.bans ? { sharedBans: { address: addressBanned, key: keyBanned } } : {}),
    };
  }

  /**
   * Every proof of a recent verification kept in Redis, with its key read in the same pipeline (SCAN,
   * then MGET + HGETALL per batch): what a restarted instance needs to admit warm reconnects from memory
   * at once (docs/CREDENTIAL-CACHE.md). Keys that are missing or unusable are left out.
   * @throws when Redis cannot answer.
   */
  async sharedProofs(): Promise<SharedProof[]> {
    const prefix = this.keyspace.verified('');
    const found: SharedProof[] = [];
    for await (const names of scanNames(this.redis, this.keyspace.verifiedPattern)) {
      const accessKeys = names.map((name) => name.slice(prefix.length));
      const pipeline = this.redis.pipeline().mget(names);
      for (const accessKey of accessKeys) pipeline.hgetall(this.keyspace.key(accessKey));
      const results = (await pipeline.exec()) ?? [];
      const [mgetError, proofs] = results[0] ?? [new Error('no reply'), undefined];
      if (mgetError) throw mgetError;
      accessKeys.forEach((accessKey, i) => {
        const proof = (proofs as (string | null)[])[i];
        const reply = results[i + 1] as [Error | null, unknown] | undefined;
        if (typeof proof !== 'string' || reply === undefined) return;
        const key = this.toKeyLookup(this.keyspace.key(accessKey), reply);
        if (key.secretHash !== undefined && key.record.ok) found.push({ accessKey, proof, key });
      });
    }
    return found;
  }

  /**
   * The brute-force bans in Redis now, as `address:<ip>` / `key:<accessKey>` (SCAN, never KEYS).
   * @throws when Redis cannot answer.
   */
  async bans(): Promise<string[]> {
    const names: string[] = [];
    for await (const batch of scanNames(this.redis, this.keyspace.banPattern)) {
      for (const name of batch) names.push(name.slice(this.keyspace.banPrefix.length));
    }
    return names;
  }

  /** Records a brute-force ban for the other instances (best effort, like the proofs). */
  shareBan(scope: 'address' | 'key', id: string, ms: number): void {
    this.redis.set(this.keyspace.ban(scope, id), '1', 'PX', ms).catch(() => {});
  }

  /**
   * Keeps the proof of a successful verification in Redis for `ttlMs` (docs/CREDENTIAL-CACHE.md). Best
   * effort: a failed write only means the next CONNECT elsewhere verifies bcrypt again.
   */
  rememberProof(accessKey: string, proof: string, ttlMs: number): void {
    this.redis.set(this.keyspace.verified(accessKey), proof, 'PX', ttlMs).catch(() => {});
  }

  /**
   * Reads one access key (for re-checking live sessions after a change).
   * @throws KeygateError KG_ERR_STORE_UNAVAILABLE when Redis cannot answer.
   */
  async readKey(accessKey: string): Promise<KeyLookup> {
    const keyName = this.keyspace.key(accessKey);
    let reply: [Error | null, unknown];
    try {
      reply = [null, await this.redis.hgetall(keyName)];
    } catch (err) {
      if (!(err instanceof Error && err.message.startsWith('WRONGTYPE'))) throw unavailable(err);
      reply = [err, undefined];
    }
    return this.toKeyLookup(keyName, reply);
  }

  private toKeyLookup(keyName: string, [err, value]: [Error | null, unknown]): KeyLookup {
    const hash = this.toHash(keyName, err, value);
    if (hash === undefined) return { secretHash: undefined, record: { ok: false, problem: 'not a hash' } };
    if (Object.keys(hash).length === 0) return MISSING_KEY;
    const secret = parseSecretHash(hash);
    if (!secret.ok) this.problems.report(keyName, secret.problem);
    const record = parseKeyRecord(hash);
    // Reported now, acted on only after the secret verified: the log is the admin's, not the peer's.
    if (!record.ok) this.problems.report(keyName, record.problem);
    return { secretHash: secret.ok ? secret.value : undefined, record };
  }

  private toDeviceLookup(deviceId: string, [err, value]: [Error | null, unknown]): DeviceLookup {
    if (err && !err.message.startsWith('WRONGTYPE')) throw unavailable(err);
    const device = this.directory.apply(deviceId, err ? 'wrongtype' : (value as RedisHash));
    return device === undefined ? { found: false } : { found: true, device };
  }

  /** The hash, or undefined when the key holds another type (reported: deny, never allow). */
  private toHash(name: string, err: Error | null, value: unknown): RedisHash | undefined {
    if (err) {
      if (err.message.startsWith('WRONGTYPE')) {
        this.problems.report(name, 'key is not a hash');
        return undefined;
      }
      throw unavailable(err);
    }
    return value as RedisHash;
  }
}

function unavailable(err: unknown): KeygateError {
  const reason = err instanceof Error ? err.message : String(err);
  return new KeygateError('KG_ERR_STORE_UNAVAILABLE', reason);
}
