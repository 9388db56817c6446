import type { AedesPublishPacket, Client, PublishPacket, Subscription } from 'aedes';
import type { Logger } from 'pino';
import { KeygateError } from '../errors.js';
import { decidePublish, decideSubscribe, mayReceive } from '../policy/device-topics.js';
import { clientAddress } from './client-address.js';
import type { SessionRegistry } from './sessions.js';

export interface AuthorizeDeps {
  readonly sessions: SessionRegistry;
  readonly logger: Logger;
}

/**
 * Aedes' `authorizePublish`: runs for every inbound PUBLISH (retained too) and for wills when they fire.
 * A refusal closes the publisher's connection — MQTT 3.1.1 has no negative PUBACK — and the message
 * reaches no one. `client` is null for the stale will of a broker that died: there is no live session to
 * vouch for it, so it is refused.
 */
export function createAuthorizePublish({ sessions, logger }: AuthorizeDeps) {
  return function authorizePublish(
    client: Client | null,
    packet: PublishPacket,
    callback: (error?: Error | null) => void,
  ): void {
    const session = sessions.get(client);
    const decision = session === undefined ? 'no_session' : decidePublish(session.ownPrefix, packet.topic);
    if (decision === 'allowed') {
      callback(null);
      return;
    }
    logger.info(
      {
        deviceId: session?.deviceId,
        accessKey: session?.accessKey,
        address: clientAddress(client),
        reason: decision,
      },
      'PUBLISH refused: closing the connection',
    );
    callback(new KeygateError(decision === 'invalid' ? 'KG_ERR_TOPIC_INVALID' : 'KG_ERR_PUBLISH_DENIED'));
  };
}

/** Aedes' `authorizeSubscribe`, per filter (also for subscriptions restored with a session). */
export function createAuthorizeSubscribe({ sessions, logger }: AuthorizeDeps) {
  return function authorizeSubscribe(
    client: Client,
    subscription: Subscription,
    callback: (error: Error | null, subscription?: Subscription | null) => void,
  ): void {
    const session = sessions.get(client);
    const decision =
      session === undefined ? 'no_session' : decideSubscribe(session.ownPrefix, subscription.topic);
    if (decision === 'allowed') {
      callback(null, subscription);
      return;
    }
    logger.info(
      {
        deviceId: session?.deviceId,
        accessKey: session?.accessKey,
        address: clientAddress(client),
        reason: decision,
      },
      'SUBSCRIBE refused: SUBACK 0x80',
    );
    // null: SUBACK return code 0x80 for this filter [MQTT-3.9.3-2], the connection stays open.
    callback(null, null);
  };
}

/**
 * Aedes' `authorizeForward`: synchronous, for every delivery to every subscriber (live, retained, offline
 * queue). The hot path: memory only, no Redis, no allocation.
 */
export function createAuthorizeForward({ sessions }: AuthorizeDeps) {
  return function authorizeForward(client: Client, packet: AedesPublishPacket): AedesPublishPacket | null {
    const session = sessions.get(client);
    if (session === undefined) return null;
    return mayReceive(session.ownPrefix, packet.topic) ? packet : null;
  };
}
