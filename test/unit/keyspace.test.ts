import { describe, expect, it } from 'vitest';
import { DEFAULT_PREFIX, Keyspace } from '../../src/store/keyspace.js';

/** Redis glob matching (stringmatchlen) for the subset keygate uses: `*`, `?`, `[...]` and `\` escapes. */
function redisGlobToRegExp(pattern: string): RegExp {
  let out = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === '\\' && i + 1 < pattern.length) {
      i++;
      out += (pattern[i] as string).replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    } else if (c === '*') out += '[\\s\\S]*';
    else if (c === '?') out += '[\\s\\S]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      out += `[${pattern.slice(i + 1, end).replace(/\\/g, '\\\\')}]`;
      i = end;
    } else out += c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  }
  return new RegExp(`^${out}$`);
}

describe('Keyspace: key names (public Redis layout)', () => {
  it('defaults to the keygate: prefix', () => {
    expect(DEFAULT_PREFIX).toBe('keygate:');
    const keyspace = new Keyspace();
    expect(keyspace.prefix).toBe('keygate:');
    expect(keyspace.key('k-123')).toBe('keygate:key:k-123');
    expect(keyspace.device('thermo-1')).toBe('keygate:device:thermo-1');
  });

  it.each<[string, string, string, string]>([
    // [prefix, id, key(), device()]
    ['keygate:', 'k-123', 'keygate:key:k-123', 'keygate:device:k-123'],
    ['keygate:', 'a:b.c', 'keygate:key:a:b.c', 'keygate:device:a:b.c'],
    ['keygate:', 'losant', 'keygate:key:losant', 'keygate:device:losant'],
    ['keygate:', 'key', 'keygate:key:key', 'keygate:device:key'],
    ['keygate:', 'device', 'keygate:key:device', 'keygate:device:device'],
    ['kg:', 'x', 'kg:key:x', 'kg:device:x'],
    ['', 'x', 'key:x', 'device:x'],
    ['tenant-1:keygate:', 'x', 'tenant-1:keygate:key:x', 'tenant-1:keygate:device:x'],
    ['a*b:', 'x', 'a*b:key:x', 'a*b:device:x'],
    ['{kg}:', 'x', '{kg}:key:x', '{kg}:device:x'],
  ])('prefix %j, id %j', (prefix, id, key, device) => {
    const keyspace = new Keyspace(prefix);
    expect(keyspace.key(id)).toBe(key);
    expect(keyspace.device(id)).toBe(device);
  });

  it('keeps keys and devices of one ID apart', () => {
    const keyspace = new Keyspace();
    expect(keyspace.key('same')).not.toBe(keyspace.device('same'));
  });
});

describe('Keyspace: SCAN patterns escape glob metacharacters in the prefix', () => {
  it.each<[string, string, string]>([
    // [prefix, keyPattern, devicePattern]
    ['keygate:', 'keygate:key:*', 'keygate:device:*'],
    ['', 'key:*', 'device:*'],
    ['a*b:', 'a\\*b:key:*', 'a\\*b:device:*'],
    ['a?b:', 'a\\?b:key:*', 'a\\?b:device:*'],
    ['[kg]:', '\\[kg\\]:key:*', '\\[kg\\]:device:*'],
    ['a\\b:', 'a\\\\b:key:*', 'a\\\\b:device:*'],
    ['**:', '\\*\\*:key:*', '\\*\\*:device:*'],
    ['{kg}:', '{kg}:key:*', '{kg}:device:*'],
    ['a-b.c:', 'a-b.c:key:*', 'a-b.c:device:*'],
    ['a^b:', 'a^b:key:*', 'a^b:device:*'],
  ])('prefix %j', (prefix, keyPattern, devicePattern) => {
    const keyspace = new Keyspace(prefix);
    expect(keyspace.keyPattern).toBe(keyPattern);
    expect(keyspace.devicePattern).toBe(devicePattern);
  });

  it.each<[string, string, boolean]>([
    // [prefix, candidate Redis key, matched by keyPattern]
    ['keygate:', 'keygate:key:k-1', true],
    ['keygate:', 'keygate:device:k-1', false],
    ['keygate:', 'other:key:k-1', false],
    ['keygate:', 'keygate:key:', true],
    ['a*b:', 'a*b:key:k', true],
    ['a*b:', 'aXXb:key:k', false],
    ['a*b:', 'ab:key:k', false],
    ['a?b:', 'a?b:key:k', true],
    ['a?b:', 'aXb:key:k', false],
    ['[kg]:', '[kg]:key:k', true],
    ['[kg]:', 'k:key:k', false],
    ['[kg]:', 'g:key:k', false],
    ['a\\b:', 'a\\b:key:k', true],
    ['a\\b:', 'ab:key:k', false],
  ])('prefix %j: %j matched = %s', (prefix, candidate, matched) => {
    const keyspace = new Keyspace(prefix);
    expect(redisGlobToRegExp(keyspace.keyPattern).test(candidate)).toBe(matched);
  });

  it.each([['keygate:'], ['a*b:'], ['a?b:'], ['[x]:'], ['a\\b:'], ['']])(
    'with prefix %j, every name key() builds is matched by keyPattern and every device() by devicePattern',
    (prefix) => {
      const keyspace = new Keyspace(prefix);
      for (const id of ['k', 'k-123', 'a:b.c', 'x'.repeat(128)]) {
        expect(redisGlobToRegExp(keyspace.keyPattern).test(keyspace.key(id))).toBe(true);
        expect(redisGlobToRegExp(keyspace.devicePattern).test(keyspace.device(id))).toBe(true);
        expect(redisGlobToRegExp(keyspace.keyPattern).test(keyspace.device(id))).toBe(false);
        expect(redisGlobToRegExp(keyspace.devicePattern).test(keyspace.key(id))).toBe(false);
      }
    },
  );

  it.each([['keygate:'], ['a*b:'], ['[x]:'], ['']])(
    "with prefix %j, an instance's heartbeat canaries start with heartbeatPrefix and match only its pattern",
    (prefix) => {
      const keyspace = new Keyspace(prefix);
      for (const n of [0, 1, 12345]) {
        const canary = keyspace.heartbeat('a1b2', n);
        expect(canary).toBe(`${keyspace.heartbeatPrefix('a1b2')}${n}`);
        expect(redisGlobToRegExp(keyspace.heartbeatPattern('a1b2')).test(canary)).toBe(true);
        expect(redisGlobToRegExp(keyspace.heartbeatPattern('ffff')).test(canary)).toBe(false);
      }
    },
  );
});
