import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { PrometheusMetrics } from '../metrics.js';
import { listen } from './listeners.js';

/** Whether the broker should receive traffic; `reason` says why not. */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

export interface HttpEndpointsOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: PrometheusMetrics;
  /** Asked at every /readyz. */
  readonly readiness: () => Readiness;
  readonly logger: Logger;
}

export interface HttpEndpoints {
  readonly address: AddressInfo;
  /** Stops accepting; lets requests in progress finish (at most `graceMs`), closes idle keep-alives at once. */
  close(graceMs?: number): Promise<void>;
}

function send(res: ServerResponse, status: number, body: string, contentType: string): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

const json = (res: ServerResponse, status: number, body: object): void =>
  send(res, status, `${JSON.stringify(body)}\n`, 'application/json');

/**
 * The operations endpoints (HTTP_PORT): `/healthz` (200 while the process runs), `/readyz` (200 when Redis
 * answers and the listeners are up, else 503 with the reason), `/metrics` (Prometheus text). GET and HEAD
 * only; anything else is 404 or 405.
 */
export async function startHttpEndpoints(options: HttpEndpointsOptions): Promise<HttpEndpoints> {
  const { metrics, readiness, logger } = options;
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    if (path !== '/healthz' && path !== '/readyz' && path !== '/metrics') {
      json(res, 404, { error: 'not found', endpoints: ['/healthz', '/readyz', '/metrics'] });
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      json(res, 405, { error: 'method not allowed' });
      return;
    }
    if (path === '/healthz') {
      json(res, 200, { status: 'ok' });
    } else if (path === '/readyz') {
      const state = readiness();
      if (state.ready) json(res, 200, { status: 'ready' });
      else json(res, 503, { status: 'not ready', reason: state.reason });
    } else {
      send(res, 200, await metrics.text(), metrics.contentType);
    }
  };
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: Error) => {
      logger.warn({ err: err.message, path: req.url?.slice(0, 64) }, 'HTTP endpoint failed');
      if (!res.headersSent) json(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  });
  // A scrape or a probe is small and quick: slow clients are cut off.
  server.headersTimeout = 10_000;
  server.requestTimeout = 10_000;
  const address = await listen(server, options.port, options.host, 'HTTP_PORT');
  logger.info(
    { host: address.address, port: address.port },
    'HTTP listener up (/healthz, /readyz, /metrics)',
  );

  let closing: Promise<void> | undefined;
  return {
    address,
    close(graceMs = 1000) {
      closing ??= new Promise<void>((resolve) => {
        const force = setTimeout(() => server.closeAllConnections(), graceMs);
        force.unref();
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
