import { isValidTagKey, isValidTagValue } from './identifiers.js';
import { Interner } from './intern.js';

/** A device's tags: tag key → its values (a device may carry several values of one key). */
export type Tags = ReadonlyMap<string, ReadonlySet<string>>;

export const NO_TAGS: Tags = new Map();

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/** Successful parses by tags field; bounded (a miss only costs a parse). */
const PARSED_TAGS = new Interner<Parsed<Tags>>(4096);

/**
 * Trims ASCII blanks only (space, tab, CR, LF). `String.prototype.trim` would also strip Unicode whitespace (no-break
 * space, BOM, U+3000): a restriction made of a stray BOM must not read as "empty", i.e. unrestricted.
 */
export function trimBlanks(text: string): string {
  return text.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, '');
}

/** Splits a comma-separated list; blanks around entries are ignored (SPEC section 1). */
export function splitList(raw: string): string[] {
  return raw.split(',').map(trimBlanks);
}

/** Splits `key=value` at the first `=` (spaces around it ignored); undefined when there is none. */
export function splitTag(entry: string): [key: string, value: string] | undefined {
  const at = entry.indexOf('=');
  if (at < 0) return undefined;
  return [trimBlanks(entry.slice(0, at)), trimBlanks(entry.slice(at + 1))];
}

/**
 * Parses a device's `tags` field, `floor=3,floor=4,type=sensor`. Missing or empty (`""`) means no tags;
 * blanks alone are an empty entry.
 * Strict: an empty entry (`a=1,,b=2`, a trailing comma), an entry without `=`, or an invalid key or
 * value makes the whole field unparseable — and an unparseable device is denied, never trusted.
 */
export function parseTags(raw: string | undefined): Parsed<Tags> {
  if (raw === undefined || raw === '') return { ok: true, value: NO_TAGS };
  // Devices with the same tags field share one parsed (read-only) map: a session holds its device's
  // record, so this keeps the tags of many sessions to one copy (issue 7).
  const known = PARSED_TAGS.get(raw);
  if (known !== undefined) return known;
  const tags = new Map<string, Set<string>>();
  for (const entry of splitList(raw)) {
    const tag = splitTag(entry);
    if (tag === undefined) return { ok: false, problem: `tag entry "${entry}" is not key=value` };
    const [key, value] = tag;
    if (!isValidTagKey(key)) return { ok: false, problem: `tag key "${key}" is not valid` };
    if (!isValidTagValue(value)) return { ok: false, problem: `value of tag "${key}" is not valid` };
    let values = tags.get(key);
    if (values === undefined) {
      values = new Set();
      tags.set(key, values);
    }
    values.add(value);
  }
  return PARSED_TAGS.keep(raw, { ok: true, value: tags });
}

export function formatTags(tags: Tags): string {
  const entries: string[] = [];
  for (const [key, values] of tags) for (const value of values) entries.push(`${key}=${value}`);
  return entries.join(',');
}
