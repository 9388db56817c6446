import { EventEmitter } from 'node:events';
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
  /** Notifications may have been missed (first start, reconnect): everything must be re-validated. */
  resync: [];
}

/**
 * Turns Redis keyspace notifications for keygate's keys into `key` / `device` events, whoever made the
 * change (the CLI or plain `redis-cli`). Enables the notifications at start and after every reconnect
 * (a restarted Redis forgets CONFIG SET) when the server allows it; when it does not (managed Redis often
 * disables CONFIG), says so once, and the periodic re-validation is the only bound on staleness.
 * Pub/sub is fire-and-forget: every (re)connection of the subscriber emits `resync`.
 */
export class ChangeFeed extends EventEmitter<ChangeFeedEvents> {
  private subscriber: Redis | undefined;
  state: NotificationState = 'unavailable';
  private warned = false;

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
    // Its own connection (a subscribed connection can run nothing else), which queues commands while
    // disconnected so that ioredis re-subscribes by itself after a reconnect.
    const subscriber = this.redis.duplicate({
      enableOfflineQueue: true,
      commandTimeout: undefined,
      connectionName: 'keygate-changes',
    });
    this.subscriber = subscriber;
    subscriber.on('error', () => {}); // the main connection logs Redis outages
    subscriber.on('pmessage', (_pattern: string, channel: string) => {
      const name = channel.slice(channelPrefix.length);
      if (name.startsWith(keyPrefix)) this.emit('key', name.slice(keyPrefix.length));
      else if (name.startsWith(devicePrefix)) this.emit('device', name.slice(devicePrefix.length));
    });
    // A new subscription: notifications published meanwhile are lost, and a restarted Redis has forgotten
    // CONFIG SET. Re-enable (when the main connection is up; else its own 'ready' does), then resync.
    subscriber.on('ready', () => {
      const enabled = this.redis.status === 'ready' ? this.enableNotifications() : Promise.resolve();
      void enabled.finally(() => this.emit('resync'));
    });
    // CONFIG runs on the main connection (a subscribed one cannot), whenever it (re)connects.
    this.redis.on('ready', this.onMainReady);
    if (this.redis.status === 'ready') this.onMainReady();
    void subscriber
      .psubscribe(
        `${channelPrefix}${this.keyspace.keyPattern}`,
        `${channelPrefix}${this.keyspace.devicePattern}`,
      )
      .catch((err: Error) =>
        this.logger.warn({ err: err.message }, 'cannot subscribe to keyspace notifications'),
      );
  }

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
    this.redis.off('ready', this.onMainReady);
    this.subscriber?.disconnect();
    this.removeAllListeners();
  }
}
