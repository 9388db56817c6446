import type { Client } from 'aedes';
import type { Logger } from 'pino';
import { fingerprintSecretHash } from '../crypto/fingerprint.js';
import type { ErrorCode } from '../errors.js';
import { errorCatalogue } from '../errors.js';
import type { KeygateMetrics } from '../metrics.js';
import { connectRight, type DeviceRead } from '../policy/connect-right.js';
import type { KeyRecord } from '../policy/model.js';
import type { Parsed } from '../policy/tags.js';
import type { DeviceDirectory } from '../store/device-directory.js';
import type { KeyLookup, KeyStore } from '../store/key-store.js';
import { clientAddress } from './client-address.js';
import type { Session, SessionRegistry } from './sessions.js';

export interface LiveSessionsDeps {
  readonly sessions: SessionRegistry;
  readonly store: KeyStore;
  readonly directory: DeviceDirectory;
  readonly logger: Logger;
  readonly metrics: KeygateMetrics;
}

/** Keys re-read at once during a full re-validation. */
const REVALIDATE_CONCURRENCY = 64;

/**
 * Makes changes in Redis reach live sessions (SPEC section 4): a session whose right to connect is gone
 * is disconnected (without its will), and every other session's authorization follows the new records.
 *
 * If Redis cannot be read while re-checking, sessions are kept as they are (a Redis blip must not
 * disconnect a fleet) and re-checked at the next re-validation — which always follows a reconnect.
 */
export class LiveSessions {
  constructor(private readonly deps: LiveSessionsDeps) {}

  /** An access key changed (or was deleted): re-check every session that uses it. */
  async keyChanged(accessKey: string): Promise<void> {
    const learntAt = performance.now();
    const clients = this.deps.sessions.withKey(accessKey);
    if (clients.length === 0) return;
    let key: KeyLookup;
    try {
      key = await this.deps.store.readKey(accessKey);
    } catch (err) {
      this.deps.logger.warn(
        { accessKey, err: (err as Error).message },
        'cannot re-check sessions of a changed key now',
      );
      return;
    }
    for (const client of clients) this.recheck(client, key, learntAt);
  }

  /**
   * A device changed (or was deleted): refresh it, re-check its own session; others re-decide lazily.
   * Resolves true once the directory holds the device as read after the change, false if it could not be read.
   */
  async deviceChanged(deviceId: string): Promise<boolean> {
    const learntAt = performance.now();
    try {
      await this.deps.directory.refresh(deviceId);
    } catch (err) {
      this.deps.logger.warn({ deviceId, err: (err as Error).message }, 'cannot re-read a changed device now');
      return false;
    }
    for (const client of this.deps.sessions.withDevice(deviceId)) this.recheck(client, undefined, learntAt);
    return true;
  }

  /** Everything, from Redis: after a reconnect (missed notifications) and periodically as the backstop. */
  async revalidateAll(): Promise<void> {
    try {
      await this.deps.directory.loadAll();
    } catch (err) {
      this.deps.logger.warn({ err: (err as Error).message }, 're-validation postponed: Redis unavailable');
      return;
    }
    await this.recheckAll();
  }

  /**
   * Every live session re-decided on its key as read from Redis now and its device as the directory holds
   * it — for a caller that has just reloaded the directory itself.
   */
  async recheckAll(): Promise<void> {
    this.deps.sessions.sweep();
    const keys = this.deps.sessions.keys();
    for (let i = 0; i < keys.length; i += REVALIDATE_CONCURRENCY) {
      await Promise.all(
        keys.slice(i, i + REVALIDATE_CONCURRENCY).map((accessKey) => this.keyChanged(accessKey)),
      );
    }
  }

  /**
   * Re-decides one session. `key` is the freshly read key, or undefined when only the device changed
   * (the session's key record still stands). `learntAt`: when keygate learnt of the change
   * (performance.now()), for the revocation latency metric.
   */
  private recheck(client: Client, key: KeyLookup | undefined, learntAt: number): void {
    const session = this.deps.sessions.get(client);
    if (session === undefined || session.revoked) return;
    let keyRecord: Parsed<KeyRecord> = { ok: true, value: session.principal.key };
    if (key !== undefined) {
      if (key.secretHash === undefined) {
        this.revoke(client, session, 'KG_ERR_KEY_DELETED', learntAt);
        return;
      }
      if (fingerprintSecretHash(key.secretHash) !== session.secretFingerprint) {
        this.revoke(client, session, 'KG_ERR_SECRET_CHANGED', learntAt);
        return;
      }
      keyRecord = key.record;
    }
    const record = this.deps.directory.get(session.deviceId);
    const device: DeviceRead =
      record === undefined ? { found: false } : { found: true, device: { ok: true, value: record } };
    const right = connectRight(keyRecord, device);
    if (!right.ok) {
      this.revoke(client, session, right.code, learntAt);
      return;
    }
    if (
      right.principal.key !== session.principal.key ||
      right.principal.device !== session.principal.device
    ) {
      session.principal = right.principal;
      session.memoGeneration = -1; // what it may see is decided again on the next delivery
    }
  }

  /** Disconnects a session whose right to connect is gone. Its will is refused (see authorizePublish). */
  private revoke(client: Client, session: Session, code: ErrorCode, learntAt: number): void {
    session.revoked = true;
    this.deps.logger.info(
      {
        deviceId: session.deviceId,
        accessKey: session.accessKey,
        address: clientAddress(client),
        code,
      },
      `session revoked: ${errorCatalogue[code].message}; disconnecting`,
    );
    client.close();
    this.deps.metrics.revocation(code, (performance.now() - learntAt) / 1000);
  }
}
