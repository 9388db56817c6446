import type { Client, ConnectPacket } from 'aedes';
import type { Principal } from '../policy/authorization.js';

/** What keygate needs about a CONNECT before `authenticate` runs (Aedes has rewritten some of it by then). */
export interface ConnectInfo {
  /** The client ID exactly as sent: Aedes replaces an empty one with `aedes_<uuid>` before `authenticate`. */
  readonly rawClientId: string;
  /** The will, which is not yet on the client at `authenticate` time. */
  readonly will: ConnectPacket['will'];
}

/** A client that passed `authenticate`. */
export interface Session {
  readonly deviceId: string;
  readonly accessKey: string;
  /** The device and key records its authorization is decided on. */
  readonly principal: Principal;
  /**
   * Per-delivery memo: device ID → what this session may see of that device (bits, see DeliveryGuard),
   * valid while the device directory's generation equals `memoGeneration`.
   */
  memo: Map<string, number>;
  memoGeneration: number;
}

/** Per-client state, keyed by the client object so that nothing outlives the connection. */
export class SessionRegistry {
  private readonly connects = new WeakMap<Client, ConnectInfo>();
  private readonly sessions = new WeakMap<Client, Session>();

  rememberConnect(client: Client, info: ConnectInfo): void {
    this.connects.set(client, info);
  }

  takeConnect(client: Client): ConnectInfo | undefined {
    const info = this.connects.get(client);
    this.connects.delete(client);
    return info;
  }

  open(client: Client, session: Session): void {
    this.sessions.set(client, session);
  }

  get(client: Client | null): Session | undefined {
    return client === null ? undefined : this.sessions.get(client);
  }
}
