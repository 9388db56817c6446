import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

/** keygate's ready broker as its own process (`node dist/server/main.js`, what `npm start` runs). */
export interface BrokerProcess {
  readonly proc: ChildProcess;
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Waits until stdout holds `text` (default bound 15 s); rejects with the output otherwise. */
  waitFor(text: string, ms?: number): Promise<void>;
  out(): string;
  err(): string;
  /** SIGKILL: no shutdown, nothing flushed — a crash. */
  kill(): Promise<void>;
}

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
  return {
    proc,
    exited,
    async waitFor(text: string, ms = 15_000) {
      const deadline = Date.now() + ms;
      while (!stdout.includes(text)) {
        if (Date.now() > deadline || proc.exitCode !== null || proc.signalCode !== null)
          throw new Error(`no "${text}" in:\n${stdout}\n${stderr}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    out: () => stdout,
    err: () => stderr,
    async kill() {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
}
