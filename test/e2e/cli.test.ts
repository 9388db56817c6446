import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import bcrypt from 'bcryptjs';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { repoRoot } from '../support/build.js';

const BIN = join(repoRoot, 'bin', 'keygate.js');

interface Run {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the built CLI through its package bin, as `keygate <args>` with `input` on stdin. */
function keygate(args: readonly string[], input: string | Buffer = ''): Run {
  const result = spawnSync(process.execPath, [BIN, ...args], { input, cwd: repoRoot, timeout: 15_000 });
  return { status: result.status, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** A refusal: the exit code, exactly one `keygate: ...` line on stderr, nothing on stdout. */
function expectRefusal(run: Run, status: number): void {
  expect(run.status).toBe(status);
  expect(run.stdout).toBe('');
  expect(run.stderr).toMatch(/^keygate: [^\n]+\n$/);
}

describe('keygate hash-secret', () => {
  it('prints a cost-10 $2b$ hash that verifies against the secret, and nothing else', () => {
    const run = keygate(['hash-secret'], 's3cret-Ünïcødé');
    expect(run.status).toBe(0);
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^\$2b\$10\$[./A-Za-z0-9]{53}\n$/);
    expect(bcrypt.compareSync('s3cret-Ünïcødé', run.stdout.trimEnd())).toBe(true);
  });

  it('--cost 4 gives a cost-4 hash', () => {
    const run = keygate(['hash-secret', '--cost', '4'], 'abc');
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^\$2b\$04\$/);
    expect(bcrypt.compareSync('abc', run.stdout.trimEnd())).toBe(true);
  });

  it.each([
    ['\n', 'secret\n', 'secret'],
    ['\r\n', 'secret\r\n', 'secret'],
    ['only one \n', 'secret\n\n', 'secret\n'],
    ['only one \r\n', 'secret\r\n\r\n', 'secret\r\n'],
    ['no lone \r', 'secret\r', 'secret\r'],
  ])('strips exactly one trailing line ending (%s)', (_name, input, secret) => {
    const run = keygate(['hash-secret', '--cost', '4'], input);
    expect(run.status).toBe(0);
    const hash = run.stdout.trimEnd();
    expect(bcrypt.compareSync(secret, hash)).toBe(true);
    expect(bcrypt.compareSync(secret === 'secret' ? 'secret\n' : 'secret', hash)).toBe(false);
  });

  it('accepts a 72-byte secret', () => {
    const secret = 'é'.repeat(36); // 72 bytes in UTF-8
    const run = keygate(['hash-secret', '--cost', '4'], `${secret}\n`);
    expect(run.status).toBe(0);
    expect(bcrypt.compareSync(secret, run.stdout.trimEnd())).toBe(true);
  });

  it.each([
    ['an empty secret', '', /empty/],
    ['a lone newline', '\n', /empty/],
    ['a 73-byte secret', 'a'.repeat(73), /73 bytes.*72/],
    ['a 73-byte secret in multi-byte characters', `${'é'.repeat(36)}a`, /73 bytes.*72/],
    ['a huge input', 'a'.repeat(200_000), /72/],
    ['invalid UTF-8', Buffer.from([0x61, 0xff, 0xfe, 0x62]), /UTF-8/],
    ['a NUL character', 'ab\u0000cd', /NUL/],
  ])('refuses %s with exit 65 (DATA)', (_name, input, reason) => {
    const run = keygate(['hash-secret', '--cost', '4'], input);
    expectRefusal(run, ExitCode.DATA);
    expect(run.stderr).toMatch(reason);
  });

  it.each([['3'], ['16'], ['abc'], ['10.5'], ['']])('refuses --cost %j with exit 64 (USAGE)', (cost) => {
    const run = keygate(['hash-secret', '--cost', cost], 'secret');
    expectRefusal(run, ExitCode.USAGE);
    expect(run.stderr).toMatch(/cost/);
  });

  it('refuses an unknown flag and an extra argument with exit 64', () => {
    expectRefusal(keygate(['hash-secret', '--costt', '4'], 'secret'), ExitCode.USAGE);
    expectRefusal(keygate(['hash-secret', 'secret'], 'secret'), ExitCode.USAGE);
  });

  it('--help exits 0 and documents the command', () => {
    const run = keygate(['hash-secret', '--help']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('--cost');
    expect(run.stdout).toContain('72');
    expect(run.stderr).toBe('');
  });

  // `script` (util-linux) runs the CLI on a pseudo-terminal.
  const hasScript = spawnSync('script', ['--version']).status === 0;
  it.skipIf(!hasScript)('prompts on stderr when stdin is a terminal, and reads one line', () => {
    const result = spawnSync(
      'script',
      ['-qec', `${process.execPath} ${BIN} hash-secret --cost 4`, '/dev/null'],
      {
        input: 'tty-secret\n',
        timeout: 15_000,
      },
    );
    const output = result.stdout.toString();
    expect(result.status).toBe(0);
    expect(output).toContain('Secret: ');
    const hash = output.match(/\$2b\$04\$[./A-Za-z0-9]{53}/)?.[0] ?? '';
    expect(bcrypt.compareSync('tty-secret', hash)).toBe(true);
  });
});

describe('keygate', () => {
  it('--help exits 0 and lists hash-secret', () => {
    const run = keygate(['--help']);
    expect(run.status).toBe(0);
    expect(run.stdout).toContain('hash-secret');
    expect(run.stderr).toBe('');
  });

  it('refuses an unknown command with exit 64 and one line', () => {
    const run = keygate(['hash-secrets']);
    expectRefusal(run, ExitCode.USAGE);
    expect(run.stderr).toContain("unknown command 'hash-secrets'");
  });

  it('refuses an unknown option with exit 64 and one line', () => {
    expectRefusal(keygate(['--frobnicate']), ExitCode.USAGE);
  });

  it('with no command, prints the help on stderr and exits 64', () => {
    const run = keygate([]);
    expect(run.status).toBe(ExitCode.USAGE);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain('hash-secret');
  });

  it('bin/keygate.js is executable on its own (shebang and mode)', () => {
    const result = spawnSync(BIN, ['--version'], { cwd: repoRoot });
    expect(result.status).toBe(0);
    expect(result.stdout.toString()).toMatch(/^\d+\.\d+\.\d+\n$/);
  });
});
