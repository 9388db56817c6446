import type { Client, PublishPacket } from 'aedes';
import type { Logger } from 'pino';
import { KeygateError } from '../errors.js';
import { bridge } from './bridge.js';

/**
 * A QoS 1 PUBACK that means "stored". [MQTT-4.3.2-2] makes the receiver of a QoS 1 PUBLISH "take ownership"
 * of the message when it sends the PUBACK; aedes 1.2 writes the PUBACK first and only then stores the
 * message (retained store, the offline queues of persistent sessions). A Redis that stalls, or a broker
 * killed in between, loses a message the publisher was told is safe.
 *
 * keygate closes the gap from `authorizePublish`, which aedes runs before it writes the PUBACK: an allowed
 * QoS 1 PUBLISH is published by keygate itself (the same `broker.publish` aedes would call), and the
 * authorization answers only when aedes reaches the delivery step of that publish — i.e. once the
 * retained message and every persistent session's copy are stored. aedes then writes the PUBACK and calls
 * `broker.publish` for the same packet, which is recognised and joined to the publish already under way,
 * so nothing is published twice and aedes' back-pressure (a publisher waits for its deliveries) stays as
 * it was. If the store fails or takes longer than `timeoutMs`, the PUBLISH is refused: aedes closes the
 * connection without PUBACK, and the client sends the message again when it reconnects (QoS 1 is "at least
 * once": a late store may then deliver it twice, never zero times).
 *
 * QoS 2 needs none of this (aedes stores the packet before PUBREC); QoS 0 promises nothing.
 */

type Done = (error?: Error | null) => void;

interface Publisher {
  publish(packet: PublishPacket, client: Client | null, done: Done): void;
  mq: { emit(message: { payload?: unknown }, done?: Done): void };
}

/** A keygate-started publish: `stored` once aedes reaches delivery, `finished` when its publish calls back. */
interface Flight {
  stored: (() => void) | undefined;
  finished: boolean;
  error: Error | null | undefined;
  joiners: Done[];
}

// The packets keygate is publishing itself, by packet (for aedes' own publish call) and by payload buffer
// (aedes' delivery step sees a copy of the packet that shares the payload Buffer object).
const byPacket = new WeakMap<object, Flight>();
const byPayload = new WeakMap<object, Flight>();
const prepared = new WeakSet<object>();

function prepare(broker: Publisher): void {
  if (prepared.has(broker)) return;
  prepared.add(broker);
  const publish = broker.publish;
  broker.publish = function joinKeygatePublish(this: Publisher, packet, client, done) {
    const flight = packet === null || typeof packet !== 'object' ? undefined : byPacket.get(packet);
    if (flight === undefined) {
      publish.call(this, packet, client, done);
      return;
    }
    // aedes' own publish of a packet keygate has already published: join it instead of repeating it.
    byPacket.delete(packet);
    const callback = typeof client === 'function' ? (client as Done) : done;
    if (flight.finished) callback?.(flight.error);
    else if (callback !== undefined) flight.joiners.push(callback);
  };
  const mq = broker.mq;
  const emit = mq.emit;
  mq.emit = function noticeStored(this: unknown, message, done) {
    const payload = message?.payload;
    if (payload !== null && typeof payload === 'object') {
      const flight = byPayload.get(payload);
      if (flight !== undefined) {
        byPayload.delete(payload);
        flight.stored?.();
      }
    }
    return emit.call(this, message, done);
  };
}

export interface StoreBeforeAckOptions {
  readonly timeoutMs: number;
  readonly logger: Logger;
}

/**
 * Publishes an authorized QoS 1 PUBLISH and calls `callback` once it is stored (null: aedes may PUBACK),
 * or with KG_ERR_STORE_TIMEOUT when it could not be stored in time (aedes closes the connection).
 */
export function storeBeforeAck(
  client: Client,
  packet: PublishPacket,
  callback: (error?: Error | null) => void,
  options: StoreBeforeAckOptions,
): void {
  const broker = (client as unknown as { broker: Publisher }).broker;
  prepare(broker);
  const flight: Flight = { stored: undefined, finished: false, error: undefined, joiners: [] };
  bridge(
    () =>
      new Promise<void>((resolve, reject) => {
        flight.stored = resolve;
        // Without a payload Buffer to recognise, the answer waits for the whole publish instead.
        if (typeof packet.payload === 'object') byPayload.set(packet.payload, flight);
        broker.publish(packet, client, (error) => {
          flight.finished = true;
          flight.error = error;
          if (typeof packet.payload === 'object') byPayload.delete(packet.payload);
          for (const join of flight.joiners.splice(0)) join(error);
          if (error) reject(error);
          else resolve();
        });
      }),
    (error) => {
      if (error === null) {
        byPacket.set(packet, flight);
        callback(null);
        return;
      }
      options.logger.warn(
        { clientId: client.id, reason: error.message },
        'QoS 1 PUBLISH not stored in time: closing the connection without PUBACK',
      );
      callback(error);
    },
    {
      hook: 'authorizePublish',
      timeoutMs: options.timeoutMs,
      onTimeout: () => new KeygateError('KG_ERR_STORE_TIMEOUT'),
      mapError: () => new KeygateError('KG_ERR_STORE_TIMEOUT', 'the store failed'),
      logger: options.logger,
    },
  );
}
