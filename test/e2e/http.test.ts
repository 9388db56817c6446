import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { createServer, connect as netConnect } from 'node:net';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createMetrics } from '../../src/metrics.js';
import { type HttpEndpoints, type Readiness, startHttpEndpoints } from '../../src/server/http.js';
import {
  captureLogs,
  closed,
  connackOf,
  connect,
  redisUrl,
  Seeder,
  startTestBroker,
  subackCodes,
  type TestBroker,
  uniquePrefix,
} from '../support/harness.js';
import { freePort } from '../support/redis-server.js';

interface Reply {
  readonly status: number;
  readonly type: string | null;
  readonly body: string;
}

/** One HTTP request to the endpoints listening on `port` (loopback). */
async function fetchReply(port: number, path: string, init: RequestInit = {}): Promise<Reply> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, init);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

function get(broker: TestBroker, path: string, init: RequestInit = {}): Promise<Reply> {
  return fetchReply(broker.running.http.port, path, init);
}

/** Polls `path` until it answers `status` (Redis connects asynchronously). */
async function until(broker: TestBroker, path: string, status: number, ms = 5000): Promise<Reply> {
  const deadline = Date.now() + ms;
  for (;;) {
    const reply = await get(broker, path);
    if (reply.status === status || Date.now() > deadline) return reply;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The value of one sample of the Prometheus text, e.g. `keygate_connects_total{code="4"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('HTTP endpoints', () => {
  let broker: TestBroker;

  beforeAll(async () => {
    broker = await startTestBroker();
  });

  afterAll(async () => {
    await broker?.close();
  });

  it('/healthz answers 200 while the broker answers', async () => {
    const reply = await get(broker, '/healthz');
    expect(reply).toMatchObject({ status: 200, type: 'application/json' });
    expect(JSON.parse(reply.body)).toEqual({ status: 'ok' });
    expect((await get(broker, '/healthz?probe=1')).status).toBe(200);
  });

  it('/readyz answers 200 once Redis is reachable and the listeners are up', async () => {
    const reply = await until(broker, '/readyz', 200);
    expect(reply.status).toBe(200);
    expect(JSON.parse(reply.body)).toEqual({ status: 'ready' });
  });

  it('unknown paths are 404, other methods 405', async () => {
    expect((await get(broker, '/')).status).toBe(404);
    expect((await get(broker, '/metrics/x')).status).toBe(404);
    expect((await get(broker, '/healthz', { method: 'POST' })).status).toBe(405);
    expect((await get(broker, '/metrics', { method: 'HEAD' })).status).toBe(200);
  });
});

describe('/readyz', () => {
  it('is 503 with the reason while Redis is unreachable; /healthz stays 200', async () => {
    const broker = await startTestBroker({ redisUrl: `redis://127.0.0.1:${await freePort()}` });
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      const reply = await get(broker, '/readyz');
      expect(reply.status).toBe(503);
      expect(JSON.parse(reply.body)).toMatchObject({
        status: 'not ready',
        reason: expect.stringMatching(/Redis/),
      });
      expect((await get(broker, '/healthz')).status).toBe(200);
    } finally {
      await broker.close();
    }
  });

  it('turns 503 as soon as shutdown starts', async () => {
    const broker = await startTestBroker();
    expect((await until(broker, '/readyz', 200)).status).toBe(200);
    // A connection opened before the shutdown: the HTTP endpoints answer until everything else is closed.
    const socket = netConnect(broker.running.http.port, '127.0.0.1');
    await once(socket, 'connect');
    let response = '';
    socket.on('data', (chunk: Buffer) => {
      response += chunk.toString();
    });
    const closing = broker.close();
    expect(broker.running.readiness()).toEqual({ ready: false, reason: 'shutting down' });
    socket.write('GET /readyz HTTP/1.1\r\nHost: keygate\r\nConnection: close\r\n\r\n');
    await Promise.race([once(socket, 'end'), once(socket, 'close')]);
    await closing;
    expect(response).toMatch(/^HTTP\/1\.1 503 /);
    expect(response).toContain('"reason":"shutting down"');
  });
});

describe('/metrics', () => {
  const prefix = uniquePrefix();
  const key = `metrics-key-${randomBytes(4).toString('hex')}`;
  const scopedKey = `scoped-key-${randomBytes(4).toString('hex')}`;
  const secret = `metrics-secret-${randomBytes(8).toString('hex')}`;
  let broker: TestBroker;
  let seed: Seeder;

  beforeAll(async () => {
    seed = new Seeder(prefix);
    await seed.device('m-dev-1');
    await seed.device('m-dev-2');
    await seed.device('m-watcher');
    await seed.key(key, secret);
    await seed.key(scopedKey, secret, { restrictions: 'm-watcher,m-dev-1' });
    broker = await startTestBroker({ prefix });
    await until(broker, '/readyz', 200);
  });

  afterAll(async () => {
    await broker?.close();
    await seed?.close();
  });

  it('counts CONNECTs by return code, in the Prometheus text format', async () => {
    expect(await connackOf(broker.port, { clientId: 'm-dev-1', username: key, password: 'wrong' })).toBe(4);
    expect(await connackOf(broker.port, { clientId: 'm-dev-1', username: key, password: secret })).toBe(0);
    expect(await connackOf(broker.port, { clientId: 'nobody', username: key, password: secret })).toBe(5);
    const reply = await get(broker, '/metrics');
    expect(reply.status).toBe(200);
    expect(reply.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(reply.body).toContain('keygate_connects_total{code="4"} 1');
    expect(sample(reply.body, 'keygate_connects_total{code="0"}')).toBe(1);
    expect(sample(reply.body, 'keygate_connects_total{code="5"}')).toBe(1);
    expect(sample(reply.body, 'keygate_connects_total{code="2"}')).toBe(0);
    // The second right secret is recognised by the verified-credential cache: no second bcrypt.
    expect(sample(reply.body, 'keygate_bcrypt_verifications_total{result="match"}')).toBe(1);
    expect(sample(reply.body, 'keygate_bcrypt_verifications_total{result="mismatch"}')).toBe(1);
    expect(sample(reply.body, 'keygate_bcrypt_verification_seconds_count')).toBe(2);
    expect(sample(reply.body, 'keygate_credential_cache_hits_total')).toBe(1);
    // prom-client's process metrics.
    expect(reply.body).toContain('process_cpu_user_seconds_total');
    expect(reply.body).toContain('nodejs_eventloop_lag_seconds');
  });

  it('counts refusals by reason, filtered deliveries, connected clients and revocations', async () => {
    const watcher = await connect(broker.port, {
      clientId: 'm-watcher',
      username: scopedKey,
      password: secret,
    });
    const publisher = await connect(broker.port, { clientId: 'm-dev-2', username: key, password: secret });
    expect(watcher.returnCode).toBe(0);
    expect(publisher.returnCode).toBe(0);
    expect(sample((await get(broker, '/metrics')).body, 'keygate_connected_clients')).toBe(2);

    // Refused subscriptions: reserved, and a device topic outside the key's scope.
    expect(await subackCodes(watcher.client, ['$SYS/#', 'losant/m-dev-2/state', 'losant/+/state'])).toEqual([
      0x80, 0x80, 0,
    ]);
    // m-dev-2 is outside the watcher's scope: its state reaches the wildcard and is filtered per delivery.
    await publisher.client.publishAsync('losant/m-dev-2/state', 'x');
    await publisher.client.publishAsync('losant/m-dev-2/state', 'y', { qos: 1 });
    // A refused publish (another device's topic) closes the publisher.
    publisher.client.publish('losant/m-dev-1/state', 'not yours');
    await closed(publisher.client);

    // The watcher's key is deactivated: a revocation.
    await seed.redis.hset(`${prefix}key:${scopedKey}`, 'status', 'inactive');
    await closed(watcher.client);
    watcher.client.end(true);
    publisher.client.end(true);

    let text = '';
    const deadline = Date.now() + 5000;
    do {
      text = (await get(broker, '/metrics')).body;
      if (sample(text, 'keygate_revocations_total{code="KG_ERR_KEY_INACTIVE"}') === 1) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    } while (Date.now() < deadline);

    expect(sample(text, 'keygate_refusals_total{action="subscribe",reason="reserved"}')).toBe(1);
    expect(sample(text, 'keygate_refusals_total{action="subscribe",reason="out-of-scope"}')).toBe(1);
    expect(sample(text, 'keygate_refusals_total{action="publish",reason="not-controlled"}')).toBe(1);
    expect(sample(text, 'keygate_deliveries_filtered_total')).toBe(2);
    expect(sample(text, 'keygate_revocations_total{code="KG_ERR_KEY_INACTIVE"}')).toBe(1);
    expect(sample(text, 'keygate_revocation_latency_seconds_count')).toBe(1);
    expect(sample(text, 'keygate_connected_clients')).toBe(0);
  });

  it('never carries a secret, an access key, a device ID or a topic', async () => {
    const { body } = await get(broker, '/metrics');
    for (const secretOrId of [secret, key, scopedKey, 'm-dev-1', 'm-dev-2', 'm-watcher', 'losant/']) {
      expect(body).not.toContain(secretOrId);
    }
  });

  it('counts Redis errors', async () => {
    const down = await startTestBroker({ redisUrl: `redis://127.0.0.1:${await freePort()}` });
    try {
      let errors: number | undefined;
      const deadline = Date.now() + 5000;
      while (!(errors !== undefined && errors > 0) && Date.now() < deadline) {
        errors = sample((await get(down, '/metrics')).body, 'keygate_redis_errors_total');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(errors).toBeGreaterThan(0);
      expect(sample((await get(broker, '/metrics')).body, 'keygate_redis_errors_total')).toBe(0);
    } finally {
      await down.close();
    }
  });
});

describe('the HTTP server thread', () => {
  // The HTTP server runs in a worker thread and asks the broker's thread for every answer
  // (src/server/http-worker.mjs says why).
  let endpoints: HttpEndpoints | undefined;

  afterEach(async () => {
    await endpoints?.close();
    endpoints = undefined;
  });

  const start = (
    readiness: () => Readiness,
    {
      port = 0,
      answerTimeoutMs = 5000,
      workerUrl,
    }: { port?: number; answerTimeoutMs?: number; workerUrl?: URL } = {},
  ) => {
    const { stream, capture } = captureLogs();
    const metrics = createMetrics({ defaultMetrics: false });
    const logger = pino({ level: 'info' }, stream);
    return {
      capture,
      metrics,
      started: startHttpEndpoints({
        host: '127.0.0.1',
        port,
        metrics,
        readiness,
        logger,
        answerTimeoutMs,
        ...(workerUrl === undefined ? {} : { workerUrl }),
      }),
    };
  };
  it('answers 503 "unresponsive" while the broker thread is stuck, then 200 again once it answers', async () => {
    let stuckMs = 0;
    const { started } = start(
      () => {
        // A broker thread whose event loop is stuck: the worker's deadline passes first.
        const until = Date.now() + stuckMs;
        while (Date.now() < until);
        return { ready: true };
      },
      { answerTimeoutMs: 200 },
    );
    endpoints = await started;
    stuckMs = 700;
    const stuck = await fetchReply(endpoints.address.port, '/readyz');
    expect(stuck.status).toBe(503);
    expect(JSON.parse(stuck.body)).toEqual({
      status: 'unresponsive',
      reason: 'the broker did not answer within 200 ms',
    });
    stuckMs = 0;
    // The late answer to the first request is dropped; the next requests are answered as usual.
    expect(await fetchReply(endpoints.address.port, '/readyz')).toEqual({
      status: 200,
      type: 'application/json',
      body: '{"status":"ready"}\n',
    });
    expect((await fetchReply(endpoints.address.port, '/healthz')).status).toBe(200);
  });

  it('a /metrics that fails is a 500, logged without the details leaving the process', async () => {
    const { started, metrics, capture } = start(() => ({ ready: true }));
    metrics.text = () => Promise.reject(new Error('registry broken'));
    endpoints = await started;
    expect(await fetchReply(endpoints.address.port, '/metrics')).toEqual({
      status: 500,
      type: 'application/json',
      body: '{"error":"internal error"}\n',
    });
    expect(capture.records()).toContainEqual(
      expect.objectContaining({ msg: 'HTTP endpoint failed', err: 'registry broken', path: '/metrics' }),
    );
  });

  it('HTTP_PORT taken: start-up fails with the setting, the address and the error code', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as { port: number };
    try {
      const { started } = start(() => ({ ready: true }), { port });
      await expect(started).rejects.toMatchObject({
        code: 'EADDRINUSE',
        message: `HTTP_PORT: cannot listen on 127.0.0.1:${port} (EADDRINUSE)`,
      });
    } finally {
      taken.close();
    }
  });

  it.each([
    { dies: 'exits (code 3)', script: 'dying-http-worker.mjs', logged: { code: 3 } },
    { dies: 'throws', script: 'throwing-http-worker.mjs', logged: { code: 1, err: 'worker bug' } },
  ])(
    'a worker that $dies after listening is logged at error once, and close() still resolves',
    async ({ script, logged }) => {
      const { started, capture } = start(() => ({ ready: true }), {
        workerUrl: new URL(`../support/${script}`, import.meta.url),
      });
      endpoints = await started;
      await vi.waitFor(() =>
        expect(capture.records()).toContainEqual(
          expect.objectContaining({
            level: 50,
            ...logged,
            msg: 'HTTP worker exited: /healthz, /readyz and /metrics no longer answer',
          }),
        ),
      );
      await endpoints.close();
      expect(capture.records().filter((r) => (r.level as number) >= 50)).toHaveLength(1);
    },
  );

  it('a worker that dies before it listens fails start-up with its exit code', async () => {
    const { started } = start(() => ({ ready: true }), {
      workerUrl: new URL('../support/dead-http-worker.mjs', import.meta.url),
    });
    await expect(started).rejects.toThrow('HTTP_PORT: the HTTP worker exited (code 3)');
  });

  it('close() frees the port', async () => {
    const { started } = start(() => ({ ready: true }));
    const running = await started;
    const { port } = running.address;
    expect((await fetchReply(running.address.port, '/healthz')).status).toBe(200);
    await running.close();
    const again = createServer();
    await new Promise<void>((resolve, reject) => {
      again.once('error', reject);
      again.listen(port, '127.0.0.1', resolve);
    });
    again.close();
  });
});

describe('npm start with every listener', () => {
  let child: ChildProcess | undefined;

  afterEach(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
  });

  it('serves HTTP, and SIGTERM closes the clients and every listener, then exits 0', async () => {
    const prefix = uniquePrefix();
    const seed = new Seeder(prefix);
    await seed.device('proc-dev');
    await seed.key('proc-key', 'proc-secret');
    await seed.close();
    const [mqttPort, wsPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const proc = spawn(process.execPath, ['dist/server/main.js'], {
      env: {
        PATH: process.env.PATH,
        REDIS_URL: redisUrl(),
        KEYGATE_PREFIX: prefix,
        KEYGATE_PERSISTENCE: 'memory',
        MQTT_HOST: '127.0.0.1',
        MQTT_PORT: String(mqttPort),
        WS_PORT: String(wsPort),
        HTTP_PORT: String(httpPort),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = proc;
    let out = '';
    proc.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const exited = once(proc, 'exit').then(([code]) => code as number | null);
    const deadline = Date.now() + 15_000;
    while (!out.includes('HTTP listener up')) {
      if (Date.now() > deadline || proc.exitCode !== null) throw new Error(`did not start:\n${out}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    let ready = 0;
    while (ready !== 200 && Date.now() < deadline) {
      ready = (await fetch(`http://127.0.0.1:${httpPort}/readyz`)).status;
      if (ready !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(ready).toBe(200);
    const login = { clientId: 'proc-dev', username: 'proc-key', password: 'proc-secret' };
    const client = await connect(wsPort, { ...login, protocol: 'ws', path: '/mqtt' });
    expect(client.returnCode).toBe(0);
    // A connection that never sends CONNECT must not hold the shutdown up.
    const idle = netConnect(mqttPort, '127.0.0.1');
    await once(idle, 'connect');

    const started = Date.now();
    proc.kill('SIGTERM');
    await closed(client.client);
    expect(await exited).toBe(0);
    expect(Date.now() - started).toBeLessThan(5000);
    expect(out).toContain('"msg":"stopped"');
    idle.destroy();
    client.client.end(true);
    for (const port of [mqttPort, wsPort, httpPort]) {
      const refused = await new Promise<boolean>((resolve) => {
        const socket = netConnect(port, '127.0.0.1');
        socket.once('connect', () => resolve(false));
        socket.once('error', () => resolve(true));
      });
      expect(refused, `port ${port} still open`).toBe(true);
    }
  });
});
