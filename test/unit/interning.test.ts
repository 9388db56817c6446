/**
 * Parsed records share read-only structures when (and only when) their source text is identical
 * (issue 7: heap per connection). Sharing must never make two different records agree where they differ,
 * and a key that changes must get its own parse, leaving the sessions of other keys as they were.
 */
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { VerifiedCredentials } from '../../src/crypto/verified-credentials.js';
import { EMPTY_LIST, EMPTY_SET, Interner } from '../../src/policy/intern.js';
import { parseRestrictions, type Scope } from '../../src/policy/restrictions.js';
import { isInScope } from '../../src/policy/scope.js';
import { parseTags, type Tags } from '../../src/policy/tags.js';
import { DeviceDirectory } from '../../src/store/device-directory.js';
import { Keyspace } from '../../src/store/keyspace.js';
import { ProblemLog } from '../../src/store/problem-log.js';
import { parseKeyRecord } from '../../src/store/records.js';

function scopeOf(raw: string): Scope {
  const parsed = parseRestrictions(raw);
  if (!parsed.ok) throw new Error(parsed.problem);
  return parsed.value;
}

function tagsOf(raw: string): Tags {
  const parsed = parseTags(raw);
  if (!parsed.ok) throw new Error(parsed.problem);
  return parsed.value;
}

/** Every Set and Map reachable from a scope or tags. */
function collections(value: Scope | Tags): object[] {
  const out: object[] = [];
  const visit = (map: ReadonlyMap<string, ReadonlySet<string>>): void => {
    out.push(map);
    for (const set of map.values()) out.push(set);
  };
  if (value instanceof Map) visit(value);
  else {
    const scope = value as Scope;
    out.push(scope.deviceIds, scope.anyValueTagKeys);
    visit(scope.tagValues);
  }
  return out.filter((c) => c !== EMPTY_SET && (c as ReadonlySet<string>).size > 0);
}

describe('device tags', () => {
  it('identical tags fields share one parsed map', () => {
    expect(tagsOf('group=3,floor=1')).toBe(tagsOf('group=3,floor=1'));
  });

  it.each<[string, string]>([
    ['group=3', 'group=4'],
    ['group=3', 'group=3,floor=1'],
    ['group=3,floor=1', 'floor=1,group=3'],
    ['a=1', 'a=1,a=2'],
  ])('%j and %j share no map or set', (a, b) => {
    const shared = collections(tagsOf(a)).filter((c) => collections(tagsOf(b)).includes(c));
    expect(shared).toEqual([]);
  });

  it('a shared parse holds exactly what a fresh parse holds', () => {
    const first = tagsOf('k=v,k=w,x=y');
    const again = tagsOf('k=v,k=w,x=y');
    expect([...again].map(([k, v]) => [k, [...v]])).toEqual([
      ['k', ['v', 'w']],
      ['x', ['y']],
    ]);
    expect(again).toBe(first);
  });

  it('an unparseable field is still refused every time (failures are not remembered as successes)', () => {
    expect(parseTags('a=1,,b=2').ok).toBe(false);
    expect(parseTags('a=1,,b=2').ok).toBe(false);
  });
});

describe('key restrictions', () => {
  it('keys with the same tag restrictions share them; their device IDs are their own', () => {
    const a = scopeOf('dev-1,group=3');
    const b = scopeOf('dev-2,group=3');
    expect(a.tagValues).toBe(b.tagValues);
    expect(a.deviceId).toBe('dev-1');
    expect(b.deviceId).toBe('dev-2');
    expect(a.deviceIds).toBe(EMPTY_SET);
    const group3 = tagsOf('group=3');
    expect(isInScope(a, 'dev-1', tagsOf('group=9'))).toBe(true);
    expect(isInScope(a, 'dev-2', tagsOf('group=9'))).toBe(false);
    expect(isInScope(b, 'dev-2', tagsOf('group=9'))).toBe(true);
    expect(isInScope(a, 'other', group3)).toBe(true);
  });

  it.each<[string, string | undefined, string[]]>([
    ['dev-1', 'dev-1', []],
    ['dev-1,dev-1', 'dev-1', []],
    ['dev-1,group=3,dev-1', 'dev-1', []],
    ['dev-1,dev-2', undefined, ['dev-1', 'dev-2']],
    ['dev-1,dev-2,dev-1', undefined, ['dev-1', 'dev-2']],
    ['group=3', undefined, []],
  ])('%j: one device ID is held alone, two or more in a Set', (raw, one, many) => {
    const scope = scopeOf(raw);
    expect(scope.deviceId).toBe(one);
    expect([...scope.deviceIds]).toEqual(many);
    for (const id of ['dev-1', 'dev-2', 'dev-3']) {
      expect(isInScope(scope, id, tagsOf('x=1'))).toBe(id === one || many.includes(id));
    }
  });

  it('a scope of tags alone is shared whole; one with device IDs is not', () => {
    expect(scopeOf('group=3,floor=*')).toBe(scopeOf('group=3,floor=*'));
    expect(scopeOf('dev-1,group=3')).not.toBe(scopeOf('dev-1,group=3'));
  });

  it.each<[string, string]>([
    ['group=3', 'group=4'],
    ['group=3', 'group=*'],
    ['group=3', 'group=3,group=4'],
    ['dev-1,group=3', 'dev-1,floor=3'],
    ['dev-1', 'dev-2'],
  ])('%j and %j share no non-empty map or set', (a, b) => {
    const shared = collections(scopeOf(a)).filter((c) => collections(scopeOf(b)).includes(c));
    expect(shared).toEqual([]);
  });

  it('a key whose restrictions change gets its own scope; the other key sharing the old one keeps it', () => {
    const other = scopeOf('group=3');
    const before = scopeOf('group=3');
    expect(before).toBe(other);
    const changed = scopeOf('group=4');
    const g3 = tagsOf('group=3');
    const g4 = tagsOf('group=4');
    expect(isInScope(changed, 'd', g4)).toBe(true);
    expect(isInScope(changed, 'd', g3)).toBe(false);
    expect(isInScope(other, 'd', g3)).toBe(true);
    expect(isInScope(other, 'd', g4)).toBe(false);
  });

  it('empty parts are the shared empty set (nothing in them)', () => {
    const scope = scopeOf('dev-1');
    expect(scope.anyValueTagKeys).toBe(EMPTY_SET);
    expect(scope.tagValues.size).toBe(0);
    expect(EMPTY_SET.size).toBe(0);
    expect(Object.isFrozen(EMPTY_SET)).toBe(true);
  });
});

describe('key records', () => {
  it('missing topic lists are the shared frozen empty list', () => {
    const parsed = parseKeyRecord({ secret: 'x' });
    if (!parsed.ok) throw new Error(parsed.problem);
    expect(parsed.value.pubTopics).toBe(EMPTY_LIST);
    expect(parsed.value.subTopics).toBe(EMPTY_LIST);
    expect(Object.isFrozen(EMPTY_LIST)).toBe(true);
    expect(EMPTY_LIST).toEqual([]);
  });

  it('two keys with the same restrictions but different topic lists keep their own lists', () => {
    const a = parseKeyRecord({ restrictions: 'group=3', topicFilter: 'allow', pubTopics: 'a/#' });
    const b = parseKeyRecord({ restrictions: 'group=3', topicFilter: 'allow', pubTopics: 'b/#' });
    if (!a.ok || !b.ok) throw new Error('parse');
    expect(a.value.scope).toBe(b.value.scope);
    expect(a.value.pubTopics).toEqual(['a/#']);
    expect(b.value.pubTopics).toEqual(['b/#']);
  });
});

describe('Interner', () => {
  it('starts over past its bound, and a miss is only a new parse', () => {
    const interner = new Interner<{ n: number }>(2);
    interner.keep('a', { n: 1 });
    interner.keep('b', { n: 2 });
    expect(interner.size).toBe(2);
    interner.keep('c', { n: 3 });
    expect(interner.size).toBe(1);
    expect(interner.get('a')).toBeUndefined();
    expect(interner.get('c')).toEqual({ n: 3 });
  });

  it('tags stay correct when there are more distinct fields than the bound', () => {
    const first = tagsOf('serial=0');
    for (let i = 1; i < 5000; i++) expect([...(tagsOf(`serial=${i}`).get('serial') ?? [])]).toEqual([`${i}`]);
    const again = tagsOf('serial=0');
    expect([...(again.get('serial') ?? [])]).toEqual(['0']);
    expect([...(first.get('serial') ?? [])]).toEqual(['0']);
  });
});

describe('device records read again', () => {
  function directory(): DeviceDirectory {
    return new DeviceDirectory(null as never, new Keyspace('t:'), new ProblemLog(pino({ level: 'silent' })));
  }

  it('an unchanged record read again is the record the directory keeps (sessions share it)', () => {
    const dir = directory();
    const first = dir.apply('d1', { tags: 'group=3', name: 'one' });
    const again = dir.apply('d1', { tags: 'group=3', name: 'renamed' });
    if (!first?.ok || !again?.ok) throw new Error('parse');
    expect(again.value).toBe(first.value);
    expect(dir.get('d1')).toBe(first.value);
  });

  it('a changed record is a new record; one held from before is left as it was', () => {
    const dir = directory();
    const first = dir.apply('d1', { tags: 'group=3' });
    const changed = dir.apply('d1', { tags: 'group=4', type: 'gateway' });
    if (!first?.ok || !changed?.ok) throw new Error('parse');
    expect(changed.value).not.toBe(first.value);
    expect(dir.get('d1')).toBe(changed.value);
    expect([...(first.value.tags.get('group') ?? [])]).toEqual(['3']);
    expect(first.value.type).toBe('standalone');
    expect([...(changed.value.tags.get('group') ?? [])]).toEqual(['4']);
  });

  it('two devices with the same fields get records of their own IDs', () => {
    const dir = directory();
    const a = dir.apply('a', { tags: 'group=3' });
    const b = dir.apply('b', { tags: 'group=3' });
    if (!a?.ok || !b?.ok) throw new Error('parse');
    expect(a.value.id).toBe('a');
    expect(b.value.id).toBe('b');
    expect(a.value.tags).toBe(b.value.tags);
  });

  it('a record that became unparseable is refused, and is not served from before', () => {
    const dir = directory();
    dir.apply('d1', { tags: 'group=3' });
    expect(dir.apply('d1', { tags: 'group=3,,' })?.ok).toBe(false);
    expect(dir.get('d1')).toBeUndefined();
  });
});

describe('verified credentials kept as one string per key', () => {
  it('recognises the proof until it expires, and nothing else', () => {
    let now = 1_700_000_000_123;
    const cache = new VerifiedCredentials({ ttlMs: 1000, now: () => now });
    const proof = cache.proof('k:a', '$2a$hash', 'secret');
    const other = cache.proof('k:a', '$2a$hash', 'secreT');
    cache.remember('k:a', proof);
    expect(cache.recognises('k:a', proof)).toBe(true);
    expect(cache.recognises('k:a', other)).toBe(false);
    expect(cache.recognises('k:b', proof)).toBe(false);
    expect(cache.recognises('k:a', proof.subarray(0, 16))).toBe(false);
    now += 999;
    expect(cache.recognises('k:a', proof)).toBe(true);
    now += 1;
    expect(cache.recognises('k:a', proof)).toBe(false);
    expect(cache.size).toBe(0);
  });
});
