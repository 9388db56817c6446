import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

/** keygate's ready broker run as its own process (`node dist/server/main.js`, built by the test setup). */
export interface BrokerProcess {
  readonly proc: ChildProcess;
  /** Resolves with the exit code once the process has exited (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Resolves once stdout contains `text` (throws after `ms`, default 15 s, or if the process exits first). */
  waitFor(text: string, ms?: number): Promise<void>;
  /** Its log lines (JSON) so far. */
  records(): Record<string, unknown>[];
  stdout(): string;
  stderr(): string;
  /** SIGKILL: no shutdown, nothing flushed — a crash. Resolves once it has exited. */
  kill(): Promise<void>;
}

/** Starts the broker with nothing but PATH, HTTP_PORT=0, MQTT_HOST=127.0.0.1 and `env` in its environment. */
export function startBrokerProcess(env: Record<string, string>): BrokerProcess {
  const proc = spawn(process.execPath, ['dist/server/main.js'], {
    env: { PATH: process.env.PATH, HTTP_PORT: '0', MQTT_HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  proc.stdout?.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  proc.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = once(proc, 'exit').then(([code]) => code as number | null);
  const running = () => proc.exitCode === null && proc.signalCode === null;
  return {
    proc,
    exited,
    async waitFor(text, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (!stdout.includes(text)) {
        if (Date.now() > deadline || !running()) throw new Error(`no "${text}" in:\n${stdout}\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    records: () =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    stdout: () => stdout,
    stderr: () => stderr,
    async kill() {
      if (running()) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
}
