import { type ChainableCommander, Redis } from 'ioredis';
import { KeygateError } from '../errors.js';
import { isValidIdentifier } from '../policy/identifiers.js';
import type { Keyspace } from './keyspace.js';
import type { RedisHash } from './records.js';
import { redactRedisUrl, scanNames } from './redis.js';

export type { RedisHash };

/**
 * The one module that writes keygate's keys (the admin CLI's store). Reads go through here too, raw:
 * the caller parses with src/store/records.ts. Key names come from the Keyspace only.
 *
 * Every change of a record is atomic (MULTI/EXEC, with WATCH for read-modify-write), so a broker that
 * reacts to the keyspace notification of a change never reads a half-written record: a device replaced
 * by `import` is never seen as missing, a key never as a hash without its secret.
 */

/** What Redis holds under one record's name. */
export type RawRecord =
  | { readonly state: 'missing' }
  | { readonly state: 'wrongtype' }
  | { readonly state: 'found'; readonly hash: RedisHash };

export type RecordKind = 'key' | 'device';

export interface ListedRecord {
  readonly id: string;
  readonly record: RawRecord;
}

export interface ImportItem {
  readonly kind: RecordKind;
  readonly id: string;
  readonly fields: Readonly<Record<string, string>>;
}

export interface ImportCounts {
  created: number;
  replaced: number;
}

export interface AdminStoreOptions {
  url: string;
  keyspace: Keyspace;
  /** Longest wait for the connection, and for any one command (default 2 s / 10 s). */
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
}

/** Names read per SCAN step and per pipeline of HGETALLs. */
const SCAN_BATCH = 1000;
/** Attempts of a WATCH/MULTI read-modify-write before giving up (another writer kept changing it). */
const MAX_WATCH_ATTEMPTS = 10;

function isWrongType(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('WRONGTYPE');
}

function toRaw(err: Error | null | undefined, value: unknown): RawRecord {
  if (err) {
    if (isWrongType(err)) return { state: 'wrongtype' };
    throw err;
  }
  const hash = value as RedisHash;
  return Object.keys(hash).length === 0 ? { state: 'missing' } : { state: 'found', hash };
}

export class AdminStore {
  private constructor(
    private readonly redis: Redis,
    readonly keyspace: Keyspace,
    private readonly url: string,
  ) {}

  /**
   * Connects, failing fast: no offline queue, no reconnection, a bounded connect (the ready check
   * included: a Redis that accepts the connection but never answers counts as unreachable).
   * @throws KeygateError KG_ERR_REDIS_UNREACHABLE, naming the (password-free) URL.
   */
  static async connect(options: AdminStoreOptions): Promise<AdminStore> {
    const connectTimeoutMs = options.connectTimeoutMs ?? 2000;
    const redis = new Redis(options.url, {
      lazyConnect: true,
      enableOfflineQueue: false,
      connectTimeout: connectTimeoutMs,
      commandTimeout: options.commandTimeoutMs ?? 10_000,
      maxRetriesPerRequest: 0,
      retryStrategy: () => null,
      connectionName: 'keygate-cli',
      // How long disconnect() waits for the socket to close before destroying it (this keeps the process up).
      disconnectTimeout: 100,
    });
    // The first error says why (ECONNREFUSED, ENOTFOUND, WRONGPASS...); the promise only "Connection is
    // closed". Without a listener ioredis would print every error itself.
    let firstError: Error | undefined;
    redis.on('error', (err: Error) => {
      firstError ??= err;
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        redis.connect(),
        new Promise<never>((_resolve, reject) => {
          timer = setTimeout(
            () => reject(new Error(`no answer within ${connectTimeoutMs} ms`)),
            connectTimeoutMs,
          );
        }),
      ]);
    } catch (err) {
      // After a failed connect the stream is gone: disconnect() would arm a timer that nothing clears.
      if (redis.status !== 'end') redis.disconnect();
      throw unreachable(options.url, firstError ?? err);
    } finally {
      clearTimeout(timer);
    }
    return new AdminStore(redis, options.keyspace, options.url);
  }

  close(): void {
    this.redis.disconnect();
  }

  private name(kind: RecordKind, id: string): string {
    return kind === 'key' ? this.keyspace.key(id) : this.keyspace.device(id);
  }

  /** Runs a Redis operation; a failure of Redis itself becomes KG_ERR_REDIS_UNREACHABLE. */
  private async guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (err) {
      if (err instanceof KeygateError) throw err;
      throw unreachable(this.url, err);
    }
  }

  async read(kind: RecordKind, id: string): Promise<RawRecord> {
    return this.guard(async () => {
      try {
        return toRaw(null, await this.redis.hgetall(this.name(kind, id)));
      } catch (err) {
        return toRaw(err as Error, undefined);
      }
    });
  }

  /** Several records in one round trip, in the order of `ids`. */
  async readMany(kind: RecordKind, ids: readonly string[]): Promise<RawRecord[]> {
    if (ids.length === 0) return [];
    return this.guard(async () => {
      const pipeline = this.redis.pipeline();
      for (const id of ids) pipeline.hgetall(this.name(kind, id));
      const results = (await pipeline.exec()) ?? [];
      return ids.map((_id, i) => {
        const [err, value] = results[i] ?? [new Error('no reply from Redis'), undefined];
        return toRaw(err, value);
      });
    });
  }

  /**
   * Every record of a kind (SCAN, never KEYS; HGETALL in pipelines), sorted by ID. Names under the
   * prefix whose ID is not a valid identifier are skipped: the broker never reads them either.
   */
  async list(kind: RecordKind): Promise<ListedRecord[]> {
    const pattern = kind === 'key' ? this.keyspace.keyPattern : this.keyspace.devicePattern;
    const start = this.name(kind, '').length;
    const listed: ListedRecord[] = [];
    await this.guard(async () => {
      for await (const names of scanNames(this.redis, pattern, SCAN_BATCH)) {
        const ids = [...new Set(names.map((name) => name.slice(start)))].filter((id) =>
          isValidIdentifier(id),
        );
        const records = await this.readMany(kind, ids);
        ids.forEach((id, i) => {
          const record = records[i] as RawRecord;
          if (record.state !== 'missing') listed.push({ id, record });
        });
      }
    });
    // SCAN may return a name twice across steps.
    const unique = new Map(listed.map((entry) => [entry.id, entry]));
    return [...unique.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /**
   * Writes a new record; with `replace`, an existing one is replaced whole (DEL + HSET in one MULTI).
   * Returns what happened; `exists` (and nothing written) when it exists and `replace` is false.
   */
  async create(
    kind: RecordKind,
    id: string,
    fields: Readonly<Record<string, string>>,
    replace = false,
  ): Promise<'created' | 'replaced' | 'exists'> {
    const name = this.name(kind, id);
    if (replace) {
      return this.guard(async () => {
        const results = await this.redis.multi().del(name).hset(name, fields).exec();
        throwFirstError(results);
        return results?.[0]?.[1] === 1 ? 'replaced' : 'created';
      });
    }
    return this.watched(name, async (exists) => {
      if (exists) return { result: 'exists' as const };
      return { result: 'created' as const, write: (multi) => multi.hset(name, fields) };
    });
  }

  /**
   * Read-modify-write of an existing record under WATCH: `change` gets the current hash (undefined when
   * missing) and returns the fields to set and to delete, or undefined to write nothing.
   * Returns false when the record does not exist.
   */
  async update(
    kind: RecordKind,
    id: string,
    change: (hash: RedisHash) => { set: Record<string, string>; remove: string[] } | undefined,
  ): Promise<boolean> {
    const name = this.name(kind, id);
    return this.watched(name, async (exists, hash) => {
      if (!exists) return { result: false };
      const edit = change(hash as RedisHash);
      if (edit === undefined) return { result: true };
      return {
        result: true,
        write: (multi) => {
          // Set first: removing the last field first would delete the hash for a moment.
          if (Object.keys(edit.set).length > 0) multi.hset(name, edit.set);
          if (edit.remove.length > 0) multi.hdel(name, ...edit.remove);
          return multi;
        },
      };
    });
  }

  /** WATCH name, read it, then MULTI/EXEC what `decide` wants written; retried if it changed meanwhile. */
  private async watched<T>(
    name: string,
    decide: (
      exists: boolean,
      hash: RedisHash | undefined,
    ) => Promise<{ result: T; write?: (multi: ChainableCommander) => ChainableCommander }>,
  ): Promise<T> {
    return this.guard(async () => {
      for (let attempt = 0; attempt < MAX_WATCH_ATTEMPTS; attempt++) {
        await this.redis.watch(name);
        let raw: RawRecord;
        try {
          raw = toRaw(null, await this.redis.hgetall(name));
        } catch (err) {
          await this.redis.unwatch();
          if (isWrongType(err)) {
            throw new KeygateError('KG_ERR_RECORD_MALFORMED', `${name} is not a hash; delete it first`);
          }
          throw err;
        }
        const hash = raw.state === 'found' ? raw.hash : undefined;
        let decided: Awaited<ReturnType<typeof decide>>;
        try {
          decided = await decide(hash !== undefined, hash);
        } catch (err) {
          await this.redis.unwatch();
          throw err;
        }
        const { result, write } = decided;
        if (write === undefined) {
          await this.redis.unwatch();
          return result;
        }
        const results = await write(this.redis.multi()).exec();
        if (results === null) continue; // the record changed between WATCH and EXEC: read it again
        throwFirstError(results);
        return result;
      }
      throw new KeygateError('KG_ERR_INTERNAL', `${name} kept changing while it was being updated`);
    });
  }

  /** Deletes a record; false when there was none. */
  async delete(kind: RecordKind, id: string): Promise<boolean> {
    return this.guard(async () => (await this.redis.del(this.name(kind, id))) === 1);
  }

  /**
   * Writes records, each replacing whatever was there (DEL + HSET), one MULTI/EXEC per batch: a batch
   * is applied whole or not at all, and no reader ever sees a record half written.
   */
  async importBatch(items: readonly ImportItem[]): Promise<ImportCounts> {
    if (items.length === 0) return { created: 0, replaced: 0 };
    return this.guard(async () => {
      const multi = this.redis.multi();
      for (const item of items) {
        const name = this.name(item.kind, item.id);
        multi.del(name).hset(name, item.fields);
      }
      const results = await multi.exec();
      throwFirstError(results);
      let replaced = 0;
      for (let i = 0; i < items.length; i++) if (results?.[2 * i]?.[1] === 1) replaced++;
      return { created: items.length - replaced, replaced };
    });
  }
}

function throwFirstError(results: [Error | null, unknown][] | null): void {
  if (results === null) throw new Error('the transaction was aborted');
  for (const [err] of results) if (err) throw err;
}

function unreachable(url: string, err: unknown): KeygateError {
  const reason = err instanceof Error ? err.message : String(err);
  return new KeygateError(
    'KG_ERR_REDIS_UNREACHABLE',
    `${redactRedisUrl(url)} (${reason}); check that redis-server is running and REDIS_URL is right`,
  );
}
