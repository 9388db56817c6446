import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { repoRoot } from '../support/build.js';
import { freePort } from '../support/redis-server.js';

const DEMO = join(repoRoot, 'dist', 'demo', 'main.js');

/** Splits a POSIX shell command line into words: plain words, '…' quotes and backslash escapes. */
function shellWords(line: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === "'") {
      const end = line.indexOf("'", i + 1);
      if (end === -1) throw new Error(`unterminated quote in: ${line}`);
      word = (word ?? '') + line.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      word = (word ?? '') + (line[++i] ?? '');
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (/["$`;&|<>()*?]/.test(c)) {
      throw new Error(`the test cannot run ${JSON.stringify(c)} like a shell would, in: ${line}`);
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

interface Output {
  readonly child: ChildProcess;
  stdout: string;
  stderr: string;
}

function run(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Output {
  const child = spawn(command, args, { cwd: repoRoot, env, stdio: ['ignore', 'pipe', 'pipe'] });
  const output: Output = { child, stdout: '', stderr: '' };
  child.stdout?.on('data', (chunk: Buffer) => {
    output.stdout += chunk.toString();
  });
  child.stderr?.on('data', (chunk: Buffer) => {
    output.stderr += chunk.toString();
  });
  return output;
}

async function waitFor(
  what: string,
  condition: () => boolean,
  output: Output,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (output.child.exitCode !== null || Date.now() > deadline) {
      throw new Error(
        `${what}: not seen (exit ${output.child.exitCode})\nstdout:\n${output.stdout}\nstderr:\n${output.stderr}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function exitCodeOf(output: Output): Promise<number | null> {
  const { child } = output;
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
  return child.exitCode;
}

function demoEnv(overrides: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, KEYGATE_CONFIG: '', ...overrides };
  for (const [name, value] of Object.entries(env)) if (value === undefined) delete env[name];
  return env;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function acceptsTcp(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

describe('npm run demo', () => {
  let demo: Output | undefined;
  let redisPid: number | undefined;

  afterAll(async () => {
    // Only after a failure is anything left running.
    if (demo && demo.child.exitCode === null && demo.child.signalCode === null) demo.child.kill('SIGKILL');
    if (redisPid !== undefined && isAlive(redisPid)) process.kill(redisPid, 'SIGKILL');
  });

  it('starts its own redis-server, and the commands it prints work as printed', async () => {
    const mqttPort = await freePort();
    demo = run(process.execPath, [DEMO], demoEnv({ MQTT_PORT: String(mqttPort), REDIS_URL: undefined }));
    await waitFor('the instructions', () => demo?.stdout.includes('Press Ctrl-C') === true, demo);

    redisPid = Number(demo.stdout.match(/redis-server, pid (\d+)/)?.[1]);
    const redisPort = Number(demo.stdout.match(/Redis +redis:\/\/127\.0\.0\.1:(\d+)/)?.[1]);
    expect(isAlive(redisPid)).toBe(true);
    expect(demo.stdout).toContain(`mqtt://127.0.0.1:${mqttPort}`);

    const commands = demo.stdout
      .split('\n')
      .filter((line) => /^\s*mosquitto_(sub|pub) /.test(line))
      .map(shellWords);
    expect(commands.map((argv) => argv[0])).toEqual(['mosquitto_sub', 'mosquitto_pub', 'mosquitto_pub']);
    const [sub, pub, refused] = commands as [string[], string[], string[]];
    expect(sub).toEqual(expect.arrayContaining(['-h', '-p', '-i', '-u', '-P', '-t']));
    expect(pub).toEqual(expect.arrayContaining(['-h', '-p', '-i', '-u', '-P', '-t', '-m']));

    // -C 1 -W 10: one message, 10 s at most. mosquitto_sub's stdout is block-buffered on a pipe, so
    // nothing tells when it has subscribed: publish, exactly as printed, until it has its message.
    const subscriber = run(sub[0] as string, [...sub.slice(1), '-C', '1', '-W', '10']);
    let published = 0;
    while (subscriber.child.exitCode === null && subscriber.child.signalCode === null) {
      const publisher = run(pub[0] as string, pub.slice(1));
      expect(await exitCodeOf(publisher), publisher.stderr).toBe(0);
      published++;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    expect(published).toBeGreaterThan(0);
    expect(await exitCodeOf(subscriber), subscriber.stderr).toBe(0);
    expect(subscriber.stdout).toBe('losant/thermo-1/state {"data":{"temperature":21}}\n');

    const wrong = run(refused[0] as string, refused.slice(1));
    expect(await exitCodeOf(wrong)).not.toBe(0);
    expect(wrong.stderr).toMatch(/bad user name or password|not authori[sz]ed/i);

    demo.child.kill('SIGINT');
    expect(await exitCodeOf(demo)).toBe(0);
    expect(isAlive(redisPid)).toBe(false);
    expect(await acceptsTcp(redisPort)).toBe(false);
    expect(await acceptsTcp(mqttPort)).toBe(false);
  }, 60_000);

  it('without REDIS_URL or redis-server, says what to install and exits 69', async () => {
    const bin = mkdtempSync(join(tmpdir(), 'keygate-demo-path-'));
    try {
      symlinkSync(process.execPath, join(bin, 'node'));
      const output = run(
        process.execPath,
        [DEMO],
        demoEnv({ PATH: bin, REDIS_URL: undefined, MQTT_PORT: '0' }),
      );
      expect(await exitCodeOf(output)).toBe(ExitCode.UNAVAILABLE);
      expect(output.stdout).toBe('');
      expect(output.stderr).toMatch(/^keygate demo: [^\n]*redis-server[^\n]*REDIS_URL[^\n]*\n$/);
    } finally {
      rmSync(bin, { recursive: true, force: true });
    }
  });

  it('when the MQTT port is busy, says so and suggests MQTT_PORT', async () => {
    const busy = createServer().listen(0, '127.0.0.1');
    await once(busy, 'listening');
    const { port } = busy.address() as { port: number };
    try {
      const output = run(
        process.execPath,
        [DEMO],
        demoEnv({ MQTT_PORT: String(port), REDIS_URL: undefined }),
      );
      expect(await exitCodeOf(output)).toBe(ExitCode.UNAVAILABLE);
      expect(output.stderr).toMatch(new RegExp(`port ${port} is already in use.*MQTT_PORT=\\d+`));
    } finally {
      busy.close();
    }
  });
});
