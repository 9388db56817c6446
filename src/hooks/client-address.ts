import type { Client } from 'aedes';

/** The peer's address as `host:port`, for logs. */
export function clientAddress(client: Client | null): string | undefined {
  const conn = client?.conn as { remoteAddress?: string; remotePort?: number } | undefined;
  if (conn?.remoteAddress === undefined) return undefined;
  return conn.remotePort === undefined ? conn.remoteAddress : `${conn.remoteAddress}:${conn.remotePort}`;
}
