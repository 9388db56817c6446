import { createHash } from 'node:crypto';

/**
 * A stable, non-reversible identifier of a stored bcrypt hash (SHA-256 of it). Sessions keep this, never
 * the secret, to notice that a key's secret was changed in Redis.
 */
export function fingerprintSecretHash(bcryptHash: string): string {
  return createHash('sha256').update(bcryptHash).digest('base64url');
}
