import type { RawRecord } from '../store/admin-store.js';
import { parseDeviceRecord, parseKeyRecord, parseSecretHash } from '../store/records.js';

/**
 * What `list` and `show` print of a record: its fields as stored (defaults filled in), whether the
 * broker can use it and, if not, why. Never the secret hash.
 */
export interface KeyView {
  key: string;
  status: string;
  restrictions: string;
  topicFilter: string;
  pubTopics: string;
  subTopics: string;
  description: string;
  createdAt: string;
  /** Whether the broker can use this key (its secret is a bcrypt hash and every field parses). */
  valid: boolean;
  problem?: string;
}

export interface DeviceView {
  id: string;
  type: string;
  gateway: string;
  tags: string;
  name: string;
  valid: boolean;
  problem?: string;
}

export function keyView(key: string, record: RawRecord): KeyView {
  const hash = record.state === 'found' ? record.hash : {};
  const view: KeyView = {
    key,
    status: hash.status ?? 'active',
    restrictions: hash.restrictions ?? '',
    topicFilter: hash.topicFilter ?? 'none',
    pubTopics: hash.pubTopics ?? '',
    subTopics: hash.subTopics ?? '',
    description: hash.description ?? '',
    createdAt: hash.createdAt ?? '',
    valid: true,
  };
  let problem: string | undefined;
  if (record.state === 'wrongtype') problem = 'the Redis key is not a hash';
  else if (record.state === 'missing') problem = 'the key does not exist';
  else {
    const secret = parseSecretHash(hash);
    const parsed = parseKeyRecord(hash);
    if (!secret.ok) problem = secret.problem;
    else if (!parsed.ok) problem = parsed.problem;
  }
  if (problem !== undefined) {
    view.valid = false;
    view.problem = problem;
  }
  return view;
}

/** The bcrypt cost of the stored secret, for `keys show` (the hash itself is never printed). */
export function secretSummary(record: RawRecord): string {
  if (record.state !== 'found') return 'none';
  const secret = parseSecretHash(record.hash);
  if (!secret.ok) return `unusable (${secret.problem})`;
  return `bcrypt hash, cost ${Number(secret.value.slice(4, 6))} (not shown)`;
}

export function deviceView(id: string, record: RawRecord): DeviceView {
  const hash = record.state === 'found' ? record.hash : {};
  const view: DeviceView = {
    id,
    type: hash.type ?? 'standalone',
    gateway: hash.gateway ?? (hash.type === 'peripheral' ? '*' : ''),
    tags: hash.tags ?? '',
    name: hash.name ?? '',
    valid: true,
  };
  let problem: string | undefined;
  if (record.state === 'wrongtype') problem = 'the Redis key is not a hash';
  else if (record.state === 'missing') problem = 'the device does not exist';
  else {
    const parsed = parseDeviceRecord(id, hash);
    if (!parsed.ok) problem = parsed.problem;
  }
  if (problem !== undefined) {
    view.valid = false;
    view.problem = problem;
  }
  return view;
}
