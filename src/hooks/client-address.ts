import type { Client } from 'aedes';

interface Peer {
  readonly remoteAddress?: string | undefined;
  readonly remotePort?: number | undefined;
}

/**
 * The peer's address as `host:port`, for logs. Over TCP and TLS the connection is the socket itself; over
 * WebSocket it is a stream wrapping the socket, which is found on the HTTP upgrade request aedes keeps as
 * `client.req`. (Forwarding headers such as X-Forwarded-For are not trusted: any client can set them.)
 */
export function clientAddress(client: Client | null): string | undefined {
  if (client === null || client === undefined) return undefined;
  const conn = client.conn as Peer | undefined;
  const peer: Peer | undefined =
    conn?.remoteAddress !== undefined ? conn : (client.req?.socket as Peer | undefined);
  if (peer?.remoteAddress === undefined) return undefined;
  return peer.remotePort === undefined ? peer.remoteAddress : `${peer.remoteAddress}:${peer.remotePort}`;
}

/** The peer's IP address alone (no port), as the brute-force throttle counts it; undefined when unknown. */
export function clientIp(client: Client | null): string | undefined {
  if (client === null || client === undefined) return undefined;
  const conn = client.conn as Peer | undefined;
  const peer: Peer | undefined =
    conn?.remoteAddress !== undefined ? conn : (client.req?.socket as Peer | undefined);
  const ip = peer?.remoteAddress;
  // An IPv4 peer on a dual-stack listener shows as ::ffff:a.b.c.d: count it as a.b.c.d.
  return ip?.startsWith('::ffff:') && ip.includes('.') ? ip.slice(7) : ip;
}

/**
 * Whether the connection under `client` is already destroyed (its peer address can no longer be read):
 * the TCP or TLS socket, or for WebSocket the stream and the upgrade request's socket.
 */
export function connectionGone(client: Client): boolean {
  const conn = client.conn as { destroyed?: boolean } | undefined;
  const socket = client.req?.socket as { destroyed?: boolean } | undefined;
  return conn?.destroyed === true || socket?.destroyed === true;
}
