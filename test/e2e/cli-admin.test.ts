import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { repoRoot } from '../support/build.js';
import {
  connackOf,
  hashSecret,
  redisUrl,
  startTestBroker,
  type TestBroker,
  uniquePrefix,
} from '../support/harness.js';

const BIN = join(repoRoot, 'bin', 'keygate.js');

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly ms: number;
}

/** Runs the built CLI as a child process (asynchronously: the test broker shares this event loop). */
function keygate(args: readonly string[], env: Record<string, string>, input = ''): Promise<Run> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: repoRoot,
      env: { ...process.env, ...env },
      timeout: 60_000,
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', reject);
    child.on('close', (status) =>
      resolve({
        status,
        stdout: Buffer.concat(stdout).toString(),
        stderr: Buffer.concat(stderr).toString(),
        ms: Date.now() - started,
      }),
    );
    child.stdin.end(input);
  });
}

/** A refusal: the exit code, exactly one `keygate: ...` line on stderr, nothing on stdout. */
function expectRefusal(run: Run, status: number, reason?: RegExp): void {
  expect(run.stderr).toMatch(/^keygate: [^\n]+\n$/);
  expect(run.status).toBe(status);
  expect(run.stdout).toBe('');
  if (reason) expect(run.stderr).toMatch(reason);
}

function expectOk(run: Run): void {
  expect(run.stderr).toBe('');
  expect(run.status).toBe(0);
}

let redis: Redis;
let tmp: string;

/** Every Redis key under a prefix (SCAN). */
async function keysUnder(prefix: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, names] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000);
    cursor = next;
    found.push(...names);
  } while (cursor !== '0');
  return found;
}

beforeAll(() => {
  redis = new Redis(redisUrl(), { maxRetriesPerRequest: 1 });
  tmp = mkdtempSync(join(tmpdir(), 'keygate-cli-'));
});

afterAll(() => {
  redis.disconnect();
  rmSync(tmp, { recursive: true, force: true });
});

describe('keygate keys, against a running broker', () => {
  const prefix = uniquePrefix();
  const env = { REDIS_URL: '', KEYGATE_PREFIX: prefix };
  let broker: TestBroker;

  beforeAll(async () => {
    env.REDIS_URL = redisUrl();
    broker = await startTestBroker({ prefix });
  });

  afterAll(async () => {
    await broker.close();
  });

  it('create prints a key and a secret that authenticate a device; only the hash is stored', async () => {
    expectOk(await keygate(['devices', 'add', 'thermo-1', '--tags', 'floor=3,type=sensor'], env));
    const run = await keygate(['keys', 'create', '--restrictions', 'floor=3', '--cost', '4', '--json'], env);
    expectOk(run);
    const created = JSON.parse(run.stdout) as { key: string; secret: string };
    expect(Object.keys(created)).toEqual(['key', 'secret']);
    expect(created.key).toMatch(/^k-[a-z2-7]{16}$/);
    expect(created.secret).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 bits, base64url

    const stored = await redis.hgetall(`${prefix}key:${created.key}`);
    expect(stored.secret).toMatch(/^\$2b\$04\$/);
    expect(bcrypt.compareSync(created.secret, stored.secret as string)).toBe(true);
    expect(Object.values(stored)).not.toContain(created.secret);
    expect(stored).toMatchObject({ status: 'active', restrictions: 'floor=3', topicFilter: 'none' });
    expect(new Date(stored.createdAt as string).toISOString()).toBe(stored.createdAt);

    const credentials = { clientId: 'thermo-1', username: created.key, password: created.secret };
    expect(await connackOf(broker.port, credentials)).toBe(0);
    expect(await connackOf(broker.port, { ...credentials, password: `${created.secret}x` })).toBe(4);

    // deactivate → CONNACK 5 on a new connection; activate → 0 again
    const deactivated = await keygate(['keys', 'deactivate', created.key], env);
    expectOk(deactivated);
    expect(deactivated.stdout).toContain('inactive');
    expect(await redis.hget(`${prefix}key:${created.key}`, 'status')).toBe('inactive');
    expect(await connackOf(broker.port, credentials)).toBe(5);
    expectOk(await keygate(['keys', 'activate', created.key], env));
    expect(await connackOf(broker.port, credentials)).toBe(0);

    // delete → the key is gone: CONNACK 4, show and delete say so (exit 67)
    expectOk(await keygate(['keys', 'delete', created.key], env));
    expect(await redis.exists(`${prefix}key:${created.key}`)).toBe(0);
    expect(await connackOf(broker.port, credentials)).toBe(4);
    expectRefusal(
      await keygate(['keys', 'show', created.key], env),
      ExitCode.NOT_FOUND,
      /no such access key/,
    );
    expectRefusal(await keygate(['keys', 'delete', created.key], env), ExitCode.NOT_FOUND);
    expectRefusal(await keygate(['keys', 'activate', created.key], env), ExitCode.NOT_FOUND);
    expect(await redis.exists(`${prefix}key:${created.key}`)).toBe(0); // activate created no stub
  }, 60_000);

  it('create without --json prints the key and the secret once, hashed at cost 10 by default', async () => {
    const run = await keygate(['keys', 'create', '--description', 'human output'], env);
    expectOk(run);
    const key = /^access key\s+(\S+)$/m.exec(run.stdout)?.[1] as string;
    const secret = /^secret\s+(\S+)$/m.exec(run.stdout)?.[1] as string;
    expect(key).toMatch(/^k-/);
    const stored = await redis.hgetall(`${prefix}key:${key}`);
    expect(stored.secret).toMatch(/^\$2b\$10\$/);
    expect(bcrypt.compareSync(secret, stored.secret as string)).toBe(true);
    expect(stored.description).toBe('human output');
  });

  it('create takes the topic options and a chosen key ID; an existing ID is refused (exit 73)', async () => {
    const args = [
      'keys',
      'create',
      '--key',
      'k-backend',
      '--cost',
      '4',
      '--restrictions',
      ' backend-1 , floor=3 ',
    ];
    const options = [
      '--topic-filter',
      'allow',
      '--pub-topics',
      'losant/+/command',
      '--sub-topics',
      'plant/#',
    ];
    expectOk(await keygate([...args, ...options], env));
    expect(await redis.hgetall(`${prefix}key:k-backend`)).toMatchObject({
      restrictions: 'backend-1,floor=3',
      topicFilter: 'allow',
      pubTopics: 'losant/+/command',
      subTopics: 'plant/#',
    });
    const before = await redis.hgetall(`${prefix}key:k-backend`);
    expectRefusal(await keygate([...args, '--json'], env), ExitCode.CANT_CREATE, /already exists: k-backend/);
    expect(await redis.hgetall(`${prefix}key:k-backend`)).toEqual(before);
  });

  it('list and show print JSON that parses, never the secret hash', async () => {
    await redis.hset(`${prefix}key:k-broken`, { secret: 'not-a-hash', status: 'paused' });
    const list = await keygate(['keys', 'list', '--json'], env);
    expectOk(list);
    expect(list.stdout).not.toContain('$2');
    const keys = JSON.parse(list.stdout) as { key: string; valid: boolean; problem?: string }[];
    expect(keys.map((k) => k.key)).toEqual([...keys.map((k) => k.key)].sort());
    expect(keys.find((k) => k.key === 'k-backend')).toMatchObject({ valid: true, topicFilter: 'allow' });
    expect(keys.find((k) => k.key === 'k-broken')).toMatchObject({
      valid: false,
      problem: expect.any(String),
    });

    const table = await keygate(['keys', 'list'], env);
    expectOk(table);
    expect(table.stdout).toMatch(/^KEY\s+STATUS/);
    expect(table.stdout).toMatch(/^k-backend\s+active\s+backend-1,floor=3/m);
    expect(table.stdout).not.toContain('$2');

    const show = await keygate(['keys', 'show', 'k-backend', '--json'], env);
    expectOk(show);
    expect(show.stdout).not.toContain('$2');
    expect(JSON.parse(show.stdout)).toMatchObject({ key: 'k-backend', status: 'active', valid: true });
    const human = await keygate(['keys', 'show', 'k-backend'], env);
    expectOk(human);
    expect(human.stdout).toMatch(/^secret\s+bcrypt hash, cost 4 \(not shown\)$/m);
    expect(human.stdout).not.toContain('$2');
  });
});

describe('keygate devices', () => {
  const prefix = uniquePrefix();
  const env = { REDIS_URL: '', KEYGATE_PREFIX: prefix };
  beforeAll(() => {
    env.REDIS_URL = redisUrl();
  });

  it('add, tag, list, show and delete', async () => {
    const add = await keygate(
      ['devices', 'add', 'thermo-1', '--tags', ' floor = 3 ,type=sensor', '--name', 'Thermostat 1'],
      env,
    );
    expectOk(add);
    expect(await redis.hgetall(`${prefix}device:thermo-1`)).toEqual({
      type: 'standalone',
      tags: 'floor=3,type=sensor',
      name: 'Thermostat 1',
    });
    expectOk(await keygate(['devices', 'add', 'gw-1', '--type', 'gateway'], env));
    expectOk(
      await keygate(
        ['devices', 'add', 'sensor-7', '--type', 'peripheral', '--gateway', 'gw-1', '--tags', 'floor=4'],
        env,
      ),
    );
    expect(await redis.hgetall(`${prefix}device:sensor-7`)).toEqual({
      type: 'peripheral',
      gateway: 'gw-1',
      tags: 'floor=4',
    });

    // an existing device is left alone unless --replace
    expectRefusal(await keygate(['devices', 'add', 'thermo-1'], env), ExitCode.CANT_CREATE, /already exists/);
    expect(await redis.hget(`${prefix}device:thermo-1`, 'tags')).toBe('floor=3,type=sensor');

    // tag: replace, add/remove, clear
    expectOk(await keygate(['devices', 'tag', 'thermo-1', 'floor=5'], env));
    expect(await redis.hget(`${prefix}device:thermo-1`, 'tags')).toBe('floor=5');
    const edited = await keygate(
      ['devices', 'tag', 'thermo-1', '--add', 'floor=6,zone=a', '--remove', 'floor=5'],
      env,
    );
    expectOk(edited);
    expect(edited.stdout).toContain('floor=6,zone=a');
    expect(await redis.hget(`${prefix}device:thermo-1`, 'tags')).toBe('floor=6,zone=a');
    expectOk(await keygate(['devices', 'tag', 'gw-1', ''], env));
    expect(await redis.hexists(`${prefix}device:gw-1`, 'tags')).toBe(0);
    // A device seeded with redis-cli with tags only stays registered when its tags are removed.
    await redis.hset(`${prefix}device:bare-1`, { tags: 'a=1' });
    expectOk(await keygate(['devices', 'tag', 'bare-1', '--remove', 'a=1'], env));
    expect(await redis.hgetall(`${prefix}device:bare-1`)).toEqual({ type: 'standalone' });
    expectOk(await keygate(['devices', 'delete', 'bare-1'], env));
    expectRefusal(
      await keygate(['devices', 'tag', 'nobody', 'a=1'], env),
      ExitCode.NOT_FOUND,
      /no such device/,
    );
    expect(await redis.exists(`${prefix}device:nobody`)).toBe(0);

    // list (JSON and table, with a tag filter) and show
    const list = await keygate(['devices', 'list', '--json'], env);
    expectOk(list);
    expect((JSON.parse(list.stdout) as { id: string }[]).map((d) => d.id)).toEqual([
      'gw-1',
      'sensor-7',
      'thermo-1',
    ]);
    const filtered = await keygate(['devices', 'list', '--json', '--tag', 'floor=6'], env);
    expectOk(filtered);
    expect((JSON.parse(filtered.stdout) as { id: string }[]).map((d) => d.id)).toEqual(['thermo-1']);
    const anyFloor = await keygate(['devices', 'list', '--tag', 'floor=*'], env);
    expectOk(anyFloor);
    expect(anyFloor.stdout).toMatch(/^ID\s+TYPE/);
    expect(anyFloor.stdout).toMatch(/^sensor-7\s+peripheral\s+gw-1\s+floor=4/m);
    expect(anyFloor.stdout).not.toMatch(/^gw-1/m);

    const show = await keygate(['devices', 'show', 'sensor-7', '--json'], env);
    expectOk(show);
    expect(JSON.parse(show.stdout)).toEqual({
      id: 'sensor-7',
      type: 'peripheral',
      gateway: 'gw-1',
      tags: 'floor=4',
      name: '',
      valid: true,
    });

    // delete
    expectOk(await keygate(['devices', 'delete', 'sensor-7'], env));
    expect(await redis.exists(`${prefix}device:sensor-7`)).toBe(0);
    expectRefusal(await keygate(['devices', 'delete', 'sensor-7'], env), ExitCode.NOT_FOUND);
    expectRefusal(await keygate(['devices', 'show', 'sensor-7'], env), ExitCode.NOT_FOUND);
  }, 60_000);
});

describe('bad input: one line on stderr, a non-zero exit code, nothing written', () => {
  const prefix = uniquePrefix();
  const env = { REDIS_URL: '', KEYGATE_PREFIX: prefix };
  beforeAll(() => {
    env.REDIS_URL = redisUrl();
  });

  it.concurrent.each<[string, string[], number, RegExp]>([
    [
      'an invalid device ID',
      ['devices', 'add', 'a/b'],
      ExitCode.DATA,
      /device ID "a\/b" is not a valid identifier/,
    ],
    ['a device ID with a space', ['devices', 'add', 'a b'], ExitCode.DATA, /not a valid identifier/],
    ['a too long device ID', ['devices', 'add', 'x'.repeat(129)], ExitCode.DATA, /not a valid identifier/],
    ['an invalid key ID', ['keys', 'create', '--key', 'k#1'], ExitCode.DATA, /access key "k#1"/],
    ['an empty tag entry', ['devices', 'add', 'd-1', '--tags', 'a=1,,b=2'], ExitCode.DATA, /tags/],
    ['a tag without =', ['devices', 'add', 'd-1', '--tags', 'floor'], ExitCode.DATA, /not key=value/],
    ['a bad tag key', ['devices', 'add', 'd-1', '--tags', 'fl oor=3'], ExitCode.DATA, /tag key/],
    [
      'an unknown type',
      ['devices', 'add', 'd-1', '--type', 'sensor'],
      ExitCode.DATA,
      /type "sensor" is not one of/,
    ],
    [
      'a gateway on a standalone',
      ['devices', 'add', 'd-1', '--gateway', 'gw-1'],
      ExitCode.DATA,
      /peripheral/,
    ],
    [
      'a bad gateway ID',
      ['devices', 'add', 'd-1', '--type', 'peripheral', '--gateway', 'g/1'],
      ExitCode.DATA,
      /gateway/,
    ],
    [
      'a restriction of a lone comma',
      ['keys', 'create', '--restrictions', ','],
      ExitCode.DATA,
      /restrictions/,
    ],
    ['a restriction of blanks', ['keys', 'create', '--restrictions', ' '], ExitCode.DATA, /restrictions/],
    ['a restriction =3', ['keys', 'create', '--restrictions', 'thermo-1,=3'], ExitCode.DATA, /restriction/],
    ['a restriction floor=', ['keys', 'create', '--restrictions', 'floor='], ExitCode.DATA, /restriction/],
    [
      'an unknown topic filter',
      ['keys', 'create', '--topic-filter', 'some'],
      ExitCode.DATA,
      /topicFilter "some"/,
    ],
    [
      'a malformed pub filter',
      ['keys', 'create', '--topic-filter', 'allow', '--pub-topics', 'a/#/b'],
      ExitCode.DATA,
      /pubTopics/,
    ],
    ['pub topics without allow/deny', ['keys', 'create', '--pub-topics', 'a/b'], ExitCode.DATA, /pubTopics/],
    ['a bcrypt cost out of range', ['keys', 'create', '--cost', '3'], ExitCode.USAGE, /cost/],
    ['bad tags for tag', ['devices', 'tag', 'd-1', 'x'], ExitCode.DATA, /not key=value/],
    ['tags and --add together', ['devices', 'tag', 'd-1', 'a=1', '--add', 'b=2'], ExitCode.USAGE, /not both/],
    ['tag with nothing to do', ['devices', 'tag', 'd-1'], ExitCode.USAGE, /--add/],
    ['a bad --tag filter', ['devices', 'list', '--tag', 'floor'], ExitCode.DATA, /--tag/],
    ['an invalid ID to show', ['keys', 'show', 'k 1'], ExitCode.DATA, /not a valid identifier/],
    ['an invalid ID to delete', ['devices', 'delete', '*'], ExitCode.DATA, /not a valid identifier/],
    ['an unknown option', ['devices', 'add', 'd-1', '--colour', 'red'], ExitCode.USAGE, /unknown option/],
    ['a missing argument', ['keys', 'show'], ExitCode.USAGE, /missing required argument/],
    ['an unknown subcommand', ['keys', 'rotate', 'k-1'], ExitCode.USAGE, /unknown command/],
    ['explain with a bad action', ['explain', 'd-1', 'k-1', 'publish', 'a/b'], ExitCode.USAGE, /pub, sub/],
    ['explain with a bad device ID', ['explain', 'd/1', 'k-1', 'pub', 'a/b'], ExitCode.DATA, /device ID/],
    ['a control character', ['devices', 'add', 'd-1', '--tags', 'a=x\u0007y'], ExitCode.DATA, /tag/],
  ])(
    '%s',
    async (_name, args, status, reason) => {
      expectRefusal(await keygate(args, env), status, reason);
    },
    60_000,
  );

  // Runs after the concurrent group above.
  it('wrote nothing', async () => {
    expect(await keysUnder(prefix)).toEqual([]);
  });
});

describe('keygate import', () => {
  const prefix = uniquePrefix();
  const env = { REDIS_URL: '', KEYGATE_PREFIX: prefix };
  beforeAll(() => {
    env.REDIS_URL = redisUrl();
  });

  it('imports 10,000 devices and keys from JSON, and prints a summary', async () => {
    const devices = Array.from({ length: 10_000 }, (_v, i) => ({
      id: `dev-${i}`,
      tags: `floor=${i % 10},type=sensor`,
      name: `Device ${i}`,
    }));
    const hash = hashSecret('imported-secret');
    const keys = [
      { key: 'k-hashed', secretHash: hash, restrictions: ['floor=3', 'dev-1'], description: 'floor 3' },
      { key: 'k-plain', secret: 'plain-secret', status: 'inactive' },
    ];
    const file = join(tmp, 'fleet.json');
    writeFileSync(file, JSON.stringify({ devices, keys }, null, 1));

    const run = await keygate(['import', file, '--cost', '4'], env);
    expectOk(run);
    expect(run.stdout).toBe(`imported 10000 devices and 2 keys from ${file} (10002 new, 0 replaced)\n`);

    const names = await keysUnder(`${prefix}device:`);
    expect(names).toHaveLength(10_000);
    expect(await redis.hgetall(`${prefix}device:dev-4321`)).toEqual({
      type: 'standalone',
      tags: 'floor=1,type=sensor',
      name: 'Device 4321',
    });
    expect(await redis.hgetall(`${prefix}key:k-hashed`)).toMatchObject({
      secret: hash,
      status: 'active',
      restrictions: 'floor=3,dev-1',
      description: 'floor 3',
    });
    const plain = await redis.hgetall(`${prefix}key:k-plain`);
    expect(plain.status).toBe('inactive');
    expect(plain.secret).toMatch(/^\$2b\$04\$/);
    expect(bcrypt.compareSync('plain-secret', plain.secret as string)).toBe(true);
    expect(JSON.stringify(plain)).not.toContain('plain-secret');

    // Importing again replaces the records whole.
    const again = await keygate(['import', file, '--cost', '4'], env);
    expectOk(again);
    expect(again.stdout).toContain('(0 new, 10002 replaced)');
  }, 60_000);

  it('refuses a CSV with bad rows: every bad row by line number, nothing written, exit 65', async () => {
    const file = join(tmp, 'bad.csv');
    writeFileSync(
      file,
      [
        'kind,id,tags,type,gateway,name,secretHash,restrictions',
        'device,csv-1,"floor=3,type=x",,,Device one,,',
        'device,csv 2,,,,,,',
        `key,k-csv,,,,,${hashSecret('s')},"csv-1,floor=3"`,
        'device,csv-3,"floor=3,,x=1",,,,,',
        'device,csv-4,,gateway,,"a name, with a comma",,',
        '',
      ].join('\n'),
    );
    const run = await keygate(['import', file], env);
    expect(run.status).toBe(ExitCode.DATA);
    expect(run.stdout).toBe('');
    const lines = run.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^keygate: .*bad\.csv: line 3: device ID "csv 2" is not a valid identifier/);
    expect(lines[1]).toMatch(/^keygate: .*bad\.csv: line 5: tags: /);
    expect(lines[2]).toBe(`keygate: import file has errors, nothing was imported: 2 bad records in ${file}`);
    expect(await redis.exists(`${prefix}device:csv-1`, `${prefix}device:csv-4`, `${prefix}key:k-csv`)).toBe(
      0,
    );
  });

  it('imports a good CSV (quoted fields, CRLF line ends)', async () => {
    const file = join(tmp, 'good.csv');
    writeFileSync(
      file,
      [
        'kind,id,tags,type,gateway,name,secretHash,restrictions',
        'device,csv-1,"floor=3,type=x",,,"Device ""one""",,',
        'device,csv-7,,peripheral,gw-1,,,',
        `key,k-csv,,,,,${hashSecret('s')},"csv-1,floor=3"`,
        '',
      ].join('\r\n'),
    );
    const run = await keygate(['import', file], env);
    expectOk(run);
    expect(run.stdout).toContain('imported 2 devices and 1 key');
    expect(await redis.hgetall(`${prefix}device:csv-1`)).toEqual({
      type: 'standalone',
      tags: 'floor=3,type=x',
      name: 'Device "one"',
    });
    expect(await redis.hget(`${prefix}device:csv-7`, 'gateway')).toBe('gw-1');
    expect(await redis.hget(`${prefix}key:k-csv`, 'restrictions')).toBe('csv-1,floor=3');
  });

  it('refuses bad JSON items with their index and line, and a malformed file', async () => {
    const file = join(tmp, 'bad.json');
    writeFileSync(
      file,
      '{"devices": [\n  {"id": "ok-1"},\n  {"id": "x", "type": "robot"}\n],\n "keys": [{"key": "k-1", "secretHash": "nope"}]}',
    );
    const run = await keygate(['import', file], env);
    expect(run.status).toBe(ExitCode.DATA);
    expect(run.stderr).toContain('devices[1] (line 3): type "robot" is not one of');
    expect(run.stderr).toContain('keys[0] (line 5): secretHash is not a bcrypt hash');
    expect(await redis.exists(`${prefix}device:ok-1`)).toBe(0);

    writeFileSync(file, '{"devices": [');
    expect((await keygate(['import', file], env)).status).toBe(ExitCode.DATA);
    expectRefusal(await keygate(['import', join(tmp, 'missing.json')], env), ExitCode.DATA, /cannot read/);
  });

  // `script` (util-linux) runs the CLI on a pseudo-terminal.
  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('shows a progress bar on a terminal', () => {
    const file = join(tmp, 'tty.json');
    writeFileSync(file, JSON.stringify({ devices: [{ id: 'tty-1' }, { id: 'tty-2' }] }));
    const result = spawnSync('script', ['-qec', `${process.execPath} ${BIN} import ${file}`, '/dev/null'], {
      env: { ...process.env, ...env },
      timeout: 30_000,
    });
    const output = result.stdout.toString();
    expect(result.status).toBe(0);
    expect(output).toContain('importing [');
    expect(output).toContain('imported 2 devices and 0 keys');
  });
});

describe('keygate explain', () => {
  const prefix = uniquePrefix();
  const env = { REDIS_URL: '', KEYGATE_PREFIX: prefix };
  beforeAll(async () => {
    env.REDIS_URL = redisUrl();
    await redis.hset(`${prefix}device:thermo-1`, { tags: 'floor=3' });
    await redis.hset(`${prefix}device:thermo-2`, { tags: 'floor=3' });
    await redis.hset(`${prefix}device:thermo-9`, { tags: 'floor=9' });
    await redis.hset(`${prefix}key:k-1`, { secret: hashSecret('s'), restrictions: 'floor=3' });
  });

  it('allowed: a device watching another device of its scope (exit 0, the rule named)', async () => {
    const run = await keygate(['explain', 'thermo-1', 'k-1', 'sub', 'losant/thermo-2/state'], env);
    expectOk(run);
    expect(run.stdout).toMatch(/^connect: allowed: /m);
    expect(run.stdout).toMatch(
      /^subscribe losant\/thermo-2\/state: allowed: scope-state-command \(thermo-2 is in the scope of key k-1/m,
    );
  });

  it('refused: a device out of the scope (exit 2, the rule named), also as JSON', async () => {
    const run = await keygate(['explain', 'thermo-1', 'k-1', 'sub', 'losant/thermo-9/state'], env);
    expect(run.status).toBe(ExitCode.REFUSED);
    expect(run.stdout).toMatch(/^subscribe losant\/thermo-9\/state: refused: out-of-scope \(/m);

    const json = await keygate(
      ['explain', 'thermo-1', 'k-1', 'pub', 'losant/thermo-2/command', '--json'],
      env,
    );
    expect(json.status).toBe(ExitCode.REFUSED);
    expect(JSON.parse(json.stdout)).toMatchObject({
      device: 'thermo-1',
      key: 'k-1',
      action: 'publish',
      topic: 'losant/thermo-2/command',
      connect: { allowed: true, connack: 0 },
      decision: { allowed: false, rule: 'not-controlled' },
      allowed: false,
    });
  });

  it('refused at CONNECT: out of scope (5), unknown key (4)', async () => {
    const outOfScope = await keygate(
      ['explain', 'thermo-9', 'k-1', 'pub', 'losant/thermo-9/state', '--json'],
      env,
    );
    expect(outOfScope.status).toBe(ExitCode.REFUSED);
    expect(JSON.parse(outOfScope.stdout)).toMatchObject({
      connect: { allowed: false, rule: 'KG_ERR_DEVICE_OUT_OF_SCOPE', connack: 5 },
      decision: { allowed: true, rule: 'own-device' },
      allowed: false,
    });
    const unknown = await keygate(['explain', 'thermo-1', 'k-none', 'pub', 'losant/thermo-1/state'], env);
    expect(unknown.status).toBe(ExitCode.REFUSED);
    expect(unknown.stdout).toMatch(
      /^connect: refused: KG_ERR_BAD_CREDENTIALS \(no access key k-none; CONNACK 4\)/m,
    );
  });
});

describe('Redis unreachable, help', () => {
  it('exits 69 quickly with one line naming the URL without its password', async () => {
    const env = { REDIS_URL: 'redis://:hunter2@127.0.0.1:1', KEYGATE_PREFIX: uniquePrefix() };
    for (const args of [
      ['keys', 'list'],
      ['devices', 'add', 'd-1'],
      ['import', '-'],
    ]) {
      const run = await keygate(args, env, '{"devices": [{"id": "d-1"}]}');
      expectRefusal(
        run,
        ExitCode.UNAVAILABLE,
        /^keygate: cannot reach Redis: redis:\/\/:\*\*\*@127\.0\.0\.1:1 /,
      );
      expect(run.stderr).not.toContain('hunter2');
      // Fail fast, not hang: ioredis' defaults would queue the command and retry for ever. (Most of this
      // bound is Node's start-up on a loaded machine; the refusal itself is immediate.)
      expect(run.ms).toBeLessThan(8000);
    }
  });

  it('--help works for every command', async () => {
    const env = { REDIS_URL: 'redis://127.0.0.1:1' };
    const commands = [
      ['keys'],
      ['keys', 'create'],
      ['keys', 'list'],
      ['keys', 'show'],
      ['keys', 'activate'],
      ['keys', 'deactivate'],
      ['keys', 'delete'],
      ['devices'],
      ['devices', 'add'],
      ['devices', 'tag'],
      ['devices', 'list'],
      ['devices', 'show'],
      ['devices', 'delete'],
      ['import'],
      ['explain'],
    ];
    const runs = await Promise.all(commands.map((command) => keygate([...command, '--help'], env)));
    runs.forEach((run, i) => {
      expectOk(run);
      expect(run.stdout).toContain(`Usage: keygate ${(commands[i] as string[]).join(' ')}`);
    });
  }, 60_000);
});
