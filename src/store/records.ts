import { isValidIdentifier } from '../policy/identifiers.js';
import { EMPTY_LIST } from '../policy/intern.js';
import type { DeviceRecord, DeviceType, KeyRecord, TopicFilterMode } from '../policy/model.js';
import { parseRestrictions } from '../policy/restrictions.js';
import { type Parsed, parseTags, splitList } from '../policy/tags.js';
import { isValidTopicFilter } from '../policy/topics.js';

export type { DeviceRecord, DeviceType, KeyRecord, TopicFilterMode };

/** A Redis hash as ioredis returns it (HGETALL). Empty means the key does not exist. */
export type RedisHash = Record<string, string>;

/**
 * bcrypt in modular crypt format: `$2a$`, `$2b$` or `$2y$`, a two-digit cost, 22 characters of salt and
 * 31 of hash in bcrypt's base64 alphabet.
 */
const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$/;

export function isBcryptHash(value: string | undefined): value is string {
  return value !== undefined && BCRYPT_HASH.test(value);
}

/**
 * The secret hash is read apart from the rest: it decides between CONNACK 4 and everything else, and
 * nothing else about a key may be revealed before the secret is verified (SPEC section 2).
 */
export function parseSecretHash(hash: RedisHash): Parsed<string> {
  const secret = hash.secret;
  if (secret === undefined) return { ok: false, problem: 'field "secret" is missing' };
  if (!isBcryptHash(secret)) return { ok: false, problem: 'field "secret" is not a bcrypt hash' };
  return { ok: true, value: secret };
}

const TOPIC_FILTER_MODES: ReadonlySet<string> = new Set(['none', 'all', 'allow', 'deny']);

function parseTopicList(raw: string | undefined, field: string): Parsed<readonly string[]> {
  if (raw === undefined || raw.trim() === '') return { ok: true, value: EMPTY_LIST };
  const filters = splitList(raw);
  for (const filter of filters) {
    if (!isValidTopicFilter(filter)) return { ok: false, problem: `field "${field}" has an invalid filter` };
  }
  return { ok: true, value: filters };
}

/** Parses everything but the secret. Any unparseable field makes the whole key unusable (deny). */
export function parseKeyRecord(hash: RedisHash): Parsed<KeyRecord> {
  const status = hash.status ?? 'active';
  if (status !== 'active' && status !== 'inactive') {
    return { ok: false, problem: 'field "status" is neither "active" nor "inactive"' };
  }
  const restrictions = parseRestrictions(hash.restrictions);
  if (!restrictions.ok) return restrictions;
  const topicFilter = hash.topicFilter ?? 'none';
  if (!TOPIC_FILTER_MODES.has(topicFilter)) {
    return { ok: false, problem: 'field "topicFilter" is not one of none, all, allow, deny' };
  }
  const pubTopics = parseTopicList(hash.pubTopics, 'pubTopics');
  if (!pubTopics.ok) return pubTopics;
  const subTopics = parseTopicList(hash.subTopics, 'subTopics');
  if (!subTopics.ok) return subTopics;
  return {
    ok: true,
    value: {
      active: status === 'active',
      scope: restrictions.value,
      topicFilter: topicFilter as TopicFilterMode,
      pubTopics: pubTopics.value,
      subTopics: subTopics.value,
    },
  };
}

const DEVICE_TYPES: ReadonlySet<string> = new Set(['standalone', 'gateway', 'peripheral']);

export function parseDeviceRecord(deviceId: string, hash: RedisHash): Parsed<DeviceRecord> {
  const tags = parseTags(hash.tags);
  if (!tags.ok) return tags;
  const type = hash.type ?? 'standalone';
  if (!DEVICE_TYPES.has(type)) {
    return { ok: false, problem: 'field "type" is not one of standalone, gateway, peripheral' };
  }
  const gateway = hash.gateway ?? '*';
  // Checked whatever the type: a field that is present but unparseable denies (SPEC section 1).
  if (gateway !== '*' && !isValidIdentifier(gateway)) {
    return { ok: false, problem: 'field "gateway" is neither a device ID nor "*"' };
  }
  return { ok: true, value: { id: deviceId, tags: tags.value, type: type as DeviceType, gateway } };
}
