import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, createServer } from 'node:net';

/** A `redis-server` started by keygate (the demo, the tests), without persistence. */
export interface ThrowawayRedis {
  readonly url: string;
  readonly port: number;
  readonly pid: number;
  /** The server process (tests send it SIGSTOP / SIGCONT). */
  readonly process: ChildProcess;
  /** Kills the server and waits for it to exit. */
  stop(): Promise<void>;
  /** Synchronous last resort for `process.on('exit')`. */
  kill(): void;
}

export interface ThrowawayRedisOptions {
  /** A port to use; default: a free one (retried if another process takes it first). */
  port?: number;
  /** More redis-server arguments, e.g. `['--enable-debug-command', 'local']`. */
  extraArgs?: string[];
}

/** Thrown when `redis-server` is not on PATH. */
export class RedisServerNotFound extends Error {}

/**
 * Where free ports are looked for: below Linux's ephemeral range (32768-60999 by default), from which the
 * kernel picks the port of a listener on port 0 and the local port of every outgoing connection. A port
 * found free inside that range could be handed to one of those before its user binds it (seen: a broker
 * whose HTTP_PORT=0 listener got the MQTT port just chosen for it, EADDRINUSE).
 */
const PORTS_FROM = 20_000;
const PORTS_TO = 32_000;

/** Resolves true when `port` can be listened on at loopback now (the listener is closed again). */
async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  const listening = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (listening) await new Promise((resolve) => server.close(resolve));
  return listening;
}

/** A free TCP port on loopback, outside the ephemeral range when one is free there. */
export async function freeLoopbackPort(): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = PORTS_FROM + Math.floor(Math.random() * (PORTS_TO - PORTS_FROM));
    if (await canListen(port)) return port;
  }
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

async function startOnce(port: number, extraArgs: string[]): Promise<ThrowawayRedis> {
  const child = spawn(
    'redis-server',
    // No RDB snapshot, no AOF: nothing is written to disk.
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', ...extraArgs],
    // Its own process group: a Ctrl-C in the terminal reaches the demo only, which stops the broker first
    // and this server after it.
    { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
  );
  let output = '';
  // Keep draining both pipes for the server's whole life, or it blocks once a pipe buffer is full.
  const collect = (chunk: Buffer): void => {
    output = (output + chunk.toString()).slice(-4096);
  };
  child.stdout?.on('data', collect);
  child.stderr?.on('data', collect);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not start within 10 s:\n${output}`));
    }, 10_000);
    const settle = (err?: Error): void => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      if (err) reject(err);
      else resolve();
    };
    const onData = (): void => {
      if (output.includes('Ready to accept connections')) settle();
    };
    child.stdout?.on('data', onData);
    child.once('error', (err: NodeJS.ErrnoException) =>
      settle(err.code === 'ENOENT' ? new RedisServerNotFound('redis-server is not on PATH') : err),
    );
    child.once('exit', (code) =>
      settle(new Error(`redis-server exited with code ${code}:\n${output.trim()}`)),
    );
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid as number,
    process: child,
    async stop() {
      if (!isRunning(child)) return;
      const exited = once(child, 'exit');
      child.kill('SIGCONT'); // a SIGSTOPped server cannot act on SIGTERM
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
    kill() {
      if (isRunning(child)) child.kill('SIGKILL');
    },
  };
}

/**
 * Starts a throwaway `redis-server` on loopback, without persistence, and resolves once it accepts
 * connections. A free port is probed first, so another process can take it in between: retried.
 * @throws RedisServerNotFound when redis-server is not installed.
 */
export async function startThrowawayRedis(options: ThrowawayRedisOptions = {}): Promise<ThrowawayRedis> {
  const extraArgs = options.extraArgs ?? [];
  if (options.port !== undefined) return startOnce(options.port, extraArgs);
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(await freeLoopbackPort(), extraArgs);
    } catch (err) {
      if (attempt === 3 || !/already in use/i.test((err as Error).message)) throw err;
    }
  }
}
