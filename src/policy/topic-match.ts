/**
 * MQTT topic matching (MQTT 3.1.1 section 4.7) on validated topics and filters. Pure, no allocation
 * beyond what the caller's strings already are: levels are walked by index, never split.
 */

/** Index of the end of the level starting at `start` (the next `/` or the string's length). */
function levelEnd(text: string, start: number): number {
  const slash = text.indexOf('/', start);
  return slash < 0 ? text.length : slash;
}

/** Whether `a[aStart, aEnd)` and `b[bStart, …)` hold the same level, compared in place. */
function sameLevel(
  a: string,
  aStart: number,
  aEnd: number,
  b: string,
  bStart: number,
  bEnd: number,
): boolean {
  if (aEnd - aStart !== bEnd - bStart) return false;
  for (let i = 0; i < aEnd - aStart; i++) {
    if (a.charCodeAt(aStart + i) !== b.charCodeAt(bStart + i)) return false;
  }
  return true;
}

function isLevel(text: string, start: number, end: number, level: '+' | '#'): boolean {
  return end - start === 1 && text.charCodeAt(start) === level.charCodeAt(0);
}

/**
 * Whether `topic` (a topic name) matches `filter`. A filter starting with a wildcard does not match a
 * topic starting with `$` [MQTT-4.7.2-1]; `#` also matches the parent level (`a/#` matches `a`)
 * [MQTT-4.7.1-2].
 */
export function topicMatches(filter: string, topic: string): boolean {
  if (topic.charCodeAt(0) === 36 /* $ */ && (filter.charCodeAt(0) === 43 || filter.charCodeAt(0) === 35)) {
    return false;
  }
  let f = 0;
  let t = 0;
  for (;;) {
    const fEnd = levelEnd(filter, f);
    if (isLevel(filter, f, fEnd, '#')) return true;
    const tEnd = levelEnd(topic, t);
    if (!isLevel(filter, f, fEnd, '+')) {
      if (!sameLevel(filter, f, fEnd, topic, t, tEnd)) return false;
    }
    const filterDone = fEnd === filter.length;
    const topicDone = tEnd === topic.length;
    if (filterDone && topicDone) return true;
    if (filterDone) return false;
    if (topicDone) {
      // Only `…/#` can still match: `a/#` matches `a`.
      const nextEnd = levelEnd(filter, fEnd + 1);
      return nextEnd === filter.length && isLevel(filter, fEnd + 1, nextEnd, '#');
    }
    f = fEnd + 1;
    t = tEnd + 1;
  }
}

/** Levels of a filter or topic (for the rarely used, non-hot operations below). */
function levels(text: string): string[] {
  return text.split('/');
}

/** Whether some topic name matches both filters. */
export function filtersIntersect(a: string, b: string): boolean {
  const la = levels(a);
  const lb = levels(b);
  for (let i = 0; ; i++) {
    const x = la[i];
    const y = lb[i];
    if (x === '#' || y === '#') return true;
    if (x === undefined || y === undefined) return x === y;
    if (x !== '+' && y !== '+' && x !== y) return false;
  }
}

/** Whether every topic matching `inner` also matches `outer`. */
export function filterCovers(outer: string, inner: string): boolean {
  const lo = levels(outer);
  const li = levels(inner);
  for (let i = 0; ; i++) {
    const o = lo[i];
    const n = li[i];
    if (o === '#') return true;
    if (o === undefined || n === undefined) return o === n;
    if (n === '#') return false;
    if (o === '+') continue;
    if (o !== n) return false;
  }
}
