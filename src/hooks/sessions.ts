import type { Client, ConnectPacket } from 'aedes';

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
  /** `<root>/<deviceId>/`: the device's own topics. */
  readonly ownPrefix: string;
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
