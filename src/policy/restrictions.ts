import { isValidIdentifier, isValidTagKey, isValidTagValue } from './identifiers.js';
import { EMPTY_SET, Interner } from './intern.js';
import { type Parsed, splitList, splitTag } from './tags.js';

/**
 * A key's compiled scope (Losant's access-key restrictions). Matching is inclusive (OR) and
 * case-sensitive; each check is a Set lookup, so membership costs O(number of the device's tags)
 * whatever the size of the restriction list.
 */
export interface Scope {
  /** Missing or empty `restrictions`: every registered device is in scope. */
  readonly unrestricted: boolean;
  /**
   * The device ID when the restrictions name exactly one (then `deviceIds` is empty): a one-entry Set
   * would cost a hash table per key, and a key per device is the usual setup (issue 7).
   */
  readonly deviceId: string | undefined;
  /** The device IDs when the restrictions name two or more. */
  readonly deviceIds: ReadonlySet<string>;
  /** Tag key → accepted values (`floor=3`). */
  readonly tagValues: ReadonlyMap<string, ReadonlySet<string>>;
  /** Tag keys restricted with `key=*`: any value matches. */
  readonly anyValueTagKeys: ReadonlySet<string>;
}

export const UNRESTRICTED: Scope = {
  unrestricted: true,
  deviceId: undefined,
  deviceIds: new Set(),
  tagValues: new Map(),
  anyValueTagKeys: new Set(),
};

const NO_TAG_VALUES: ReadonlyMap<string, ReadonlySet<string>> = new Map();

/** Scopes by their tag entries (`tagSource`), without device IDs; bounded (a miss only costs a parse). */
const TAG_SCOPES = new Interner<Scope>(4096);

/**
 * Parses `restrictions`: comma-separated device IDs and tags; an entry with `=` is a tag, one without a
 * device ID; `key=*` matches any value of that tag key. Missing or empty (`""`) is unrestricted; a
 * value of blanks alone is an empty entry, so malformed.
 * Anything else that does not parse — an empty entry, an invalid ID, key or value — is a problem, and the
 * caller denies: a malformed restriction must never widen into "allow all".
 */
export function parseRestrictions(raw: string | undefined): Parsed<Scope> {
  if (raw === undefined || raw === '') return { ok: true, value: UNRESTRICTED };
  let deviceId: string | undefined;
  let deviceIds: Set<string> | undefined;
  /** The tag entries, trimmed, as `key=value` joined by `,`: keys hold neither, so this is unambiguous. */
  let tagSource = '';
  const tagValues = new Map<string, Set<string>>();
  const anyValueTagKeys = new Set<string>();
  for (const entry of splitList(raw)) {
    const tag = splitTag(entry);
    if (tag === undefined) {
      if (!isValidIdentifier(entry))
        return { ok: false, problem: `restriction "${entry}" is not a device ID` };
      if (deviceIds !== undefined) deviceIds.add(entry);
      else if (deviceId === undefined) deviceId = entry;
      else if (deviceId !== entry) {
        deviceIds = new Set([deviceId, entry]);
        deviceId = undefined;
      }
      continue;
    }
    const [key, value] = tag;
    if (!isValidTagKey(key)) return { ok: false, problem: `restriction tag key "${key}" is not valid` };
    tagSource += tagSource === '' ? `${key}=${value}` : `,${key}=${value}`;
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
  // Keys with the same tag restrictions share them (read-only, issue 7: heap per connection); a scope
  // without device IDs is shared whole.
  let tags = TAG_SCOPES.get(tagSource);
  if (tags === undefined) {
    tags = TAG_SCOPES.keep(tagSource, {
      unrestricted: false,
      deviceId: undefined,
      deviceIds: EMPTY_SET,
      tagValues: tagValues.size === 0 ? NO_TAG_VALUES : tagValues,
      anyValueTagKeys: anyValueTagKeys.size === 0 ? EMPTY_SET : anyValueTagKeys,
    });
  }
  if (deviceId === undefined && deviceIds === undefined) return { ok: true, value: tags };
  const { tagValues: sharedValues, anyValueTagKeys: sharedAny } = tags;
  return {
    ok: true,
    value: {
      unrestricted: false,
      deviceId,
      deviceIds: deviceIds ?? EMPTY_SET,
      tagValues: sharedValues,
      anyValueTagKeys: sharedAny,
    },
  };
}
