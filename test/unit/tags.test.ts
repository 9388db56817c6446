import { describe, expect, it } from 'vitest';
import { formatTags, NO_TAGS, parseTags, splitList, splitTag, type Tags } from '../../src/policy/tags.js';

/** Tags as plain data, `{ key: [values…] }`, for readable expectations. */
function plain(tags: Tags): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [key, values] of tags) out[key] = [...values];
  return out;
}

function tagsOf(entries: Record<string, string[]>): Tags {
  return new Map(Object.entries(entries).map(([key, values]) => [key, new Set(values)]));
}

describe('splitList', () => {
  it.each<[string, string[]]>([
    ['', ['']],
    ['a', ['a']],
    ['a,b', ['a', 'b']],
    ['a,b,c', ['a', 'b', 'c']],
    [' a , b ', ['a', 'b']],
    ['\ta\t,\nb\n', ['a', 'b']],
    ['a,,b', ['a', '', 'b']],
    [',a', ['', 'a']],
    ['a,', ['a', '']],
    [',', ['', '']],
    [',,', ['', '', '']],
    [' , ', ['', '']],
    ['a b,c', ['a b', 'c']],
    ['floor=3,floor=4', ['floor=3', 'floor=4']],
    ['a=b=c', ['a=b=c']],
  ])('splitList(%j) = %j', (raw, expected) => {
    expect(splitList(raw)).toEqual(expected);
  });
});

describe('splitTag', () => {
  it.each<[string, [string, string] | undefined]>([
    ['floor=3', ['floor', '3']],
    ['a=b=c', ['a', 'b=c']],
    ['a==b', ['a', '=b']],
    ['a=', ['a', '']],
    ['=b', ['', 'b']],
    ['=', ['', '']],
    ['==', ['', '=']],
    [' floor = 3 ', ['floor', '3']],
    ['floor = b = c ', ['floor', 'b = c']],
    ['k=*', ['k', '*']],
    ['k= * ', ['k', '*']],
    ['floor', undefined],
    ['', undefined],
    [' ', undefined],
    ['thermo-1', undefined],
  ])('splitTag(%j) = %j', (entry, expected) => {
    expect(splitTag(entry)).toEqual(expected);
  });
});

describe('parseTags: accepted', () => {
  it.each<[string, string | undefined, Record<string, string[]>]>([
    ['missing', undefined, {}],
    ['empty', '', {}],
    ['one tag', 'floor=3', { floor: ['3'] }],
    ['two tags', 'floor=3,type=sensor', { floor: ['3'], type: ['sensor'] }],
    ['SPEC example', 'floor=3,floor=4,type=sensor', { floor: ['3', '4'], type: ['sensor'] }],
    ['several values of one key', 'floor=3,floor=4', { floor: ['3', '4'] }],
    ['duplicate entry collapses', 'floor=3,floor=3', { floor: ['3'] }],
    ['non-adjacent repeated key', 'floor=3,type=a,floor=4', { floor: ['3', '4'], type: ['a'] }],
    ['whitespace around entries', ' floor=3 , type=sensor ', { floor: ['3'], type: ['sensor'] }],
    ['whitespace around =', 'floor = 3', { floor: ['3'] }],
    ['tabs around entries', '\tfloor=3\t,\ttype=x\t', { floor: ['3'], type: ['x'] }],
    ['value keeps everything after the first =', 'a=b=c', { a: ['b=c'] }],
    ['value starting with =', 'a==b', { a: ['=b'] }],
    ['value only =', 'a==', { a: ['='] }],
    ['value literally *', 'floor=*', { floor: ['*'] }],
    ['value with a space inside', 'room=living room', { room: ['living room'] }],
    ['value with slash, plus, hash', 'path=a/+/#', { path: ['a/+/#'] }],
    ['value with dollar', 'x=$SYS', { x: ['$SYS'] }],
    ['non-ASCII value', 'city=M\u00fcnchen', { city: ['M\u00fcnchen'] }],
    ['emoji value', 'mood=\u{1f525}', { mood: ['\u{1f525}'] }],
    ['case-sensitive keys are distinct', 'Floor=3,floor=3', { Floor: ['3'], floor: ['3'] }],
    ['case-sensitive values are distinct', 'type=Sensor,type=sensor', { type: ['Sensor', 'sensor'] }],
    ['key with _ and -', 'a_b-c=1', { 'a_b-c': ['1'] }],
    ['numeric key', '42=answer', { '42': ['answer'] }],
    ['key of 255 characters', `${'k'.repeat(255)}=v`, { ['k'.repeat(255)]: ['v'] }],
    ['value of 255 characters', `k=${'v'.repeat(255)}`, { k: ['v'.repeat(255)] }],
    ['value of 255 characters after trimming', `k=  ${'v'.repeat(255)}  `, { k: ['v'.repeat(255)] }],
  ])('%s: %j', (_label, raw, expected) => {
    const parsed = parseTags(raw);
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(plain(parsed.value)).toEqual(expected);
  });

  it('returns the shared empty map for missing and blank input', () => {
    expect(parseTags(undefined)).toEqual({ ok: true, value: NO_TAGS });
    expect(parseTags('')).toEqual({ ok: true, value: NO_TAGS });
    expect(NO_TAGS.size).toBe(0);
  });

  it('keeps the order of first appearance', () => {
    const parsed = parseTags('z=1,a=2,m=3,a=1');
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect([...parsed.value.keys()]).toEqual(['z', 'a', 'm']);
  });
});

describe('parseTags: refused (the whole field is unparseable)', () => {
  it.each([
    ['one space (blanks alone are an empty entry)', ' '],
    ['spaces and tabs', ' \t  '],
    ['newline only', '\n'],
    ['no-break space', '\u00a0'],
    ['only a comma', ','],
    ['two commas', ',,'],
    ['comma with spaces', ' , '],
    ['leading comma', ',floor=3'],
    ['trailing comma', 'floor=3,'],
    ['trailing comma and space', 'floor=3, '],
    ['double comma', 'floor=3,,type=x'],
    ['double comma with space', 'floor=3, ,type=x'],
    ['entry without =', 'floor'],
    ['one good, one without =', 'floor=3,sensor'],
    ['device-ID-looking entry', 'thermo-1'],
    ['only =', '='],
    ['empty key', '=3'],
    ['empty key after good entry', 'floor=3,=4'],
    ['empty value', 'floor='],
    ['blank value', 'floor=  '],
    ['empty value after good entry', 'floor=3,type='],
    ['key with a space', 'fl oor=3'],
    ['key with a dot', 'a.b=1'],
    ['key with a colon', 'a:b=1'],
    ['key with a slash', 'a/b=1'],
    ['key with a plus', 'a+=1'],
    ['key with a hash', '#=1'],
    ['key *', '*=1'],
    ['key with dollar', '$k=1'],
    ['non-ASCII key', 'stra\u00dfe=1'],
    ['key with U+FFFD', 'k\ufffd=1'],
    ['key with NUL', 'k\u0000=1'],
    ['key of 256 characters', `${'k'.repeat(256)}=v`],
    ['value of 256 characters', `k=${'v'.repeat(256)}`],
    ['value with NUL', 'k=a\u0000b'],
    ['value with tab inside', 'k=a\tb'],
    ['value with newline inside', 'k=a\nb'],
    ['value with carriage return inside', 'k=a\rb'],
    ['value with escape', 'k=\u001b[0m'],
    ['value with BEL', 'k=\u0007'],
    ['value with DEL', 'k=a\u007f'],
    ['value with U+FFFD', 'k=a\ufffd'],
    ['value that is only U+FFFD', 'k=\ufffd'],
  ])('%s: %j', (_label, raw) => {
    const parsed = parseTags(raw);
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).toEqual(expect.any(String));
  });

  it.each([
    ['floor', 'tag entry "floor" is not key=value'],
    ['floor=3,', 'tag entry "" is not key=value'],
    ['=3', 'tag key "" is not valid'],
    ['a.b=1', 'tag key "a.b" is not valid'],
    ['floor=', 'value of tag "floor" is not valid'],
  ])('names the problem for %j', (raw, problem) => {
    expect(parseTags(raw)).toEqual({ ok: false, problem });
  });

  it('never echoes a bad value into the problem text', () => {
    const parsed = parseTags('k=secret\u0000value');
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.problem).not.toContain('secret');
  });
});

describe('formatTags', () => {
  it.each<[string, Record<string, string[]>, string]>([
    ['no tags', {}, ''],
    ['one tag', { floor: ['3'] }, 'floor=3'],
    ['two keys', { floor: ['3'], type: ['sensor'] }, 'floor=3,type=sensor'],
    ['several values', { floor: ['3', '4'], type: ['sensor'] }, 'floor=3,floor=4,type=sensor'],
    ['value with =', { a: ['b=c'] }, 'a=b=c'],
    ['value *', { floor: ['*'] }, 'floor=*'],
  ])('%s', (_label, tags, expected) => {
    expect(formatTags(tagsOf(tags))).toBe(expected);
  });

  it('formats NO_TAGS as the empty string', () => {
    expect(formatTags(NO_TAGS)).toBe('');
  });

  it.each([
    ['floor=3'],
    ['floor=3,floor=4,type=sensor'],
    ['a=b=c,a==,x=*'],
    ['room=living room,city=M\u00fcnchen'],
    [`${'k'.repeat(255)}=${'v'.repeat(255)}`],
  ])('round-trips %j through parseTags', (raw) => {
    const parsed = parseTags(raw);
    expect(parsed.ok).toBe(true);
    if (!parsed.ok) return;
    expect(formatTags(parsed.value)).toBe(raw);
    const again = parseTags(formatTags(parsed.value));
    expect(again.ok && plain(again.value)).toEqual(plain(parsed.value));
  });

  it('normalises whitespace and duplicates', () => {
    const parsed = parseTags(' floor = 3 , floor=3 ,type= x');
    expect(parsed.ok).toBe(true);
    if (parsed.ok) expect(formatTags(parsed.value)).toBe('floor=3,type=x');
  });
});
