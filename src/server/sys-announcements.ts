import type { Aedes, AedesPublishPacket, Client } from 'aedes';

type Callback = (err?: Error) => void;
type Publish = (
  this: Aedes,
  packet: AedesPublishPacket,
  client: Client | Callback | null,
  done?: Callback,
) => void;

/** What aedes announces about every client under `$SYS/<broker id>/`. */
const CLIENT_ANNOUNCEMENTS = ['new/clients', 'disconnect/clients', 'new/subscribes', 'new/unsubscribes'];

/**
 * aedes announces every client that connects or disconnects, and every SUBSCRIBE and UNSUBSCRIBE (as JSON
 * with the client's ID and its topic filters), by publishing to `$SYS/<broker id>/…` through its whole
 * publish path — a packet, the retained-message step, the message queue's topic match — and, with the
 * Redis persistence, a Redis PUBLISH to every instance (mqemitter-redis). No keygate device can read them:
 * every `$` topic is refused to every device (SPEC, authorization table; [MQTT-4.7.2-1] keeps `#` and `+`
 * off them anyway). keygate's broker therefore drops them before they are published: announcing a CONNECT
 * and its disconnect to nobody was ~4 % of a warm reconnect in bare aedes (perf; docs/BENCHMARKS.md,
 * session 12).
 *
 * Kept: `new/clients` when instances share messages (`sharedAcrossInstances`, the Redis persistence) —
 * aedes' own takeover across instances listens to it (`closeSameClients` in aedes.js: a client ID that
 * connects to one instance is closed on the others [MQTT-3.1.4-2]); and anything else on `$SYS` (aedes'
 * heartbeat, once a minute). Application code that embeds keygate's broker and wants the announcements
 * uses aedes' `client`, `clientDisconnect`, `subscribe` and `unsubscribe` events, which still fire.
 */
export function dropClientAnnouncements(broker: Aedes, sharedAcrossInstances: boolean): void {
  const dropped = new Set(
    CLIENT_ANNOUNCEMENTS.filter((what) => !(sharedAcrossInstances && what === 'new/clients')).map(
      (what) => `$SYS/${broker.id}/${what}`,
    ),
  );
  // aedes' publish takes the publishing client second (a client's PUBLISH, a will) or the callback second
  // (its own announcements); its types declare only the latter.
  const publish = broker.publish as unknown as Publish;
  const publishUnlessUnread: Publish = function (this: Aedes, packet, client, done) {
    if (typeof client === 'function' && dropped.has(packet.topic)) {
      client();
      return;
    }
    publish.call(this, packet, client, done);
  };
  broker.publish = publishUnlessUnread as unknown as Aedes['publish'];
}
