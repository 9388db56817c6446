import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { BROKER_NODE_OPTIONS } from '../../src/server/node-options.js';
import { repoRoot } from '../support/build.js';
import { startTestBroker } from '../support/harness.js';
import { freePort } from '../support/redis-server.js';

/**
 * No Docker engine runs where the tests run: these checks keep the Dockerfile and the compose file honest
 * about the repository (files they copy and run exist, the runtime stage is non-root and healthchecked).
 */

interface PackageJson {
  readonly scripts: Record<string, string>;
}

interface Instruction {
  readonly keyword: string;
  readonly args: string;
}

interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: Instruction[];
}

/** Parses a Dockerfile into stages of instructions (comments dropped, `\` continuations joined). */
function parseDockerfile(text: string): Stage[] {
  const lines = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of lines) {
    const [, keyword = '', args = ''] = line.match(/^(\S+)\s*(.*)$/) ?? [];
    const instruction = { keyword: keyword.toUpperCase(), args };
    if (instruction.keyword === 'FROM') {
      const [, from = '', name] = args.match(/^(\S+)(?:\s+AS\s+(\S+))?$/i) ?? [];
      stages.push({ from, name, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (stage === undefined) throw new Error(`${keyword} before any FROM`);
      stage.instructions.push(instruction);
    }
  }
  return stages;
}

const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const runtime = stages.at(-1) as Stage;
const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
/** The stage's last instruction of that kind: the one in force. */
const last = (stage: Stage, keyword: string) => all(stage, keyword).at(-1);

describe('Dockerfile', () => {
  it('has a build stage and a runtime stage, both on node 20 bookworm-slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.from).toBe('node:20-bookworm-slim');
    const build = stages[0] as Stage;
    expect(all(build, 'RUN').map((i) => i.args)).toEqual(expect.arrayContaining(['npm ci', 'npm run build']));
  });

  it('runtime: production dependencies only, NODE_ENV=production, port 1883', () => {
    expect(all(runtime, 'RUN').some((i) => /^npm ci --omit=dev\b/.test(i.args))).toBe(true);
    expect(all(runtime, 'ENV').some((i) => /\bNODE_ENV=production\b/.test(i.args))).toBe(true);
    expect(all(runtime, 'EXPOSE').map((i) => i.args)).toContain('1883');
  });

  it('runtime runs as the non-root node user', () => {
    expect(last(runtime, 'USER')?.args).toBe('node');
  });

  it('runtime has a HEALTHCHECK that runs node', () => {
    const healthcheck = last(runtime, 'HEALTHCHECK')?.args ?? '';
    expect(healthcheck).toMatch(/CMD\s+\[\s*"node"/);
    expect(healthcheck).not.toMatch(/\bNONE\b/);
  });

  it('runtime exposes the TLS and HTTP ports too', () => {
    expect(all(runtime, 'EXPOSE').flatMap((i) => i.args.split(/\s+/))).toEqual(
      expect.arrayContaining(['1883', '8883', '9102']),
    );
  });

  it('the HEALTHCHECK asks /healthz on HTTP_PORT: 0 when the broker answers, 1 when nothing listens', async () => {
    const healthcheck = last(runtime, 'HEALTHCHECK')?.args ?? '';
    const argv = JSON.parse(healthcheck.replace(/^.*?\bCMD\s+/, '')) as string[];
    expect(argv.join(' ')).toContain('/healthz');
    expect(argv.join(' ')).toContain('HTTP_PORT');
    const run = (env: Record<string, string>) =>
      new Promise<number | null>((resolve) => {
        const child = spawn(process.execPath, argv.slice(1), { env: { ...env }, stdio: 'ignore' });
        child.once('exit', (code) => resolve(code));
      });
    const broker = await startTestBroker();
    try {
      expect(await run({ MQTT_HOST: '127.0.0.1', HTTP_PORT: String(broker.running.http.port) })).toBe(0);
    } finally {
      await broker.close();
    }
    expect(await run({ HTTP_PORT: String(await freePort()) })).toBe(1);
  });

  it('CMD runs a file that `npm run build` produces, with the Node options `npm start` uses', () => {
    const cmd = JSON.parse(last(runtime, 'CMD')?.args ?? 'null') as string[];
    expect(cmd).toEqual(['node', ...BROKER_NODE_OPTIONS, 'dist/server/main.js']);
    expect(existsSync(join(repoRoot, cmd.at(-1) as string))).toBe(true);
    const scripts = (JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as PackageJson).scripts;
    expect(scripts.start).toBe(['node', ...BROKER_NODE_OPTIONS, 'dist/server/main.js'].join(' '));
  });

  it('the Node options are ones this node accepts (a misspelt V8 flag would stop the broker starting)', () => {
    const run = spawnSync(process.execPath, [...BROKER_NODE_OPTIONS, '-e', '0'], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
  });

  it('copies only what exists: the build output, bin/ and config/ (with a valid example)', () => {
    const copies = all(runtime, 'COPY').map((i) => i.args.split(/\s+/));
    const fromBuild = copies.filter((args) => args[0] === '--from=build').map((args) => args[1]);
    expect(fromBuild).toContain('/app/dist');
    for (const args of copies.filter((a) => !a[0]?.startsWith('--'))) {
      for (const source of args.slice(0, -1)) expect(existsSync(join(repoRoot, source)), source).toBe(true);
    }
    const bin = join(repoRoot, 'bin', 'keygate.js');
    expect(statSync(bin).mode & 0o111).not.toBe(0);
    expect(() => loadConfig({ KEYGATE_CONFIG: 'config/keygate.example.json' }, repoRoot)).not.toThrow();
  });

  it('the .dockerignore keeps node_modules and dist out of the build context', () => {
    const ignored = readFileSync(join(repoRoot, '.dockerignore'), 'utf8').split(/\r?\n/);
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git']));
  });
});

describe('docker-compose.yml', () => {
  const compose = readFileSync(join(repoRoot, 'docker-compose.yml'), 'utf8');
  /** A service's lines: from `  <name>:` to the next line indented two spaces or less. */
  const service = (name: string): string =>
    compose.match(new RegExp(`^  ${name}:\\n((?:(?: {3,}.*)?\\n)*)`, 'm'))?.[1] ?? '';

  it('runs redis:7-alpine', () => {
    expect(service('redis')).toMatch(/^ {4}image: redis:7-alpine$/m);
  });

  it('builds keygate from this Dockerfile, points it at the redis service and publishes 1883', () => {
    const keygate = service('keygate');
    expect(keygate).toMatch(/^ {4}build:\n {6}context: \.\n {6}dockerfile: Dockerfile$/m);
    expect(keygate).toContain('REDIS_URL: redis://redis:6379');
    expect(keygate).toContain('- "1883:1883"');
    expect(keygate).toMatch(/^ {4}depends_on:\n {6}redis:/m);
  });
});
