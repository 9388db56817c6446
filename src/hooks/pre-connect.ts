import type { Client, ConnectPacket } from 'aedes';
import type { SessionRegistry } from './sessions.js';

/**
 * Aedes' `preConnect` hook: keeps what `authenticate` needs but cannot see. A refusal here would close
 * the socket without a CONNACK, so the decision is left to `authenticate`, which can answer with a code.
 */
export function createPreConnect(sessions: SessionRegistry) {
  return function preConnect(
    client: Client,
    packet: ConnectPacket,
    callback: (error: Error | null, success: boolean) => void,
  ): void {
    sessions.rememberConnect(client, {
      rawClientId: typeof packet.clientId === 'string' ? packet.clientId : '',
      will: packet.will,
    });
    callback(null, true);
  };
}
