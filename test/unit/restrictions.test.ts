import { describe, expect, it } from 'vitest';
import { parseRestrictions, type Scope, UNRESTRICTED } from '../../src/policy/restrictions.js';

interface PlainScope {
  unrestricted: boolean;
  deviceIds: string[];
  tagValues: Record<string, string[]>;
  anyValueTagKeys: string[];
}

function plain(scope: Scope): PlainScope {
  const tagValues: Record<string, string[]> = {};
  for (const [key, values] of scope.tagValues) tagValues[key] = [...values];
  return {
    unrestricted: scope.unrestricted,
    deviceIds: scope.deviceId === undefined ? [...scope.deviceIds] : [scope.deviceId, ...scope.deviceIds],
    tagValues,
    anyValueTagKeys: [...scope.anyValueTagKeys],
  };
}

function restricted(parts: Partial<Omit<PlainScope, 'unrestricted'>>): PlainScope {
  return { unrestricted: false, deviceIds: [], tagValues: {}, anyValueTagKeys: [], ...parts };
}

describe('parseRestrictions: unrestricted', () => {
  it.each<[string, string | undefined]>([
    ['missing', undefined],
    ['empty', ''],
  ])('%s (%j)', (_label, raw) => {
    const parsed = parseRestrictions(raw);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(parsed.value.unrestricted).toBe(true);
    expect(parsed.value).toBe(UNRESTRICTED);
  });

  it('UNRESTRICTED lists nothing', () => {
    expect(plain(UNRESTRICTED)).toEqual({
      unrestricted: true,
      deviceIds: [],
      tagValues: {},
      anyValueTagKeys: [],
    });
  });
});

describe('parseRestrictions: blanks alone are one empty entry, so malformed (deny), never unrestricted', () => {
  it.each<[string, string]>([
    ['one space', ' '],
    ['several spaces', '   '],
    ['tab', '\t'],
    ['newline', '\n'],
    ['CRLF', '\r\n'],
    ['no-break space', '\u00a0'],
    ['byte-order mark', '\ufeff'],
    ['ideographic space', '\u3000'],
    ['line separator', '\u2028'],
    ['spaces around a no-break space', ' \u00a0 '],
  ])('%s (%j)', (_label, raw) => {
    expect(parseRestrictions(raw).ok).toBe(false);
  });

  it('Unicode whitespace around an entry is not trimmed: the entry is not a valid device ID', () => {
    expect(parseRestrictions('thermo-1\u00a0').ok).toBe(false);
  });
});

describe('parseRestrictions: accepted', () => {
  it.each<[string, string, PlainScope]>([
    ['one device ID', 'thermo-1', restricted({ deviceIds: ['thermo-1'] })],
    ['two device IDs', 'thermo-1,thermo-2', restricted({ deviceIds: ['thermo-1', 'thermo-2'] })],
    ['duplicate device IDs collapse', 'a,a', restricted({ deviceIds: ['a'] })],
    ['device ID with . and :', 'org:site.dev-1', restricted({ deviceIds: ['org:site.dev-1'] })],
    ['device ID of 128 characters', 'd'.repeat(128), restricted({ deviceIds: ['d'.repeat(128)] })],
    [
      'device ID that looks like a topic level',
      'losant,state',
      restricted({ deviceIds: ['losant', 'state'] }),
    ],
    ['one tag', 'floor=3', restricted({ tagValues: { floor: ['3'] } })],
    ['two values of one key', 'floor=3,floor=4', restricted({ tagValues: { floor: ['3', '4'] } })],
    ['duplicate tag collapses', 'floor=3,floor=3', restricted({ tagValues: { floor: ['3'] } })],
    [
      'SPEC example',
      'thermo-1,floor=3',
      restricted({ deviceIds: ['thermo-1'], tagValues: { floor: ['3'] } }),
    ],
    ['key=* is any value', 'floor=*', restricted({ anyValueTagKeys: ['floor'] })],
    ['key= * is any value (whitespace ignored)', 'floor= * ', restricted({ anyValueTagKeys: ['floor'] })],
    [
      'key=* next to a value of the same key',
      'floor=3,floor=*',
      restricted({ tagValues: { floor: ['3'] }, anyValueTagKeys: ['floor'] }),
    ],
    ['key=** is a literal value', 'floor=**', restricted({ tagValues: { floor: ['**'] } })],
    ['key=a* is a literal value', 'floor=a*', restricted({ tagValues: { floor: ['a*'] } })],
    ['value keeps everything after the first =', 'a=b=c', restricted({ tagValues: { a: ['b=c'] } })],
    ['value starting with =', 'a==b', restricted({ tagValues: { a: ['=b'] } })],
    ['value =* is a literal, not any', 'a==*', restricted({ tagValues: { a: ['=*'] } })],
    [
      'whitespace around entries',
      '  thermo-1 , floor=3  ,\ttype=sensor\n',
      restricted({ deviceIds: ['thermo-1'], tagValues: { floor: ['3'], type: ['sensor'] } }),
    ],
    ['whitespace around =', 'floor = 3', restricted({ tagValues: { floor: ['3'] } })],
    ['value with a space inside', 'room=living room', restricted({ tagValues: { room: ['living room'] } })],
    ['non-ASCII value', 'city=M\u00fcnchen', restricted({ tagValues: { city: ['M\u00fcnchen'] } })],
    [
      'case is kept, not folded',
      'Thermo-1,thermo-1,Floor=3,floor=3',
      restricted({ deviceIds: ['Thermo-1', 'thermo-1'], tagValues: { Floor: ['3'], floor: ['3'] } }),
    ],
    [
      'tag key of 255 characters',
      `${'k'.repeat(255)}=v`,
      restricted({ tagValues: { ['k'.repeat(255)]: ['v'] } }),
    ],
    [
      'tag key of 255 characters, any value',
      `${'k'.repeat(255)}=*`,
      restricted({ anyValueTagKeys: ['k'.repeat(255)] }),
    ],
    [
      'tag value of 255 characters',
      `k=${'v'.repeat(255)}`,
      restricted({ tagValues: { k: ['v'.repeat(255)] } }),
    ],
  ])('%s: %j', (_label, raw, expected) => {
    const parsed = parseRestrictions(raw);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(plain(parsed.value)).toEqual(expected);
  });
});

describe('parseRestrictions: malformed means a problem (deny), never unrestricted', () => {
  it.each([
    ['only a comma', ','],
    ['comma with spaces', ' , '],
    ['two commas', ',,'],
    ['leading comma', ',thermo-1'],
    ['trailing comma', 'thermo-1,'],
    ['trailing comma and space', 'thermo-1, '],
    ['double comma', 'thermo-1,,thermo-2'],
    ['double comma with space', 'thermo-1, ,thermo-2'],
    ['only =', '='],
    ['empty key', '=3'],
    ['empty key, any value', '=*'],
    ['empty value', 'floor='],
    ['blank value', 'floor=  '],
    ['empty value after a good entry', 'thermo-1,floor='],
    ['* as a device ID', '*'],
    ['# as a device ID', '#'],
    ['+ as a device ID', '+'],
    ['device ID with a slash', 'a/b'],
    ['device ID with a plus', 'a+b'],
    ['device ID with a hash', 'a#b'],
    ['device ID with a space', 'thermo 1'],
    ['device ID with NUL', 'thermo\u00001'],
    ['device ID with tab', 'thermo\t1'],
    ['device ID with U+FFFD', 'thermo\ufffd'],
    ['device ID with non-ASCII', 'caf\u00e9'],
    ['device ID with dollar', '$SYS'],
    ['device ID of 129 characters', 'd'.repeat(129)],
    ['bad device ID after good ones', 'a,b,c/d'],
    ['tag key with a dot', 'a.b=1'],
    ['tag key with a colon', 'a:b=1'],
    ['tag key with a space', 'fl oor=3'],
    ['tag key with a slash', 'a/b=1'],
    ['tag key *', '*=*'],
    ['tag key with U+FFFD', 'k\ufffd=1'],
    ['tag key of 256 characters', `${'k'.repeat(256)}=v`],
    ['tag key of 256 characters, any value', `${'k'.repeat(256)}=*`],
    ['tag value of 256 characters', `k=${'v'.repeat(256)}`],
    ['tag value with NUL', 'k=a\u0000'],
    ['tag value with tab inside', 'k=a\tb'],
    ['tag value with newline inside', 'k=a\nb'],
    ['tag value with escape', 'k=\u001b[0m'],
    ['tag value with DEL', 'k=\u007f'],
    ['tag value with U+FFFD', 'k=\ufffd'],
    ['malformed entry last', 'thermo-1,floor=3,type='],
    ['malformed entry first', '=x,thermo-1,floor=3'],
  ])('%s: %j', (_label, raw) => {
    const parsed = parseRestrictions(raw);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem.length).toBeGreaterThan(0);
  });

  it.each([
    ['a/b', 'restriction "a/b" is not a device ID'],
    ['x,', 'restriction "" is not a device ID'],
    ['a.b=1', 'restriction tag key "a.b" is not valid'],
    ['=*', 'restriction tag key "" is not valid'],
    ['floor=', 'restriction value of tag "floor" is not valid'],
  ])('names the problem for %j', (raw, problem) => {
    expect(parseRestrictions(raw)).toEqual({ ok: false, problem });
  });
});
