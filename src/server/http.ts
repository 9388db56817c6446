import type { AddressInfo } from 'node:net';
import { MessageChannel, Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { PrometheusMetrics } from '../metrics.js';
import { LISTEN_BACKLOG, listenFailure } from './listeners.js';

/** Whether the broker should receive traffic; `reason` says why not. */
export type Readiness = { readonly ready: true } | { readonly ready: false; readonly reason: string };

export interface HttpEndpointsOptions {
  readonly host: string;
  readonly port: number;
  readonly metrics: PrometheusMetrics;
  /** Asked at every /readyz. */
  readonly readiness: () => Readiness;
  readonly logger: Logger;
  /** How long a request waits for this thread's answer before it is a 503 "unresponsive" (default 5 s). */
  readonly answerTimeoutMs?: number;
  /** The worker's script (default ./http-worker.mjs): tests give one that dies, to see what happens then. */
  readonly workerUrl?: URL;
}

export interface HttpEndpoints {
  readonly address: AddressInfo;
  /** Stops accepting; lets requests in progress finish (at most `graceMs`), closes idle keep-alives at once. */
  close(graceMs?: number): Promise<void>;
}

/** The endpoints a request may ask this thread about (the worker answers anything else itself). */
type Endpoint = '/healthz' | '/readyz' | '/metrics';

/** Messages from the HTTP worker (src/server/http-worker.mjs). */
type FromWorker =
  | { readonly type: 'listening'; readonly address: AddressInfo }
  | { readonly type: 'failed'; readonly code?: string; readonly message: string }
  | { readonly type: 'ask'; readonly id: number; readonly path: Endpoint }
  | { readonly type: 'closed' };

interface Answer {
  readonly status: number;
  readonly body: string;
  readonly contentType: string;
}

const json = (status: number, body: object): Answer => ({
  status,
  body: `${JSON.stringify(body)}\n`,
  contentType: 'application/json',
});

/**
 * The operations endpoints (HTTP_PORT): `/healthz` (200 while the broker's event loop answers), `/readyz`
 * (200 when Redis answers and the listeners are up, else 503 with the reason), `/metrics` (Prometheus text).
 * GET and HEAD only; anything else is 404 or 405.
 *
 * The HTTP server runs in a worker thread (why: src/server/http-worker.mjs); this thread answers what it asks
 * over a MessagePort — an EventTarget, so not even the event-emitter code of the MQTT path sees its messages.
 */
export async function startHttpEndpoints(options: HttpEndpointsOptions): Promise<HttpEndpoints> {
  const { metrics, readiness, logger } = options;
  const answer = async (path: Endpoint): Promise<Answer> => {
    if (path === '/healthz') return json(200, { status: 'ok' });
    if (path === '/readyz') {
      const state = readiness();
      return state.ready
        ? json(200, { status: 'ready' })
        : json(503, { status: 'not ready', reason: state.reason });
    }
    return { status: 200, body: await metrics.text(), contentType: metrics.contentType };
  };

  const { port1: port, port2 } = new MessageChannel();
  const worker = new Worker(options.workerUrl ?? new URL('./http-worker.mjs', import.meta.url), {
    workerData: {
      host: options.host,
      port: options.port,
      backlog: LISTEN_BACKLOG,
      answerTimeoutMs: options.answerTimeoutMs ?? 5000,
      channel: port2,
    },
    transferList: [port2],
    // No resourceLimits: a worker that reaches a heap limit inside native code (writing a large response)
    // takes the whole process down with "FATAL ERROR: Reached heap limit", not just itself (tried: 32 MB).
  });

  let closing: Promise<void> | undefined;
  let closed: (() => void) | undefined;
  let exited = false;
  let started: { resolve(address: AddressInfo): void; reject(err: Error): void } | undefined;
  const listening = new Promise<AddressInfo>((resolve, reject) => {
    started = { resolve, reject };
  });
  const onMessage = (message: FromWorker): void => {
    switch (message.type) {
      case 'ask':
        answer(message.path)
          .catch((err: Error) => {
            logger.warn({ err: err.message, path: message.path }, 'HTTP endpoint failed');
            return json(500, { error: 'internal error' });
          })
          .then((reply) => port.postMessage({ type: 'answer', id: message.id, ...reply }));
        return;
      case 'listening':
        started?.resolve(message.address);
        return;
      case 'failed': {
        const error: NodeJS.ErrnoException = new Error(message.message);
        if (message.code !== undefined) error.code = message.code;
        started?.reject(listenFailure(error, 'HTTP_PORT', options.host, options.port));
        return;
      }
      case 'closed':
        closed?.();
        return;
    }
  };
  port.on('message', onMessage);
  // A worker that throws emits 'error', then 'exit' (code 1): logged once, at 'exit', with the error's message.
  let failure: string | undefined;
  worker.once('error', (err) => {
    failure = err.message;
    started?.reject(err);
  });
  worker.once('exit', (code) => {
    exited = true;
    if (started === undefined && closing === undefined) {
      logger.error(
        failure === undefined ? { code } : { code, err: failure },
        'HTTP worker exited: /healthz, /readyz and /metrics no longer answer',
      );
    }
    started?.reject(new Error(`HTTP_PORT: the HTTP worker exited (code ${code})`));
    closed?.();
    port.close();
  });

  let address: AddressInfo;
  try {
    address = await listening;
  } catch (err) {
    await worker.terminate();
    throw err;
  }
  started = undefined;
  logger.info(
    { host: address.address, port: address.port },
    'HTTP listener up (/healthz, /readyz, /metrics)',
  );

  return {
    address,
    close(graceMs = 1000) {
      closing ??= exited
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            closed = resolve;
            port.postMessage({ type: 'close', graceMs });
          }).then(() => worker.terminate().then(() => undefined));
      return closing;
    },
  };
}
