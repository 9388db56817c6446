/**
 * The one place that names keygate's Redis keys (SPEC section 1: a public interface that admins write
 * with plain `redis-cli`). Nobody builds a key string anywhere else.
 *
 *   <prefix>key:<accessKey>     hash  an access key
 *   <prefix>device:<deviceId>   hash  a registered device
 *   <prefix>verified:<accessKey> string  keygate's own: the proof of a recent successful verification
 *                                         (docs/CREDENTIAL-CACHE.md), with a TTL; admins never write it
 *   <prefix>ban:address:<ip>     string  keygate's own: a brute-force ban shared by the instances (TTL)
 *   <prefix>ban:key:<accessKey>  string  keygate's own: likewise, for an access key
 *   <prefix>heartbeat:<instance>:<n>  string  keygate's own: a canary written ~4 times a second (2 s TTL)
 *                                         whose keyspace notification proves the change feed current
 *                                         (hooks/warm-connects.ts)
 *
 * IDs are validated identifiers (no `:`-free guarantee is needed: the kind is fixed by the fixed text
 * after the prefix). The Aedes persistence keeps its own unprefixed keys; keygate never touches them.
 */
export const DEFAULT_PREFIX = 'keygate:';

export class Keyspace {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {}

  key(accessKey: string): string {
    return `${this.prefix}key:${accessKey}`;
  }

  device(deviceId: string): string {
    return `${this.prefix}device:${deviceId}`;
  }

  verified(accessKey: string): string {
    return `${this.prefix}verified:${accessKey}`;
  }

  ban(scope: 'address' | 'key', id: string): string {
    return `${this.banPrefix}${scope}:${id}`;
  }

  /** What every ban's name starts with: `<prefix>ban:`, then `address:<ip>` or `key:<accessKey>`. */
  get banPrefix(): string {
    return `${this.prefix}ban:`;
  }

  heartbeat(instance: string, n: number): string {
    return `${this.heartbeatPrefix(instance)}${n}`;
  }

  /** What every heartbeat canary of `instance` starts with; its number follows. */
  heartbeatPrefix(instance: string): string {
    return `${this.prefix}heartbeat:${instance}:`;
  }

  /** Glob patterns for SCAN and PSUBSCRIBE. */
  get keyPattern(): string {
    return `${escapeGlob(this.prefix)}key:*`;
  }

  get devicePattern(): string {
    return `${escapeGlob(this.prefix)}device:*`;
  }

  get verifiedPattern(): string {
    return `${escapeGlob(this.prefix)}verified:*`;
  }

  get banPattern(): string {
    return `${escapeGlob(this.prefix)}ban:*`;
  }

  heartbeatPattern(instance: string): string {
    return `${escapeGlob(this.prefix)}heartbeat:${escapeGlob(instance)}:*`;
  }
}

/** Escapes Redis glob metacharacters so a prefix such as `a*b:` matches only itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
