import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, it } from 'vitest';
import { repoRoot } from '../support/build.js';
import { redisUrl } from '../support/harness.js';
import { freePort } from '../support/redis-server.js';

// No Docker engine runs here, so the image's runtime stage is carried out as plain commands, read from the
// Dockerfile itself: WORKDIR becomes a temp dir, COPY a cp from the repository (dist/ is what the build
// stage's `npm run build` makes: the test setup ran it), RUN a shell command, then CMD starts the broker
// and the HEALTHCHECK command must report it healthy.
const run = promisify(execFile);
const dockerfile = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8');
const runtime = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
const app = mkdtempSync(join(tmpdir(), 'keygate-image-'));

afterAll(() => rmSync(app, { recursive: true, force: true }));

/** Instructions with their continuation lines joined. */
function instructions(stage: string): [string, string][] {
  return stage
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const space = line.indexOf(' ');
      return [line.slice(0, space), line.slice(space + 1).trim()] as [string, string];
    });
}

it("the runtime stage's steps, run as plain commands, give a broker that its HEALTHCHECK finds healthy", async () => {
  let healthcheck: string[] = [];
  let cmd: string[] = [];
  for (const [op, args] of instructions(runtime)) {
    if (op === 'COPY') {
      const parts = args.split(/\s+/);
      const fromBuild = parts[0] === '--from=build';
      const sources = (fromBuild ? parts.slice(1, -1) : parts.slice(0, -1)).map((s) =>
        s.replace(/^\/app\//, ''),
      );
      const target = parts.at(-1) as string;
      for (const source of sources) {
        const destination = target.endsWith('/') ? join(app, target, source) : join(app, target);
        cpSync(join(repoRoot, source), destination, { recursive: true });
      }
    } else if (op === 'RUN') {
      // `npm cache clean --force` would empty this machine's shared npm cache: only that step is left out.
      const command = args.replace(/\s*&&\s*npm cache clean --force/, '');
      await run('bash', ['-c', `${command} --prefer-offline --no-audit --no-fund`], {
        cwd: app,
        timeout: 240_000,
      });
    } else if (op === 'HEALTHCHECK') {
      healthcheck = JSON.parse(args.slice(args.indexOf('CMD') + 3).trim()) as string[];
    } else if (op === 'CMD') {
      cmd = JSON.parse(args) as string[];
    }
  }
  // Production dependencies only: no TypeScript, no test tools.
  await expect(run('node', ['-e', "require.resolve('typescript')"], { cwd: app })).rejects.toThrow();
  await expect(run('node', ['-e', "require.resolve('ioredis')"], { cwd: app })).resolves.toBeDefined();

  const httpPort = String(await freePort());
  const env = {
    PATH: process.env.PATH,
    NODE_ENV: 'production',
    REDIS_URL: redisUrl(),
    KEYGATE_PREFIX: 'kgimage:',
    KEYGATE_PERSISTENCE: 'memory',
    MQTT_PORT: String(await freePort()),
    HTTP_PORT: httpPort,
  };
  const broker = spawn(cmd[0] as string, cmd.slice(1), { cwd: app, env, stdio: 'ignore' });
  try {
    let healthy = false;
    for (let i = 0; i < 100 && !healthy; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      healthy = await run(healthcheck[0] as string, healthcheck.slice(1), { env }).then(
        () => true,
        () => false,
      );
    }
    expect(healthy).toBe(true);
  } finally {
    broker.kill('SIGTERM');
  }
  // And it is not healthy when nothing listens.
  await expect(
    run(healthcheck[0] as string, healthcheck.slice(1), {
      env: { ...env, HTTP_PORT: String(await freePort()) },
    }),
  ).rejects.toThrow();
}, 300_000);
