/**
 * The one place that names keygate's Redis keys (SPEC section 1: a public interface that admins write
 * with plain `redis-cli`). Nobody builds a key string anywhere else.
 *
 *   <prefix>key:<accessKey>     hash  an access key
 *   <prefix>device:<deviceId>   hash  a registered device
 *   <prefix>verified:<accessKey> string  keygate's own: the proof of a recent successful verification
 *                                         (docs/CREDENTIAL-CACHE.md), with a TTL; admins never write it
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

  /** Glob patterns for SCAN. */
  get keyPattern(): string {
    return `${escapeGlob(this.prefix)}key:*`;
  }

  get devicePattern(): string {
    return `${escapeGlob(this.prefix)}device:*`;
  }
}

/** Escapes Redis glob metacharacters so a prefix such as `a*b:` matches only itself. */
function escapeGlob(text: string): string {
  return text.replace(/[*?[\]\\]/g, '\\$&');
}
