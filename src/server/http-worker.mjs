// Runs in a worker thread: the HTTP server of keygate's operations endpoints (/healthz, /readyz, /metrics on
// HTTP_PORT). The answers come from the broker's thread, which owns the counters and the readiness state: each
// request is one message there and one back (src/server/http.ts).
//
// Why a thread of its own: HTTP's sockets, IncomingMessage and ServerResponse run through the same stream and
// event code as the MQTT sockets. Served from the broker's thread, the first /metrics request de-optimised ~45
// functions of that code on the MQTT path (Readable.on, Writable.write, EventEmitter.emit...: "wrong map"), a
// lasting cost of ~4-5 % on warm CONNECTs (docs/BENCHMARKS.md, issue 7). A worker has a V8 isolate, and so type
// feedback, of its own.
//
// Plain JavaScript so the same file serves the TypeScript sources (tests) and dist/ (copied by `npm run build`).
import { createServer } from 'node:http';
import { workerData } from 'node:worker_threads';

/** @type {{ host: string, port: number, backlog: number, answerTimeoutMs: number, channel: import('node:worker_threads').MessagePort }} */
const { host, port, backlog, answerTimeoutMs, channel } = workerData;
const ENDPOINTS = ['/healthz', '/readyz', '/metrics'];

/** Requests waiting for the broker's thread, by id. */
const waiting = new Map();
let nextId = 1;

/**
 * @param {import('node:http').ServerResponse} res
 * @param {number} status
 * @param {string} body
 * @param {string} contentType
 */
function send(res, status, body, contentType) {
  // The client may have gone (or been cut off by requestTimeout) while the broker's thread answered.
  if (res.destroyed || res.writableEnded) return;
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  res.end(body);
}

/** @param {import('node:http').ServerResponse} res @param {number} status @param {object} body */
const json = (res, status, body) => send(res, status, `${JSON.stringify(body)}\n`, 'application/json');

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  if (!ENDPOINTS.includes(path)) {
    json(res, 404, { error: 'not found', endpoints: ENDPOINTS });
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    json(res, 405, { error: 'method not allowed' });
    return;
  }
  const id = nextId++;
  // A broker thread that does not answer in time is not alive: /healthz fails too, so a liveness probe
  // restarts a process whose event loop is stuck (as it would if this server ran on that loop).
  const timer = setTimeout(() => {
    waiting.delete(id);
    json(res, 503, {
      status: 'unresponsive',
      reason: `the broker did not answer within ${answerTimeoutMs} ms`,
    });
  }, answerTimeoutMs);
  waiting.set(id, { res, timer });
  channel.postMessage({ type: 'ask', id, path });
});
// A scrape or a probe is small and quick: slow clients are cut off.
server.headersTimeout = 10_000;
server.requestTimeout = 10_000;

/** Stops accepting; lets requests in progress finish (at most `graceMs`), closes idle keep-alives at once. */
function close(graceMs) {
  const force = setTimeout(() => server.closeAllConnections(), graceMs);
  force.unref();
  server.close(() => {
    clearTimeout(force);
    channel.postMessage({ type: 'closed' });
    channel.close();
  });
  server.closeIdleConnections();
}

channel.on('message', (message) => {
  if (message.type === 'answer') {
    const request = waiting.get(message.id);
    if (request === undefined) return; // answered 503 already
    waiting.delete(message.id);
    clearTimeout(request.timer);
    send(request.res, message.status, message.body, message.contentType);
  } else if (message.type === 'close') {
    close(message.graceMs);
  }
});

server.once('error', (err) => {
  channel.postMessage({ type: 'failed', code: err.code, message: err.message });
  channel.close();
});
server.listen({ port, host, backlog }, () => {
  channel.postMessage({ type: 'listening', address: server.address() });
});
