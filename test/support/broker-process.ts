import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';

/** keygate's ready broker run as its own process (`node dist/server/main.js`, built by the test setup). */
export interface BrokerProcess {
  readonly proc: ChildProcess;
  /** Resolves with the exit code once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Resolves once stdout contains `text` (throws after 15 s, or if the process exits first). */
  waitFor(text: string): Promise<void>;
  /** Its log lines (JSON) so far. */
  records(): Record<string, unknown>[];
  stdout(): string;
  stderr(): string;
}

/** Starts the broker with nothing but PATH, HTTP_PORT=0 and `env` in its environment. */
export function startBrokerProcess(env: Record<string, string>): BrokerProcess {
  const proc = spawn(process.execPath, ['dist/server/main.js'], {
    env: { PATH: process.env.PATH, HTTP_PORT: '0', ...env },
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
    async waitFor(text) {
      const deadline = Date.now() + 15_000;
      while (!stdout.includes(text)) {
        if (Date.now() > deadline || proc.exitCode !== null)
          throw new Error(`no "${text}" in:\n${stdout}\n${stderr}`);
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
  };
}
