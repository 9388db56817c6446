import { describe, expect, it } from 'vitest';
import { parseRestrictions, type Scope, UNRESTRICTED } from '../../src/policy/restrictions.js';
import { isInScope } from '../../src/policy/scope.js';
import { NO_TAGS, parseTags, type Tags } from '../../src/policy/tags.js';

function scopeOf(restrictions: string | undefined): Scope {
  const parsed = parseRestrictions(restrictions);
  if (!parsed.ok)
    throw new Error(`test setup: restrictions ${JSON.stringify(restrictions)}: ${parsed.problem}`);
  return parsed.value;
}

function tagsOf(raw: string | undefined): Tags {
  const parsed = parseTags(raw);
  if (!parsed.ok) throw new Error(`test setup: tags ${JSON.stringify(raw)}: ${parsed.problem}`);
  return parsed.value;
}

describe('isInScope', () => {
  it.each<[string, string | undefined, string, string | undefined, boolean]>([
    // [label, restrictions, deviceId, device tags, in scope]
    ['unrestricted (missing) admits any device', undefined, 'thermo-1', undefined, true],
    ['unrestricted (empty) admits any device', '', 'anything', 'floor=9', true],

    ['listed device ID', 'thermo-1', 'thermo-1', undefined, true],
    ['listed device ID among several', 'a,thermo-1,b', 'thermo-1', undefined, true],
    ['unlisted device ID', 'thermo-1', 'thermo-2', undefined, false],
    ['device IDs are case-sensitive', 'thermo-1', 'Thermo-1', undefined, false],
    ['device IDs are case-sensitive (other way)', 'Thermo-1', 'thermo-1', undefined, false],
    ['no prefix matching of device IDs', 'thermo', 'thermo-1', undefined, false],
    ['no suffix matching of device IDs', 'thermo-1', 'thermo', undefined, false],
    ['whitespace around the listed ID is ignored', '  thermo-1  ', 'thermo-1', undefined, true],

    ['matching tag', 'floor=3', 'd', 'floor=3', true],
    ['non-matching tag value', 'floor=3', 'd', 'floor=4', false],
    ['non-matching tag key', 'floor=3', 'd', 'level=3', false],
    ['tag keys are case-sensitive', 'floor=3', 'd', 'Floor=3', false],
    ['tag values are case-sensitive', 'type=sensor', 'd', 'type=Sensor', false],
    ['no tags at all', 'floor=3', 'd', undefined, false],
    ['device with several values of the key, one matches', 'floor=4', 'd', 'floor=3,floor=4', true],
    ['device with several values of the key, none matches', 'floor=5', 'd', 'floor=3,floor=4', false],
    ['restriction with several values, one matches', 'floor=3,floor=4', 'd', 'floor=4', true],
    ['tag value containing =', 'a=b=c', 'd', 'a=b=c', true],
    ['tag value containing = does not match the prefix', 'a=b', 'd', 'a=b=c', false],
    ['tag value containing = does not match a shorter value', 'a=b=c', 'd', 'a=b', false],
    ['whitespace around tags on both sides', ' floor = 3 ', 'd', ' floor = 3 ', true],

    ['key=* matches any value of the key', 'floor=*', 'd', 'floor=3', true],
    ['key=* matches any of several values', 'floor=*', 'd', 'floor=3,floor=4', true],
    ['key=* matches a device whose value is literally *', 'floor=*', 'd', 'floor=*', true],
    ['key=* needs the key to be present', 'floor=*', 'd', 'type=sensor', false],
    ['key=* needs the key (no tags)', 'floor=*', 'd', undefined, false],
    ['key=* is case-sensitive on the key', 'floor=*', 'd', 'FLOOR=3', false],
    ['a literal device value * does not match floor=3', 'floor=3', 'd', 'floor=*', false],
    ['a literal device value * does not match other keys', 'type=*', 'd', 'floor=*', false],
    ['key=** is a literal, not any', 'floor=**', 'd', 'floor=3', false],
    ['key=** matches the literal value **', 'floor=**', 'd', 'floor=**', true],

    ['OR: device ID matches, tags do not', 'thermo-1,floor=3', 'thermo-1', 'floor=9', true],
    ['OR: tag matches, ID does not', 'thermo-1,floor=3', 'other', 'floor=3', true],
    ['OR: neither matches', 'thermo-1,floor=3', 'other', 'floor=9', false],
    ['OR across keys: second key matches', 'floor=3,type=sensor', 'd', 'floor=9,type=sensor', true],
    ['OR across keys: none matches', 'floor=3,type=sensor', 'd', 'floor=9,type=actuator', false],
    ['device ID is not matched against tag values', 'floor=thermo-1', 'thermo-1', undefined, false],
    ['tag value is not matched as a device ID', 'thermo-1', 'd', 'name=thermo-1', false],
    ['a device named like a tag key is not any value', 'floor', 'd', 'floor=3', false],
    ['device IDs that look like topic levels', 'losant,state', 'state', undefined, true],
    ['device IDs that look like topic levels (unlisted)', 'losant,state', 'command', undefined, false],
  ])('%s', (_label, restrictions, deviceId, tags, expected) => {
    expect(isInScope(scopeOf(restrictions), deviceId, tagsOf(tags))).toBe(expected);
  });

  it('UNRESTRICTED admits a device with no tags', () => {
    expect(isInScope(UNRESTRICTED, 'x', NO_TAGS)).toBe(true);
  });

  it('an empty restricted scope (built by hand) admits nobody', () => {
    const empty: Scope = {
      unrestricted: false,
      deviceId: undefined,
      deviceIds: new Set(),
      tagValues: new Map(),
      anyValueTagKeys: new Set(),
    };
    expect(isInScope(empty, 'x', tagsOf('floor=3'))).toBe(false);
    expect(isInScope(empty, 'x', NO_TAGS)).toBe(false);
  });

  it('scales with a large restriction list', () => {
    const ids = Array.from({ length: 5000 }, (_, i) => `dev-${i}`);
    const scope = scopeOf([...ids, 'floor=3'].join(','));
    expect(isInScope(scope, 'dev-4999', NO_TAGS)).toBe(true);
    expect(isInScope(scope, 'dev-5000', NO_TAGS)).toBe(false);
    expect(isInScope(scope, 'dev-5000', tagsOf('floor=3'))).toBe(true);
  });
});
