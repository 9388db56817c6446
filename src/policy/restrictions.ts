import { isValidIdentifier, isValidTagKey, isValidTagValue } from './identifiers.js';
import { type Parsed, splitList, splitTag } from './tags.js';

/**
 * A key's compiled scope (Losant's access-key restrictions). Matching is inclusive (OR) and
 * case-sensitive; each check is a Set lookup, so membership costs O(number of the device's tags)
 * whatever the size of the restriction list.
 */
export interface Scope {
  /** Missing or empty `restrictions`: every registered device is in scope. */
  readonly unrestricted: boolean;
  readonly deviceIds: ReadonlySet<string>;
  /** Tag key → accepted values (`floor=3`). */
  readonly tagValues: ReadonlyMap<string, ReadonlySet<string>>;
  /** Tag keys restricted with `key=*`: any value matches. */
  readonly anyValueTagKeys: ReadonlySet<string>;
}

export const UNRESTRICTED: Scope = {
  unrestricted: true,
  deviceIds: new Set(),
  tagValues: new Map(),
  anyValueTagKeys: new Set(),
};

/**
 * Parses `restrictions`: comma-separated device IDs and tags; an entry with `=` is a tag, one without a
 * device ID; `key=*` matches any value of that tag key. Missing or empty (`""`) is unrestricted; a
 * value of blanks alone is an empty entry, so malformed.
 * Anything else that does not parse — an empty entry, an invalid ID, key or value — is a problem, and the
 * caller denies: a malformed restriction must never widen into "allow all".
 */
export function parseRestrictions(raw: string | undefined): Parsed<Scope> {
  if (raw === undefined || raw === '') return { ok: true, value: UNRESTRICTED };
  const deviceIds = new Set<string>();
  const tagValues = new Map<string, Set<string>>();
  const anyValueTagKeys = new Set<string>();
  for (const entry of splitList(raw)) {
    const tag = splitTag(entry);
    if (tag === undefined) {
      if (!isValidIdentifier(entry))
        return { ok: false, problem: `restriction "${entry}" is not a device ID` };
      deviceIds.add(entry);
      continue;
    }
    const [key, value] = tag;
    if (!isValidTagKey(key)) return { ok: false, problem: `restriction tag key "${key}" is not valid` };
    if (value === '*') {
      anyValueTagKeys.add(key);
      continue;
    }
    if (!isValidTagValue(value))
      return { ok: false, problem: `restriction value of tag "${key}" is not valid` };
    let values = tagValues.get(key);
    if (values === undefined) {
      values = new Set();
      tagValues.set(key, values);
    }
    values.add(value);
  }
  return { ok: true, value: { unrestricted: false, deviceIds, tagValues, anyValueTagKeys } };
}
