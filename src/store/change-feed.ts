import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { performance } from 'node:perf_hooks';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Keyspace } from './keyspace.js';

/**
 * Keyspace-notification classes keygate needs (Redis `notify-keyspace-events`): K keyspace channel,
 * g generic (DEL, RENAME, EXPIRE…), h hash (HSET, HDEL…), $ string (SET over a hash), x expired,
 * e evicted. `A` stands for all of g$lshzxetd.
 */
const NEEDED_CLASSES = ['K', 'g', 'h', '$', 'x', 'e'] as const;

/** The flags `current` lacks from NEEDED_CLASSES ('' when it has them all). */
export function missingNotificationClasses(current: string): string {
  const all = current.includes('A');
  return NEEDED_CLASSES.filter((flag) => !current.includes(flag) && !(all && flag !== 'K')).join('');
}

export type NotificationState = 'enabled' | 'unavailable';

export interface ChangeFeedEvents {
  /** An access key was written, deleted, renamed or expired. */
  key: [accessKey: string];
  device: [deviceId: string];
  /** A brute-force ban was written (or expired): `address:<ip>` or `key:<accessKey>`. */
  ban: [name: string];
  /** Notifications may have been missed (first start, reconnect): everything must be re-validated. */
  resync: [];
  /** The subscriber connection is gone: nothing is heard until the next `resync`. */
  lost: [];
}

/** How often a heartbeat canary is written (when none is outstanding). */
export const HEARTBEAT_MS = 250;
/** A canary not heard within this is given up and another one written. */
const CANARY_PATIENCE_MS = 1000;
/** The canaries' TTL: they clean up after themselves. */
const CANARY_TTL_MS = 2000;

/**
 * Turns Redis keyspace notifications for keygate's keys into `key` / `device` events, whoever made the
 * change (the CLI or plain `redis-cli`). Enables the notifications at start and after every reconnect
 * (a restarted Redis forgets CONFIG SET) when the server allows it; when it does not (managed Redis often
 * disables CONFIG), says so once, and the periodic re-validation is the only bound on staleness.
 * Pub/sub is fire-and-forget: every (re)connection of the subscriber emits `resync`.
 *
 * It also hears the brute-force bans any instance writes (`ban`), and proves itself current: a heartbeat
 * canary written every HEARTBEAT_MS is heard back as a notification (`heardWithin`), which is what lets
 * CONNECTs be decided from memory (hooks/warm-connects.ts).
 */
export class ChangeFeed extends EventEmitter<ChangeFeedEvents> {
  private subscriber: Redis | undefined;
  state: NotificationState = 'unavailable';
  private warned = false;
  /** Names this instance's heartbeat canaries: several instances may share one Redis. */
  private readonly instance = randomBytes(6).toString('hex');
  private heartbeat: NodeJS.Timeout | undefined;
  private canary: { readonly n: number; readonly sentAt: number } | undefined;
  private canaries = 0;
  /**
   * performance.now() when the last canary heard was written: every change Redis executed before then has
   * been received (and its event emitted). Undefined until one is heard, and again once the subscriber
   * connection is lost.
   */
  private heardUpTo: number | undefined;

  constructor(
    private readonly redis: Redis,
    private readonly keyspace: Keyspace,
    private readonly logger: Logger,
  ) {
    super();
  }

  start(): void {
    const db = this.redis.options.db ?? 0;
    const channelPrefix = `__keyspace@${db}__:`;
    const keyPrefix = this.keyspace.key('');
    const devicePrefix = this.keyspace.device('');
    const { banPrefix } = this.keyspace;
    const canaryPrefix = this.keyspace.heartbeatPrefix(this.instance);
    // Its own connection (a subscribed connection can run nothing else), which queues commands while
    // disconnected so that ioredis re-subscribes by itself after a reconnect.
    const subscriber = this.redis.duplicate({
      enableOfflineQueue: true,
      commandTimeout: undefined,
      connectionName: 'keygate-changes',
    });
    this.subscriber = subscriber;
    subscriber.on('error', () => {}); // the main connection logs Redis outages
    // Redis publishes a keyspace notification as it executes the command, and one connection receives
    // them in that order: once a canary is heard, every change executed before it has been heard too.
    subscriber.on('pmessage', (_pattern: string, channel: string, event: string) => {
      const name = channel.slice(channelPrefix.length);
      if (name.startsWith(keyPrefix)) this.emit('key', name.slice(keyPrefix.length));
      else if (name.startsWith(devicePrefix)) this.emit('device', name.slice(devicePrefix.length));
      else if (name.startsWith(canaryPrefix)) {
        const canary = this.canary;
        if (event === 'set' && canary !== undefined && name === `${canaryPrefix}${canary.n}`) {
          this.heardUpTo = canary.sentAt;
          this.canary = undefined;
        }
      } else if (name.startsWith(banPrefix)) this.emit('ban', name.slice(banPrefix.length));
    });
    subscriber.on('close', () => {
      if (this.heardUpTo === undefined && this.canary === undefined) return;
      this.heardUpTo = undefined;
      this.canary = undefined;
      this.emit('lost');
    });
    // A new subscription: notifications published meanwhile are lost, and a restarted Redis has forgotten
    // CONFIG SET. Re-enable (when the main connection is up; else its own 'ready' does), then resync.
    subscriber.on('ready', () => {
      const enabled = this.redis.status === 'ready' ? this.enableNotifications() : Promise.resolve();
      void enabled.finally(() => this.emit('resync'));
    });
    this.heartbeat = setInterval(this.beat, HEARTBEAT_MS);
    this.heartbeat.unref();
    // CONFIG runs on the main connection (a subscribed one cannot), whenever it (re)connects.
    this.redis.on('ready', this.onMainReady);
    if (this.redis.status === 'ready') this.onMainReady();
    void subscriber
      .psubscribe(
        `${channelPrefix}${this.keyspace.keyPattern}`,
        `${channelPrefix}${this.keyspace.devicePattern}`,
        `${channelPrefix}${this.keyspace.banPattern}`,
        `${channelPrefix}${this.keyspace.heartbeatPattern(this.instance)}`,
      )
      .catch((err: Error) =>
        this.logger.warn({ err: err.message }, 'cannot subscribe to keyspace notifications'),
      );
  }

  /**
   * Whether every change Redis executed up to `ms` ago has been heard: the last canary was heard and was
   * written less than `ms` ago. False while the subscriber is down, Redis hangs, or the server stopped
   * publishing notifications (CONFIG SET notify-keyspace-events "").
   */
  heardWithin(ms: number): boolean {
    return this.heardUpTo !== undefined && performance.now() - this.heardUpTo <= ms;
  }

  /** Writes the next canary, unless one is still expected. */
  private readonly beat = (): void => {
    const now = performance.now();
    if (this.canary !== undefined && now - this.canary.sentAt < CANARY_PATIENCE_MS) return;
    if (this.subscriber?.status !== 'ready' || this.redis.status !== 'ready') return;
    const n = ++this.canaries;
    this.canary = { n, sentAt: now };
    this.redis.set(this.keyspace.heartbeat(this.instance, n), '1', 'PX', CANARY_TTL_MS).catch(() => {});
  };

  private readonly onMainReady = (): void => {
    void this.enableNotifications();
  };

  /** Makes sure the server publishes the notification classes keygate needs. */
  private async enableNotifications(): Promise<void> {
    try {
      const reply = (await this.redis.config('GET', 'notify-keyspace-events')) as string[];
      const current = reply[1] ?? '';
      const missing = missingNotificationClasses(current);
      if (missing !== '') {
        await this.redis.config('SET', 'notify-keyspace-events', `${current}${missing}`);
        this.logger.info({ flags: `${current}${missing}` }, 'enabled Redis keyspace notifications');
      }
      this.state = 'enabled';
    } catch (err) {
      this.state = 'unavailable';
      // Lost connection: tried again on the next 'ready'. A refusal by the server is worth one warning.
      if (this.redis.status !== 'ready') return;
      if (!this.warned) {
        this.warned = true;
        this.logger.warn(
          { err: (err as Error).message },
          'Redis keyspace notifications cannot be enabled (CONFIG refused?): enable them on the server (notify-keyspace-events "Kgh$xe"), or changes reach live sessions only at the periodic re-validation (KEYGATE_REVALIDATE_MS)',
        );
      }
    }
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    this.heardUpTo = undefined;
    this.redis.off('ready', this.onMainReady);
    this.subscriber?.disconnect();
    this.removeAllListeners();
  }
}
