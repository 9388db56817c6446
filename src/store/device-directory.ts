import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { DeviceLookup } from '../policy/authorization.js';
import { isValidIdentifier } from '../policy/identifiers.js';
import type { DeviceRecord } from '../policy/model.js';
import type { Parsed } from '../policy/tags.js';
import type { Keyspace } from './keyspace.js';
import type { ProblemLog } from './problem-log.js';
import { parseDeviceRecord, type RedisHash } from './records.js';
import { scanNames } from './redis.js';

/** Devices read per SCAN step (and per pipeline of HGETALLs) when loading the directory. */
const SCAN_BATCH = 1000;

/**
 * Every registered device, in memory: the per-delivery check (`authorizeForward`, synchronous, no Redis)
 * and the scope decisions read it. Filled by a SCAN at start and after every Redis reconnect, and kept
 * current by every read of a device record (CONNECT, a publish or subscribe naming an unknown device).
 * A device that is missing here is treated as unregistered: deny.
 *
 * `generation` changes whenever a record is added, changed or removed, so that memoised decisions built
 * from the old records can be dropped.
 */
export class DeviceDirectory {
  private readonly records = new Map<string, DeviceRecord>();
  /**
   * One set per full load under way: the devices applied meanwhile (a notification's refresh, a CONNECT's
   * read). The load's final sweep must not remove them: its SCAN may have passed before they were written.
   */
  private readonly appliedDuringLoads = new Set<Set<string>>();
  /** The raw fields each record was parsed from, to tell a real change from a re-read. */
  private readonly fingerprints = new Map<string, string>();
  generation = 0;

  /** The lookup the policy functions take; bound, so it can be passed around. */
  readonly lookup: DeviceLookup = (deviceId) => this.records.get(deviceId);

  constructor(
    private readonly redis: Redis,
    private readonly keyspace: Keyspace,
    private readonly problems: ProblemLog,
  ) {}

  get size(): number {
    return this.records.size;
  }

  get(deviceId: string): DeviceRecord | undefined {
    return this.records.get(deviceId);
  }

  /**
   * Records what Redis holds for a device: `undefined` for a missing key, `'wrongtype'` for a key that is
   * not a hash. Returns the parse result (a malformed record is reported once and removed: deny).
   */
  apply(deviceId: string, hash: RedisHash | undefined | 'wrongtype'): Parsed<DeviceRecord> | undefined {
    for (const applied of this.appliedDuringLoads) applied.add(deviceId);
    const name = this.keyspace.device(deviceId);
    if (hash === 'wrongtype') {
      this.problems.report(name, 'key is not a hash');
      this.remove(deviceId);
      return { ok: false, problem: 'key is not a hash' };
    }
    if (hash === undefined || Object.keys(hash).length === 0) {
      this.remove(deviceId);
      return undefined;
    }
    // Structured, so that no two different hashes share a fingerprint.
    const fingerprint = JSON.stringify([hash.tags ?? null, hash.type ?? null, hash.gateway ?? null]);
    // The fields a record is parsed from are unchanged: the record kept is that parse, and the sessions
    // given it share it rather than each holding a copy (issue 7: heap per connection).
    const known = this.records.get(deviceId);
    if (known !== undefined && this.fingerprints.get(deviceId) === fingerprint)
      return { ok: true, value: known };
    const parsed = parseDeviceRecord(deviceId, hash);
    if (!parsed.ok) {
      this.problems.report(name, parsed.problem);
      this.remove(deviceId);
      return parsed;
    }
    if (this.fingerprints.get(deviceId) !== fingerprint) {
      this.records.set(deviceId, parsed.value);
      this.fingerprints.set(deviceId, fingerprint);
      this.generation++;
    }
    return parsed;
  }

  private remove(deviceId: string): void {
    if (this.records.delete(deviceId)) this.generation++;
    this.fingerprints.delete(deviceId);
  }

  /**
   * Reads one device from Redis into the directory.
   * @throws when Redis cannot answer (the caller fails closed).
   */
  async refresh(deviceId: string): Promise<DeviceRecord | undefined> {
    let hash: RedisHash;
    try {
      hash = await this.redis.hgetall(this.keyspace.device(deviceId));
    } catch (err) {
      if (err instanceof Error && err.message.startsWith('WRONGTYPE')) {
        this.apply(deviceId, 'wrongtype');
        return undefined;
      }
      throw err;
    }
    const parsed = this.apply(deviceId, hash);
    return parsed?.ok ? parsed.value : undefined;
  }

  /**
   * Loads every device under the prefix (SCAN, then HGETALL in pipelines), and forgets devices that are
   * no longer there. Returns the number of devices loaded.
   */
  async loadAll(): Promise<number> {
    // Every device the scan reads is applied, and so are those refreshed meanwhile by anyone else.
    const applied = new Set<string>();
    this.appliedDuringLoads.add(applied);
    try {
      await this.scanAll();
    } finally {
      this.appliedDuringLoads.delete(applied);
    }
    // Gone from Redis: not applied while the load ran — neither read by its scan nor refreshed (a device
    // written after the SCAN passed it would otherwise be dropped until the next load).
    for (const deviceId of [...this.records.keys()]) if (!applied.has(deviceId)) this.remove(deviceId);
    return this.records.size;
  }

  private async scanAll(): Promise<void> {
    const devicePrefix = this.keyspace.device('');
    for await (const names of scanNames(this.redis, this.keyspace.devicePattern, SCAN_BATCH)) {
      const pipeline = this.redis.pipeline();
      for (const name of names) pipeline.hgetall(name);
      const results = (await pipeline.exec()) ?? [];
      names.forEach((name, i) => {
        const deviceId = name.slice(devicePrefix.length);
        if (!isValidIdentifier(deviceId)) {
          this.problems.report(name, 'device ID is not a valid identifier');
          return;
        }
        const [err, value] = results[i] ?? [new Error('no reply'), undefined];
        if (err?.message.startsWith('WRONGTYPE')) this.apply(deviceId, 'wrongtype');
        else if (err) throw err;
        else this.apply(deviceId, value as RedisHash);
      });
    }
  }
}

/** Logs the outcome of a directory load; never throws. */
export function loadDirectory(directory: DeviceDirectory, logger: Logger): Promise<void> {
  const started = Date.now();
  return directory.loadAll().then(
    (count) => logger.info({ devices: count, ms: Date.now() - started }, 'device directory loaded'),
    (err: Error) =>
      logger.warn(
        { err: err.message },
        'device directory not loaded (Redis unavailable?): will retry when Redis is back',
      ),
  );
}
