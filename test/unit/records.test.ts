import { describe, expect, it } from 'vitest';
import { UNRESTRICTED } from '../../src/policy/restrictions.js';
import {
  isBcryptHash,
  parseDeviceRecord,
  parseKeyRecord,
  parseSecretHash,
  type RedisHash,
} from '../../src/store/records.js';

/** Salt (22) + hash (31) of a real bcryptjs hash, in bcrypt's base64 alphabet. */
const BODY = 'Cy3rPZ7nVtIbHjNfpej14upytZLDXqCplKx/kJzW9yCQRutPRIUda';
const HASH = `$2b$10$${BODY}`;

describe('bcrypt fixture', () => {
  it('is 53 characters of body and 60 in all', () => {
    expect(BODY).toHaveLength(53);
    expect(HASH).toHaveLength(60);
  });
});

describe('isBcryptHash', () => {
  it.each([
    ['$2a$', `$2a$10$${BODY}`],
    ['$2b$', `$2b$10$${BODY}`],
    ['$2y$', `$2y$10$${BODY}`],
    ['cost 04', `$2b$04$${BODY}`],
    ['cost 09', `$2b$09$${BODY}`],
    ['cost 12', `$2b$12$${BODY}`],
    ['cost 19', `$2b$19$${BODY}`],
    ['cost 20', `$2b$20$${BODY}`],
    ['cost 29', `$2b$29$${BODY}`],
    ['cost 30', `$2b$30$${BODY}`],
    ['cost 31', `$2b$31$${BODY}`],
    ['body of dots and slashes', `$2b$10$${'./'.repeat(26)}.`],
    ['real bcryptjs hash', '$2b$04$P7ySHL3CM3Mwje/US.jWJufaLrqRTqc2tj7O6FjxcBMLtER5JI2qS'],
  ])('accepts %s', (_label, value) => {
    expect(isBcryptHash(value)).toBe(true);
  });

  it.each<[string, string | undefined]>([
    ['undefined', undefined],
    ['empty', ''],
    ['plain text secret', 'hunter2'],
    ['$2x$ (the buggy-crypt_blowfish variant)', `$2x$10$${BODY}`],
    ['$2$ (no minor version)', `$2$10$${BODY}`],
    ['$2c$', `$2c$10$${BODY}`],
    ['$2A$ (upper case)', `$2A$10$${BODY}`],
    ['$2B$ (upper case)', `$2B$10$${BODY}`],
    ['$1$ (md5-crypt)', `$1$10$${BODY}`],
    ['$3$', `$3$10$${BODY}`],
    ['$5$ (sha256-crypt)', `$5$10$${BODY}`],
    ['$6$ (sha512-crypt)', `$6$10$${BODY}`],
    ['$argon2id$', '$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA'],
    ['cost 00', `$2b$00$${BODY}`],
    ['cost 01', `$2b$01$${BODY}`],
    ['cost 03', `$2b$03$${BODY}`],
    ['cost 32', `$2b$32$${BODY}`],
    ['cost 39', `$2b$39$${BODY}`],
    ['cost 99', `$2b$99$${BODY}`],
    ['one-digit cost', `$2b$4$${BODY}`],
    ['three-digit cost', `$2b$010$${BODY}`],
    ['cost with a letter', `$2b$1a$${BODY}`],
    ['missing cost', `$2b$$${BODY}`],
    ['body of 52 characters (59 in all)', `$2b$10$${BODY.slice(1)}`],
    ['body of 54 characters (61 in all)', `$2b$10$${BODY}a`],
    ['no body', '$2b$10$'],
    ['body with +', `$2b$10$${BODY.slice(0, 52)}+`],
    ['body with =', `$2b$10$${BODY.slice(0, 52)}=`],
    ['body with a space', `$2b$10$${BODY.slice(0, 52)} `],
    ['body with $', `$2b$10$${BODY.slice(0, 52)}$`],
    ['body with non-ASCII', `$2b$10$${BODY.slice(0, 52)}\u00e9`],
    ['leading space', ` $2b$10$${BODY}`],
    ['trailing space', `$2b$10$${BODY} `],
    ['trailing newline', `$2b$10$${BODY}\n`],
    ['trailing CRLF', `$2b$10$${BODY}\r\n`],
    ['leading newline', `\n$2b$10$${BODY}`],
    ['trailing NUL', `$2b$10$${BODY}\u0000`],
    ['no leading $', `2b$10$${BODY}`],
    ['missing $ before the body', `$2b$10${BODY}`],
    ['quoted (redis-cli quoting mistake)', `'$2b$10$${BODY}'`],
    ['two hashes', `$2b$10$${BODY}$2b$10$${BODY}`],
  ])('refuses %s', (_label, value) => {
    expect(isBcryptHash(value)).toBe(false);
  });
});

describe('parseSecretHash', () => {
  it.each<[string, RedisHash]>([
    ['only a secret', { secret: HASH }],
    ['a full key', { secret: HASH, status: 'active', restrictions: 'thermo-1', description: 'x' }],
    ['an inactive key (status is not the secret’s business)', { secret: HASH, status: 'inactive' }],
    ['a key with malformed other fields', { secret: HASH, status: 'bogus', restrictions: ',' }],
  ])('returns the hash for %s', (_label, hash) => {
    expect(parseSecretHash(hash)).toEqual({ ok: true, value: HASH });
  });

  it.each<[string, RedisHash, string]>([
    ['no fields (missing key)', {}, 'field "secret" is missing'],
    ['no secret field', { status: 'active' }, 'field "secret" is missing'],
    ['Secret (wrong case)', { Secret: HASH }, 'field "secret" is missing'],
    ['empty secret', { secret: '' }, 'field "secret" is not a bcrypt hash'],
    ['plain text secret', { secret: 'hunter2' }, 'field "secret" is not a bcrypt hash'],
    ['$2x$ secret', { secret: `$2x$10$${BODY}` }, 'field "secret" is not a bcrypt hash'],
    ['cost 03', { secret: `$2b$03$${BODY}` }, 'field "secret" is not a bcrypt hash'],
    ['cost 32', { secret: `$2b$32$${BODY}` }, 'field "secret" is not a bcrypt hash'],
    ['truncated', { secret: HASH.slice(0, 59) }, 'field "secret" is not a bcrypt hash'],
    ['trailing newline', { secret: `${HASH}\n` }, 'field "secret" is not a bcrypt hash'],
  ])('refuses %s', (_label, hash, problem) => {
    const parsed = parseSecretHash(hash);
    expect(parsed).toEqual({ ok: false, problem });
  });

  it('never puts the stored value in the problem text', () => {
    const parsed = parseSecretHash({ secret: 'plaintext-secret-123' });
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).not.toContain('plaintext-secret-123');
  });
});

describe('parseKeyRecord: status', () => {
  it.each<[string, string | undefined, boolean]>([
    ['missing = active', undefined, true],
    ['active', 'active', true],
    ['inactive', 'inactive', false],
  ])('%s', (_label, status, active) => {
    const hash: RedisHash = { secret: HASH };
    if (status !== undefined) hash.status = status;
    const parsed = parseKeyRecord(hash);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.value.active).toBe(active);
  });

  it.each([
    ['empty', ''],
    ['blank', ' '],
    ['Active', 'Active'],
    ['ACTIVE', 'ACTIVE'],
    ['Inactive', 'Inactive'],
    ['leading space', ' active'],
    ['trailing space', 'active '],
    ['trailing newline', 'active\n'],
    ['disabled', 'disabled'],
    ['enabled', 'enabled'],
    ['true', 'true'],
    ['false', 'false'],
    ['1', '1'],
    ['0', '0'],
    ['deleted', 'deleted'],
    ['active with NUL', 'active\u0000'],
  ])('refuses status %s', (_label, status) => {
    expect(parseKeyRecord({ secret: HASH, status })).toEqual({
      ok: false,
      problem: 'field "status" is neither "active" nor "inactive"',
    });
  });
});

describe('parseKeyRecord: restrictions', () => {
  it.each<[string, string | undefined]>([
    ['missing', undefined],
    ['empty', ''],
  ])('%s restrictions are unrestricted', (_label, restrictions) => {
    const hash: RedisHash = { secret: HASH };
    if (restrictions !== undefined) hash.restrictions = restrictions;
    const parsed = parseKeyRecord(hash);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.value.scope).toBe(UNRESTRICTED);
  });

  it('keeps parsed restrictions', () => {
    const parsed = parseKeyRecord({ secret: HASH, restrictions: 'thermo-1,floor=3,type=*' });
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.scope.unrestricted).toBe(false);
    expect(parsed.value.scope.deviceId).toBe('thermo-1');
    expect([...(parsed.value.scope.tagValues.get('floor') ?? [])]).toEqual(['3']);
    expect([...parsed.value.scope.anyValueTagKeys]).toEqual(['type']);
  });

  it.each([
    [','],
    [' , '],
    ['thermo-1,'],
    [',thermo-1'],
    ['a,,b'],
    ['='],
    ['floor='],
    ['=3'],
    ['a/b'],
    ['*'],
  ])('refuses malformed restrictions %j (never unrestricted)', (restrictions) => {
    const parsed = parseKeyRecord({ secret: HASH, restrictions });
    expect(parsed.ok).toBe(false);
  });

  it('refuses malformed restrictions even on an inactive key', () => {
    expect(parseKeyRecord({ status: 'inactive', restrictions: ',' }).ok).toBe(false);
  });
});

describe('parseKeyRecord: topicFilter', () => {
  it.each<[string | undefined, string]>([
    [undefined, 'none'],
    ['none', 'none'],
    ['all', 'all'],
    ['allow', 'allow'],
    ['deny', 'deny'],
  ])('topicFilter %j → %s', (topicFilter, expected) => {
    const hash: RedisHash = { secret: HASH };
    if (topicFilter !== undefined) hash.topicFilter = topicFilter;
    const parsed = parseKeyRecord(hash);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(parsed.value.topicFilter).toBe(expected);
  });

  it.each([
    [''],
    [' '],
    ['None'],
    ['ALL'],
    ['Allow'],
    ['DENY'],
    ['all '],
    [' none'],
    ['any'],
    ['whitelist'],
    ['*'],
  ])('refuses topicFilter %j', (topicFilter) => {
    expect(parseKeyRecord({ secret: HASH, topicFilter })).toEqual({
      ok: false,
      problem: 'field "topicFilter" is not one of none, all, allow, deny',
    });
  });
});

describe('parseKeyRecord: pubTopics / subTopics', () => {
  it.each<[string, string | undefined, string[]]>([
    ['missing', undefined, []],
    ['empty', '', []],
    ['blank', '  ', []],
    ['one topic', 'a/b', ['a/b']],
    ['one filter', 'a/+/c', ['a/+/c']],
    ['several', 'a/b,c/#,+/d', ['a/b', 'c/#', '+/d']],
    ['whitespace around entries', ' a/b , c/# ', ['a/b', 'c/#']],
    ['#', '#', ['#']],
    ['+', '+', ['+']],
    ['$SYS is a valid filter (reserved-ness is decided elsewhere)', '$SYS/#', ['$SYS/#']],
    ['space inside a level', 'a b/c', ['a b/c']],
    ['1024-byte filter', 'f'.repeat(1024), ['f'.repeat(1024)]],
  ])('%s: %j', (_label, raw, expected) => {
    for (const field of ['pubTopics', 'subTopics'] as const) {
      const hash: RedisHash = { secret: HASH, topicFilter: 'allow' };
      if (raw !== undefined) hash[field] = raw;
      const parsed = parseKeyRecord(hash);
      expect(parsed.ok).toBe(true);
      if (!parsed.ok) continue;
      expect(parsed.value[field]).toEqual(expected);
      expect(parsed.value[field === 'pubTopics' ? 'subTopics' : 'pubTopics']).toEqual([]);
    }
  });

  it.each([
    ['a+/b'],
    ['a#'],
    ['a/#/b'],
    ['#/a'],
    ['++'],
    ['a/b,'],
    [',a/b'],
    [','],
    ['a/b,,c/d'],
    ['a/b, ,c/d'],
    ['a/b,c+'],
    ['a/\u0000'],
    ['a/\ufffd'],
    ['a/\tb'],
    ['f'.repeat(1025)],
  ])('refuses invalid filter list %j', (raw) => {
    for (const field of ['pubTopics', 'subTopics'] as const) {
      expect(parseKeyRecord({ secret: HASH, topicFilter: 'deny', [field]: raw })).toEqual({
        ok: false,
        problem: `field "${field}" has an invalid filter`,
      });
    }
  });

  it('validates topic lists even when topicFilter does not use them', () => {
    expect(parseKeyRecord({ secret: HASH, topicFilter: 'none', pubTopics: 'a#' }).ok).toBe(false);
    expect(parseKeyRecord({ secret: HASH, subTopics: 'a/#/b' }).ok).toBe(false);
  });
});

describe('parseKeyRecord: the whole record', () => {
  it('parses a minimal key with defaults', () => {
    expect(parseKeyRecord({ secret: HASH })).toEqual({
      ok: true,
      value: { active: true, scope: UNRESTRICTED, topicFilter: 'none', pubTopics: [], subTopics: [] },
    });
  });

  it('ignores description, createdAt and unknown fields', () => {
    const parsed = parseKeyRecord({
      secret: HASH,
      description: 'any text, even , and = and \u0000',
      createdAt: 'not a date',
      somethingElse: 'x',
    });
    expect(parsed.ok).toBe(true);
  });

  it('does not need the secret (it is read apart)', () => {
    expect(parseKeyRecord({}).ok).toBe(true);
  });

  it('does not expose the secret hash', () => {
    const parsed = parseKeyRecord({ secret: HASH });
    expect(JSON.stringify(parsed)).not.toContain(BODY);
  });

  it.each<[string, RedisHash]>([
    ['bad status, good rest', { status: 'on', restrictions: 'a', topicFilter: 'all' }],
    ['bad restrictions, good rest', { status: 'active', restrictions: 'a,', topicFilter: 'all' }],
    ['bad topicFilter, good rest', { status: 'active', restrictions: 'a', topicFilter: 'yes' }],
    ['bad pubTopics, good rest', { status: 'active', topicFilter: 'allow', pubTopics: 'a#' }],
    ['bad subTopics, good rest', { status: 'active', topicFilter: 'allow', subTopics: 'a#' }],
  ])('one unparseable field makes the key unusable: %s', (_label, hash) => {
    expect(parseKeyRecord({ secret: HASH, ...hash }).ok).toBe(false);
  });
});

describe('parseDeviceRecord: tags', () => {
  it.each<[string, string | undefined, Record<string, string[]>]>([
    ['missing', undefined, {}],
    ['empty', '', {}],
    ['SPEC example', 'floor=3,type=sensor', { floor: ['3'], type: ['sensor'] }],
    ['several values of one key', 'floor=3,floor=4,type=sensor', { floor: ['3', '4'], type: ['sensor'] }],
    ['value literally *', 'floor=*', { floor: ['*'] }],
  ])('%s: %j', (_label, tags, expected) => {
    const hash: RedisHash = {};
    if (tags !== undefined) hash.tags = tags;
    const parsed = parseDeviceRecord('thermo-1', hash);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    const actual: Record<string, string[]> = {};
    for (const [key, values] of parsed.value.tags) actual[key] = [...values];
    expect(actual).toEqual(expected);
  });

  it.each([[','], ['floor=3,'], ['floor'], ['=3'], ['floor='], ['a.b=1'], ['k=a\u0000'], ['k=\ufffd']])(
    'refuses malformed tags %j',
    (tags) => {
      expect(parseDeviceRecord('thermo-1', { tags }).ok).toBe(false);
    },
  );
});

describe('parseDeviceRecord: type and gateway', () => {
  it.each<[string, RedisHash, string, string]>([
    // [label, hash, expected type, expected gateway]
    ['no fields', {}, 'standalone', '*'],
    ['standalone', { type: 'standalone' }, 'standalone', '*'],
    ['gateway', { type: 'gateway' }, 'gateway', '*'],
    ['peripheral, gateway missing (any gateway)', { type: 'peripheral' }, 'peripheral', '*'],
    ['peripheral, gateway *', { type: 'peripheral', gateway: '*' }, 'peripheral', '*'],
    ['peripheral, gateway ID', { type: 'peripheral', gateway: 'gw-1' }, 'peripheral', 'gw-1'],
    [
      'peripheral, gateway ID with . and :',
      { type: 'peripheral', gateway: 'o:gw.1' },
      'peripheral',
      'o:gw.1',
    ],
    [
      'peripheral, gateway ID of 128 chars',
      { type: 'peripheral', gateway: 'g'.repeat(128) },
      'peripheral',
      'g'.repeat(128),
    ],
    ['peripheral of itself', { type: 'peripheral', gateway: 'thermo-1' }, 'peripheral', 'thermo-1'],
  ])('%s', (_label, hash, type, gateway) => {
    const parsed = parseDeviceRecord('thermo-1', hash);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.id).toBe('thermo-1');
    expect(parsed.value.type).toBe(type);
    expect(parsed.value.gateway).toBe(gateway);
  });

  it.each([
    [''],
    [' '],
    ['Standalone'],
    ['GATEWAY'],
    ['Peripheral'],
    ['gateway '],
    ['sensor'],
    ['edge'],
    ['*'],
  ])('refuses type %j', (type) => {
    expect(parseDeviceRecord('d', { type })).toEqual({
      ok: false,
      problem: 'field "type" is not one of standalone, gateway, peripheral',
    });
  });

  it.each([
    ['empty', ''],
    ['blank', ' '],
    ['padded *', ' * '],
    ['**', '**'],
    ['slash', 'gw/1'],
    ['plus', '+'],
    ['hash', '#'],
    ['space inside', 'gw 1'],
    ['NUL', 'gw\u0000'],
    ['U+FFFD', 'gw\ufffd'],
    ['non-ASCII', 'gw\u00e9'],
    ['129 characters', 'g'.repeat(129)],
    ['comma list', 'gw-1,gw-2'],
  ])('refuses a peripheral whose gateway is %s', (_label, gateway) => {
    expect(parseDeviceRecord('d', { type: 'peripheral', gateway })).toEqual({
      ok: false,
      problem: 'field "gateway" is neither a device ID nor "*"',
    });
  });

  it('parses a full device record', () => {
    const parsed = parseDeviceRecord('p-1', {
      tags: 'floor=3',
      type: 'peripheral',
      gateway: 'gw-1',
      name: 'Thermometer, living room',
    });
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value).toMatchObject({ id: 'p-1', type: 'peripheral', gateway: 'gw-1' });
    expect([...(parsed.value.tags.get('floor') ?? [])]).toEqual(['3']);
  });

  it.each<[string, RedisHash]>([
    ['bad tags, good type', { tags: 'floor', type: 'gateway' }],
    ['good tags, bad type', { tags: 'floor=3', type: 'hub' }],
    ['good tags and type, bad gateway', { tags: 'floor=3', type: 'peripheral', gateway: 'a/b' }],
  ])('one unparseable field makes the device unusable: %s', (_label, hash) => {
    expect(parseDeviceRecord('d', hash).ok).toBe(false);
  });
});

describe('parseDeviceRecord: a present but unparseable gateway denies whatever the type', () => {
  it.each(['standalone', 'gateway', 'peripheral'])('type %s with gateway "a/b"', (type) => {
    expect(parseDeviceRecord('d', { type, gateway: 'a/b' }).ok).toBe(false);
  });
});
