import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer, type IncomingMessage } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { type AddressInfo, createServer, type Server, Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import type { Aedes } from 'aedes';
import type { Logger } from 'pino';
import { createWebSocketStream, WebSocketServer } from 'ws';
import type { Config } from '../config.js';
import { ConnectionList } from './connection-list.js';
import { type DropReason, guardConnection } from './frame-guard.js';

/** The one path MQTT over WebSocket is served on (what mqtt.js, Paho and MQTT.js-based apps use). */
export const WEBSOCKET_PATH = '/mqtt';

/** The addresses of the listeners that are up (ports are the real ones when 0 was asked for). */
export interface ListenerAddresses {
  /** MQTT over TCP (always on). */
  readonly mqtt: AddressInfo;
  /** MQTT over TLS: on when TLS_CERT_FILE and TLS_KEY_FILE are set. */
  readonly mqtts?: AddressInfo;
  /** MQTT over WebSocket on /mqtt: on when WS_PORT is set. */
  readonly ws?: AddressInfo;
  /** MQTT over secure WebSocket on /mqtt: on when WSS_PORT is set (with the TLS files). */
  readonly wss?: AddressInfo;
}

export interface Listeners {
  readonly addresses: ListenerAddresses;
  /**
   * Stops accepting connections at once; resolves when every listener has closed, i.e. once the broker
   * has closed its clients and `dropConnections()` the rest.
   */
  close(): Promise<void>;
  /** Destroys the connections the broker does not know of (no CONNECT yet, or still authenticating). */
  dropConnections(): void;
}

/**
 * Connections the kernel may hold for a listener before it accepts them (Node's default is 511). A fleet
 * reconnecting at once (a broker restart) sends thousands of SYNs within milliseconds; past the backlog the
 * kernel drops them and each client waits for its SYN retransmission (1 s, then 3 s, 7 s...): a restart
 * storm of 10,000 devices took 17-29 s with 511 (issue 7, target 5). Linux caps it at
 * net.core.somaxconn (4096 on current kernels; raise it for bigger fleets, README).
 */
export const LISTEN_BACKLOG = 65_535;

/** Names the setting and the address in a listen failure's message (it keeps its `code`). */
export function listenFailure(
  err: NodeJS.ErrnoException,
  setting: string,
  host: string,
  port: number,
): NodeJS.ErrnoException {
  err.message = `${setting}: cannot listen on ${host}:${port} (${err.code ?? err.message})`;
  return err;
}

/**
 * Listens on `host:port`. A failure (port in use, address not available...) keeps its `code` and names the
 * setting in its message.
 */
export async function listen(
  server: Server,
  port: number,
  host: string,
  setting: string,
): Promise<AddressInfo> {
  server.listen({ port, host, backlog: LISTEN_BACKLOG });
  try {
    await Promise.race([
      once(server, 'listening'),
      once(server, 'error').then(([err]) => Promise.reject(err)),
    ]);
  } catch (err) {
    throw listenFailure(err as NodeJS.ErrnoException, setting, host, port);
  }
  return server.address() as AddressInfo;
}

/** What the listeners report besides logs. */
export interface ListenerEvents {
  /** A connection was closed for a hostile packet or a timeout before its CONNECT. */
  dropped?(reason: DropReason): void;
}

/** Certificate, key and (optionally) the CA client certificates must chain to. */
function tlsOptions(config: Config): TlsOptions {
  const ca = config.tlsCaFile === undefined ? undefined : readFileSync(config.tlsCaFile);
  return {
    cert: readFileSync(config.tlsCertFile as string),
    key: readFileSync(config.tlsKeyFile as string),
    // A TLS handshake counts against the CONNECT's deadline: a client that never finishes it is closed.
    handshakeTimeout: config.connectTimeoutMs,
    // With a CA: clients must present a certificate it signed, or the handshake fails.
    ...(ca === undefined ? {} : { ca, requestCert: true, rejectUnauthorized: true }),
  };
}

/** Answers an upgrade (or a request) that is not MQTT over WebSocket on /mqtt, and closes the socket. */
function refuseUpgrade(socket: Duplex, status: 404 | 503, reason: string): void {
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${reason.length}\r\n\r\n${reason}`,
    );
  }
  socket.destroy();
}

/** `host:port` of a socket, for logs. */
function peerOf(socket: unknown): string | undefined {
  const peer = socket as { remoteAddress?: string; remotePort?: number } | undefined;
  if (peer?.remoteAddress === undefined) return undefined;
  return `${peer.remoteAddress}:${peer.remotePort}`;
}

function pathOf(req: IncomingMessage): string {
  const url = req.url ?? '';
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * An HTTP(S) server that only upgrades `GET /mqtt` to a WebSocket carrying MQTT; anything else is a 404.
 * Authentication and authorization are the broker's, as on every transport.
 */
function webSocketServer(
  handle: (conn: Duplex, req: IncomingMessage) => void,
  server: HttpServer,
  logger: Logger,
  transport: string,
  isClosing: () => boolean,
  config: Config,
  events: ListenerEvents,
): WebSocketServer {
  const wss = new WebSocketServer({
    noServer: true,
    clientTracking: false,
    // ws buffers a whole message before handing it on: no message may be larger than the largest packet
    // allowed (with its fixed header, at most 5 bytes [MQTT-2.2.3]). The default would be 100 MiB.
    maxPayload: Math.max(config.maxConnectBytes, config.maxPacketBytes) + 5,
  });
  wss.on('error', (err) => logger.warn({ transport, err: err.message }, 'WebSocket server error'));
  server.on('request', (_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain', connection: 'close' });
    res.end(`MQTT over WebSocket is on ${WEBSOCKET_PATH}\n`);
  });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (isClosing()) return refuseUpgrade(socket, 503, 'Service Unavailable');
    if (pathOf(req) !== WEBSOCKET_PATH) return refuseUpgrade(socket, 404, 'Not Found');
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', (err: Error & { code?: string }) => {
        if (err.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
          // A WebSocket message over maxPayload: ws closes the connection (1009) without buffering it.
          logger.info(
            { transport, address: peerOf(req.socket), reason: 'packet-too-large' },
            'connection dropped',
          );
          events.dropped?.('packet-too-large');
          return;
        }
        logger.debug({ transport, err: err.message }, 'WebSocket error');
      });
      // aedes keeps `req` as client.req: the client's address is found there (client-address.ts).
      handle(createWebSocketStream(ws), req);
    });
  });
  return wss;
}

/**
 * Starts the MQTT listeners in front of `broker`, all on MQTT_HOST: TCP always; TLS when a certificate is
 * configured; WebSocket and secure WebSocket when their ports are set. Every transport goes through
 * `broker.handle`, hence through the same authentication and authorization.
 */
export async function startListeners(
  broker: Aedes,
  config: Config,
  logger: Logger,
  events: ListenerEvents = {},
): Promise<Listeners> {
  const servers: Server[] = [];
  const sockets = new ConnectionList();
  const webSockets: WebSocketServer[] = [];
  let closing = false;
  const track = (server: Server): void => {
    servers.push(server);
    server.on('connection', (socket: Socket) => sockets.add(socket));
  };
  const closeAll = (): Promise<void> => {
    closing = true;
    for (const wss of webSockets) wss.close();
    return Promise.all(
      servers.map(
        (server) =>
          new Promise<void>((resolve) => {
            if (!server.listening) return resolve();
            server.close(() => resolve());
          }),
      ),
    ).then(() => {});
  };
  const host = config.mqttHost;
  const tls = config.tlsCertFile !== undefined && config.tlsKeyFile !== undefined;
  // A TLS handshake that times out is a connection dropped before its CONNECT; other TLS errors are noise.
  const tlsError =
    (transport: string) =>
    (err: Error & { code?: string }, socket: Duplex): void => {
      if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT') {
        // Node reports the timeout but leaves the socket open when 'tlsClientError' has a listener.
        const address = peerOf(socket); // before destroy(): a destroyed socket forgets its peer
        socket.destroy();
        logger.info({ transport, address, reason: 'connect-timeout' }, 'connection dropped');
        events.dropped?.('connect-timeout');
        return;
      }
      logger.debug({ transport, err: err.message }, 'TLS error');
    };
  // Every MQTT stream goes through the frame guard before aedes reads a byte of it. One options object for
  // all (nothing per connection but the guard's own state: heap per connection is a target).
  const upgrades = new WeakMap<Duplex, IncomingMessage>();
  const guardOptions = {
    maxConnectBytes: config.maxConnectBytes,
    maxPacketBytes: config.maxPacketBytes,
    onDrop(reason: DropReason, conn: Duplex) {
      // The address (read before the guard destroys the stream) and the reason; never the bytes.
      const address = peerOf(
        (conn as Socket).remoteAddress !== undefined ? conn : upgrades.get(conn)?.socket,
      );
      logger.info({ address, reason }, 'connection dropped');
      events.dropped?.(reason);
    },
  };
  const handle = (conn: Duplex, req?: IncomingMessage): void => {
    // The peer's address is read when something needs it — a log line, the throttle — while the
    // connection is open (a destroyed socket no longer knows it): not here, where it would cost every
    // CONNECT a getpeername(2) (issue 7, target 3). Over WebSocket the stream has none: the upgrade
    // request's socket has it.
    if (!(conn instanceof Socket) && req !== undefined) upgrades.set(conn, req);
    guardConnection(conn, guardOptions);
    broker.handle(conn as never, req as never);
  };
  // An HTTP(S) server answers or upgrades a request within the CONNECT's deadline.
  const httpTimeouts = {
    headersTimeout: config.connectTimeoutMs,
    requestTimeout: config.connectTimeoutMs,
    connectionsCheckingInterval: Math.min(1000, config.connectTimeoutMs),
  };

  try {
    // Tracked before it is handled: the socket gets the list's fields and then the guard's before aedes
    // and Node's stream code first see it, so it reaches them in one shape (hidden class) instead of two.
    // Two shapes per connection made property reads in Node's shared stream code (isReadableNodeStream,
    // eos...) megamorphic: ~7,000 instructions more per warm CONNECT (callgrind, issue 7 target 3;
    // docs/BENCHMARKS.md, session 11).
    const tcp = createServer();
    track(tcp);
    tcp.on('connection', handle);
    const mqtt = await listen(tcp, config.mqttPort, host, 'MQTT_PORT');
    logger.info(
      { host: mqtt.address, port: mqtt.port, topicRoot: config.topicRoot, prefix: config.prefix },
      'MQTT listener up',
    );

    let mqtts: AddressInfo | undefined;
    if (tls) {
      const server = createTlsServer(tlsOptions(config), handle);
      server.on('tlsClientError', tlsError('mqtts'));
      track(server);
      mqtts = await listen(server, config.mqttsPort, host, 'MQTTS_PORT');
      logger.info(
        { host: mqtts.address, port: mqtts.port, clientCertificates: config.tlsCaFile !== undefined },
        'MQTT over TLS listener up',
      );
    }

    let ws: AddressInfo | undefined;
    if (config.wsPort !== undefined) {
      const server = createHttpServer(httpTimeouts);
      webSockets.push(webSocketServer(handle, server, logger, 'ws', () => closing, config, events));
      track(server);
      ws = await listen(server, config.wsPort, host, 'WS_PORT');
      logger.info(
        { host: ws.address, port: ws.port, path: WEBSOCKET_PATH },
        'MQTT over WebSocket listener up',
      );
    }

    let wss: AddressInfo | undefined;
    if (config.wssPort !== undefined && tls) {
      const server = createHttpsServer({ ...tlsOptions(config), ...httpTimeouts });
      server.on('tlsClientError', tlsError('wss'));
      webSockets.push(webSocketServer(handle, server, logger, 'wss', () => closing, config, events));
      track(server);
      wss = await listen(server, config.wssPort, host, 'WSS_PORT');
      logger.info(
        {
          host: wss.address,
          port: wss.port,
          path: WEBSOCKET_PATH,
          clientCertificates: config.tlsCaFile !== undefined,
        },
        'MQTT over secure WebSocket listener up',
      );
    }

    return {
      addresses: { mqtt, mqtts, ws, wss },
      close: closeAll,
      dropConnections() {
        sockets.destroyAll();
      },
    };
  } catch (err) {
    const closed = closeAll();
    sockets.destroyAll();
    await closed;
    throw err;
  }
}
