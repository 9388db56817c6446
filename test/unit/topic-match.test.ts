import { describe, expect, it } from 'vitest';
import { filterCovers, filtersIntersect, topicMatches } from '../../src/policy/topic-match.js';

describe('topicMatches (MQTT 3.1.1 section 4.7)', () => {
  it.each<[string, string, boolean]>([
    // [filter, topic, matches]
    // Literal filters: exact, level by level, case-sensitive.
    ['a', 'a', true],
    ['a', 'b', false],
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/b', 'a', false],
    ['a', 'a/b', false],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
    ['ab', 'a', false],
    ['a', 'ab', false],
    ['a/bc', 'a/b', false],
    ['a/b', 'a/bc', false],
    ['A', 'a', false],
    ['a', 'A', false],
    ['losant/Thermo-1/state', 'losant/thermo-1/state', false],
    ['Losant/thermo-1/state', 'losant/thermo-1/state', false],
    ['losant/thermo-1/State', 'losant/thermo-1/state', false],
    ['losant/thermo-1/state', 'losant/thermo-1/state', true],
    ['caf\u00e9', 'caf\u00e9', true],
    ['caf\u00e9', 'cafe', false],
    ['a b', 'a b', true],
    ['a b', 'a', false],

    // Empty levels, leading and trailing slashes.
    ['/a', '/a', true],
    ['/a', 'a', false],
    ['a', '/a', false],
    ['a/', 'a/', true],
    ['a/', 'a', false],
    ['a', 'a/', false],
    ['a//b', 'a//b', true],
    ['a//b', 'a/b', false],
    ['a/b', 'a//b', false],
    ['/', '/', true],
    ['/', '//', false],
    ['//', '//', true],

    // `+`: exactly one level, empty included.
    ['+', 'a', true],
    ['+', 'abc', true],
    ['+', 'a/b', false],
    ['+', '/', false],
    ['+', '/a', false],
    ['+/+', '/', true],
    ['+/+', 'a/', true],
    ['+/+', '/a', true],
    ['+/+', 'a/b', true],
    ['+/+', 'a', false],
    ['+/+', 'a/b/c', false],
    ['/+', '/a', true],
    ['/+', '/', true],
    ['/+', 'a/b', false],
    ['+/a', '/a', true],
    ['+/a', 'x/a', true],
    ['+/a', 'x/b', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/', true],
    ['a/+', 'a', false],
    ['a/+', 'a/b/c', false],
    ['a/+', 'b/c', false],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a//c', true],
    ['a/+/c', 'a/b/d', false],
    ['a/+/c', 'a/c', false],
    ['a/+/+', 'a/b', false],
    ['+/+/state', 'losant/thermo-1/state', true],
    ['losant/+/state', 'losant/thermo-1/state', true],
    ['losant/+/state', 'losant/thermo-1/command', false],
    ['losant/+/state', 'losant//state', true],
    ['losant/+/state', 'losant/a/b/state', false],
    ['losant/+', 'losant/thermo-1/state', false],
    ['losant/+', 'losant/thermo-1', true],

    // `#`: any number of levels, the parent included [MQTT-4.7.1-2].
    ['#', 'a', true],
    ['#', 'a/b/c', true],
    ['#', '/', true],
    ['#', '/a', true],
    ['#', 'a/', true],
    ['#', 'a//b', true],
    ['a/#', 'a', true],
    ['a/#', 'a/', true],
    ['a/#', 'a/b', true],
    ['a/#', 'a/b/c', true],
    ['a/#', 'a//c', true],
    ['a/#', 'b', false],
    ['a/#', 'b/a', false],
    ['a/#', 'ab', false],
    ['a/#', 'ab/c', false],
    ['a/#', 'A/b', false],
    ['a/b/#', 'a', false],
    ['a/b/#', 'a/b', true],
    ['a/b/#', 'a/b/c/d', true],
    ['a/b/#', 'a/c/d', false],
    ['/#', '/', true],
    ['/#', '/a/b', true],
    ['/#', 'a', false],
    ['+/#', 'a', true],
    ['+/#', 'a/b/c', true],
    ['+/#', '/', true],
    ['+/+/#', 'a', false],
    ['+/+/#', 'a/b', true],
    ['a/+/#', 'a', false],
    ['a/+/#', 'a/b', true],
    ['a/+/#', 'a/b/c/d', true],
    ['losant/thermo-1/#', 'losant/thermo-1', true],
    ['losant/thermo-1/#', 'losant/thermo-1/state', true],
    ['losant/thermo-1/#', 'losant/thermo-1/x/y', true],
    ['losant/thermo-1/#', 'losant/thermo-10/state', false],
    ['losant/#', 'losant', true],
    ['losant/#', 'losantx/a', false],

    // `$` topics: never matched by a filter whose first character is a wildcard [MQTT-4.7.2-1] ...
    ['#', '$SYS', false],
    ['#', '$SYS/broker/uptime', false],
    ['+', '$SYS', false],
    ['+/#', '$SYS/broker', false],
    ['+/broker/uptime', '$SYS/broker/uptime', false],
    ['+/+/+', '$SYS/broker/uptime', false],
    ['#', '$share/g/a', false],
    ['+/+/+', '$share/g/a', false],
    ['#', '$', false],
    ['+', '$', false],
    // ... but by a literal first level.
    ['$SYS/#', '$SYS/broker/uptime', true],
    ['$SYS/#', '$SYS', true],
    ['$SYS/+/uptime', '$SYS/broker/uptime', true],
    ['$SYS/broker/uptime', '$SYS/broker/uptime', true],
    ['$SYS/broker/+', '$SYS/broker/uptime', true],
    ['$SYS/broker/uptime', '$SYS/broker/load', false],
    ['$sys/#', '$SYS/broker', false],
    ['$', '$', true],
    // `$` further in is an ordinary character.
    ['a/+', 'a/$SYS', true],
    ['a/#', 'a/$SYS/x', true],
    ['+/$x', 'a/$x', true],
    ['#', 'a$', true],
    ['+', 'a$', true],
    ['$SYS/#', 'a/$SYS', false],
  ])('topicMatches(%j, %j) is %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });
});

describe('filtersIntersect', () => {
  it.each<[string, string, boolean]>([
    // [a, b, some topic matches both]
    ['a', 'a', true],
    ['a', 'b', false],
    ['a/b', 'a/b', true],
    ['a/b', 'a', false],
    ['a', 'a/b', false],
    ['A', 'a', false],
    ['#', 'a', true],
    ['#', 'a/b/c', true],
    ['#', '#', true],
    ['#', '+', true],
    ['+', 'a', true],
    ['+', 'a/b', false],
    ['+', '+/+', false],
    ['+', '+/#', true],
    ['+/+', 'a/+', true],
    ['+/+', 'a/b/c', false],
    ['a/+', 'a', false],
    ['a/+', 'a/b', true],
    ['a/+', '+/b', true],
    ['a/+', 'b/+', false],
    ['a/#', 'a', true],
    ['a', 'a/#', true],
    ['a/#', 'a/b/c', true],
    ['a/#', 'b/#', false],
    ['a/#', '+/b', true],
    ['a/#', '+', true],
    ['a/b/#', 'a', false],
    ['a/b/#', 'a/+', true],
    ['a/b/#', 'a/c/#', false],
    ['a/+/#', 'a', false],
    ['a/+/#', 'a/#', true],
    ['+/+/#', 'a', false],
    ['a//b', 'a/+/b', true],
    ['a//b', 'a/b', false],
    ['/a', 'a', false],
    ['/a', '+/a', true],
    ['/#', '+', true],
    ['/#', 'a/#', false],
    ['a/', 'a/+', true],
    ['a/', 'a', false],
    ['losant/+/state', 'losant/thermo-1/+/#', true],
    ['losant/+/state', 'losant/thermo-1/command', false],
    ['losant/+', 'losant/thermo-1/+/#', false],
    ['+/thermo-2/state', 'losant/thermo-2/state', true],
    ['+/thermo-2/state', 'losant/thermo-2/command', false],
    ['losant/thermo-2/#', 'losant/thermo-2/state', true],
    ['losant/thermo-2/+/x', 'losant/thermo-2/state', false],
    ['$SYS/#', '$SYS/a', true],
    ['$SYS/#', '$sys/a', false],
  ])('filtersIntersect(%j, %j) is %s', (a, b, expected) => {
    expect(filtersIntersect(a, b)).toBe(expected);
    expect(filtersIntersect(b, a)).toBe(expected);
  });
});

describe('filterCovers', () => {
  it.each<[string, string, boolean]>([
    // [outer, inner, every topic matching inner matches outer]
    ['a', 'a', true],
    ['a', 'b', false],
    ['a/b', 'a', false],
    ['a', 'a/b', false],
    ['A', 'a', false],
    ['#', 'a', true],
    ['#', 'a/b/c', true],
    ['#', '+', true],
    ['#', '+/#', true],
    ['#', '#', true],
    ['+', '#', false],
    ['+', 'a', true],
    ['+', '+', true],
    ['+', 'a/b', false],
    ['+', '+/+', false],
    ['+', '+/#', false],
    ['+/+', 'a/b', true],
    ['+/+', 'a/+', true],
    ['a/+', '+/+', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a', false],
    ['a/+', 'a/#', false],
    ['a/#', 'a', true],
    ['a/#', 'a/b', true],
    ['a/#', 'a/+/c', true],
    ['a/#', 'a/#', true],
    ['a/#', '+/#', false],
    ['a/#', '#', false],
    ['a/#', 'b', false],
    ['a/b/#', 'a/b', true],
    ['a/b/#', 'a/#', false],
    ['a/b/#', 'a', false],
    ['a/+/#', 'a/b', true],
    ['a/+/#', 'a/b/c', true],
    ['a/+/#', 'a/#', false],
    ['a/+/#', 'a', false],
    ['+/#', 'a', true],
    ['+/#', '+', true],
    ['+/#', '/', true],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a/+/d', false],
    ['a/+/c', 'a/+/+', false],
    ['a//b', 'a/+/b', false],
    ['a/+/b', 'a//b', true],
    ['/#', '/', true],
    ['/#', '/a/b', true],
    ['/#', 'a', false],
    ['losant/+/state', 'losant/thermo-1/state', true],
    ['losant/+/state', 'losant/+/command', false],
    ['losant/#', 'losant/thermo-1/+', true],
    ['$SYS/#', '$SYS/a/b', true],
  ])('filterCovers(%j, %j) is %s', (outer, inner, expected) => {
    expect(filterCovers(outer, inner)).toBe(expected);
  });
});

/** Every string of 1..maxLevels levels, each drawn from `alphabet`. */
function combinations(alphabet: readonly string[], maxLevels: number): string[] {
  const out: string[] = [];
  let layer: string[] = [...alphabet];
  for (let n = 1; n <= maxLevels; n++) {
    out.push(...layer);
    if (n < maxLevels) layer = layer.flatMap((prefix) => alphabet.map((level) => `${prefix}/${level}`));
  }
  return out;
}

/** Valid filters: `#` only as the last level. */
function filtersOver(literals: readonly string[], maxLevels: number): string[] {
  return combinations([...literals, '+', '#'], maxLevels).filter((f) => {
    const at = f.indexOf('#');
    return at < 0 || at === f.length - 1;
  });
}

describe('filter algebra agrees with topicMatches (property)', () => {
  // A small alphabet with empty levels, case and `$`-free literals; topics up to 4 levels.
  const LITERALS = ['a', 'b', 'A', ''];
  const TOPICS = combinations(LITERALS, 4);
  const FILTERS = filtersOver(LITERALS, 3);
  const matching = new Map(FILTERS.map((f) => [f, TOPICS.filter((t) => topicMatches(f, t))] as const));

  it('generates enough to be meaningful', () => {
    expect(TOPICS.length).toBeGreaterThan(300);
    expect(FILTERS.length).toBeGreaterThan(150);
  });

  it('filtersIntersect(a, b) holds whenever some topic matches both, and is symmetric', () => {
    const failures: string[] = [];
    for (const a of FILTERS) {
      const ma = new Set(matching.get(a));
      for (const b of FILTERS) {
        const witness = matching.get(b)?.find((t) => ma.has(t));
        const got = filtersIntersect(a, b);
        if (witness !== undefined && !got) failures.push(`${a} ∩ ${b} (both match ${witness})`);
        if (got !== filtersIntersect(b, a)) failures.push(`${a} ∩ ${b} not symmetric`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('filtersIntersect(a, b) is exact: when true, some topic of the generated set matches both', () => {
    // Exact over this alphabet: every level of a filter is a literal of it, so a witness exists in TOPICS
    // whenever a witness exists at all (up to 4 levels, and the filters have at most 3).
    const failures: string[] = [];
    for (const a of FILTERS) {
      const ma = new Set(matching.get(a));
      for (const b of FILTERS) {
        if (filtersIntersect(a, b) && !matching.get(b)?.some((t) => ma.has(t))) failures.push(`${a} ∩ ${b}`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('filterCovers(outer, inner) is false whenever some topic matches inner but not outer', () => {
    const failures: string[] = [];
    for (const outer of FILTERS) {
      const mo = new Set(matching.get(outer));
      for (const inner of FILTERS) {
        const witness = matching.get(inner)?.find((t) => !mo.has(t));
        if (witness !== undefined && filterCovers(outer, inner)) {
          failures.push(`${outer} ⊇ ${inner} (but ${witness} matches only the inner)`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('filterCovers(outer, inner) is exact: when false, some generated topic matches inner but not outer', () => {
    // Left out: `+/#` covers `#` (every topic has a first level), which filterCovers conservatively
    // answers false — a safe answer, reported separately.
    const failures: string[] = [];
    for (const outer of FILTERS) {
      const mo = new Set(matching.get(outer));
      for (const inner of FILTERS) {
        if (outer === '+/#' && inner === '#') continue;
        if (!filterCovers(outer, inner) && matching.get(inner)?.every((t) => mo.has(t))) {
          failures.push(`${outer} ⊇ ${inner}`);
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('every filter covers itself and intersects itself', () => {
    for (const f of FILTERS) {
      expect(filterCovers(f, f), f).toBe(true);
      expect(filtersIntersect(f, f), f).toBe(true);
    }
  });
});

describe('filter algebra with `$` topics (property)', () => {
  // `$a` as a level: filters starting with a wildcard never match a topic starting with `$`.
  const LITERALS = ['a', '$a', ''];
  const TOPICS = combinations(LITERALS, 4);
  const FILTERS = filtersOver(LITERALS, 3);
  const matching = new Map(FILTERS.map((f) => [f, TOPICS.filter((t) => topicMatches(f, t))] as const));

  it('filtersIntersect never misses a topic matching both filters', () => {
    const failures: string[] = [];
    for (const a of FILTERS) {
      const ma = new Set(matching.get(a));
      for (const b of FILTERS) {
        const witness = matching.get(b)?.find((t) => ma.has(t));
        if (witness !== undefined && !filtersIntersect(a, b)) failures.push(`${a} ∩ ${b} (${witness})`);
      }
    }
    expect(failures).toEqual([]);
  });

  it('filterCovers never claims to cover a topic it does not match (inner filters not starting with `$`)', () => {
    // Inner filters starting with `$` are left out: the only callers never pass one (a subscription to
    // a `$` filter is refused first); see the report for `filterCovers('#', '$a')`.
    const failures: string[] = [];
    for (const outer of FILTERS) {
      const mo = new Set(matching.get(outer));
      for (const inner of FILTERS) {
        if (inner.startsWith('$')) continue;
        const witness = matching.get(inner)?.find((t) => !mo.has(t));
        if (witness !== undefined && filterCovers(outer, inner))
          failures.push(`${outer} ⊇ ${inner} (${witness})`);
      }
    }
    expect(failures).toEqual([]);
  });

  it.each<[string, string, boolean]>([
    ['$a/#', '$a', true],
    ['$a/+', '$a/a', true],
    ['+/#', '$a/a', false],
    ['#', '$a', false],
    ['a/#', 'a/$a', true],
    ['+/$a', 'a/$a', true],
  ])('topicMatches(%j, %j) is %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });
});
