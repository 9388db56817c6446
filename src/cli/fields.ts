import { FORBIDDEN_CHARACTERS, isValidIdentifier } from '../policy/identifiers.js';
import { parseRestrictions } from '../policy/restrictions.js';
import { formatTags, type Parsed, parseTags, splitList } from '../policy/tags.js';
import { isBcryptHash, parseDeviceRecord, parseKeyRecord, type RedisHash } from '../store/records.js';

/**
 * What the admin CLI writes, built and validated with the very parsers the broker reads with
 * (src/store/records.ts, src/policy/*): a record the CLI writes is one the broker accepts. Pure: no Redis.
 */

export const DEVICE_TYPES = ['standalone', 'gateway', 'peripheral'] as const;
export const TOPIC_FILTERS = ['none', 'all', 'allow', 'deny'] as const;
export const KEY_STATUSES = ['active', 'inactive'] as const;

/** Longest free text (`name`, `description`, `createdAt`) the CLI writes. */
export const MAX_TEXT_LENGTH = 1024;

/** The fields of one Redis hash, ready for HSET. */
export type Fields = Record<string, string>;

/** Control characters shown escaped, so that a message about bad input stays on one line. */
export function printable(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: escaping control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g, (c) => {
    return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
  });
}

/** A value quoted for a message: JSON string syntax, so blanks and control characters are visible. */
export function quote(value: string): string {
  return printable(JSON.stringify(value));
}

export function identifierProblem(value: string, what: string): string | undefined {
  if (isValidIdentifier(value)) return undefined;
  return `${what} ${quote(value)} is not a valid identifier (1 to 128 of A-Z a-z 0-9 _ . : -)`;
}

function textProblem(value: string, field: string): string | undefined {
  if (value.length > MAX_TEXT_LENGTH) return `${field} is longer than ${MAX_TEXT_LENGTH} characters`;
  if (FORBIDDEN_CHARACTERS.test(value)) return `${field} contains a control character or invalid text`;
  return undefined;
}

function oneOf(value: string, allowed: readonly string[], field: string): string | undefined {
  return allowed.includes(value) ? undefined : `${field} ${quote(value)} is not one of ${allowed.join(', ')}`;
}

/** A comma-separated list rewritten without the blanks around its entries (what the parsers ignore). */
function normalizeList(raw: string): string {
  return splitList(raw).join(',');
}

export interface DeviceInput {
  tags?: string | undefined;
  type?: string | undefined;
  gateway?: string | undefined;
  name?: string | undefined;
}

/**
 * The hash of a device: `type` always, `tags` normalised (`floor = 3` → `floor=3`, duplicates dropped)
 * and only when there are some, `gateway` only for peripherals, `name` when given.
 */
export function deviceFields(id: string, input: DeviceInput): Parsed<Fields> {
  const fail = (problem: string): Parsed<Fields> => ({ ok: false, problem });
  const idProblem = identifierProblem(id, 'device ID');
  if (idProblem) return fail(idProblem);
  const fields: Fields = {};
  const type = input.type ?? 'standalone';
  const typeProblem = oneOf(type, DEVICE_TYPES, 'type');
  if (typeProblem) return fail(typeProblem);
  fields.type = type;
  if (input.tags !== undefined) {
    const tags = parseTags(input.tags);
    if (!tags.ok) return fail(`tags: ${printable(tags.problem)}`);
    const normalized = formatTags(tags.value);
    if (normalized !== '') fields.tags = normalized;
  }
  if (input.gateway !== undefined && input.gateway !== '') {
    if (type !== 'peripheral') return fail('a gateway is only set on a device of type peripheral');
    if (input.gateway !== '*') {
      const gatewayProblem = identifierProblem(input.gateway, 'gateway');
      if (gatewayProblem) return fail(gatewayProblem);
      if (input.gateway === id) return fail('a peripheral cannot be its own gateway');
    }
    fields.gateway = input.gateway;
  }
  if (input.name !== undefined && input.name !== '') {
    const nameProblem = textProblem(input.name, 'name');
    if (nameProblem) return fail(nameProblem);
    fields.name = input.name;
  }
  // The broker's own parser has the last word.
  const parsed = parseDeviceRecord(id, fields);
  return parsed.ok ? { ok: true, value: fields } : fail(printable(parsed.problem));
}

/** A well-formed bcrypt hash of nothing, to validate a key's other fields before its secret is hashed. */
export const PLACEHOLDER_HASH = `$2b$10$${'.'.repeat(53)}`;

export interface KeyInput {
  /** The bcrypt hash of the secret (never the secret itself). */
  secretHash: string;
  status?: string | undefined;
  restrictions?: string | undefined;
  topicFilter?: string | undefined;
  pubTopics?: string | undefined;
  subTopics?: string | undefined;
  description?: string | undefined;
  createdAt?: string | undefined;
}

/**
 * The hash of an access key: `secret` (a bcrypt hash), `status`, `topicFilter` and `createdAt` always;
 * `restrictions`, `pubTopics`, `subTopics` (normalised) and `description` when not empty.
 */
export function keyFields(id: string, input: KeyInput): Parsed<Fields> {
  const fail = (problem: string): Parsed<Fields> => ({ ok: false, problem });
  const idProblem = identifierProblem(id, 'access key');
  if (idProblem) return fail(idProblem);
  if (!isBcryptHash(input.secretHash)) return fail('secretHash is not a bcrypt hash ($2a$, $2b$ or $2y$)');
  const fields: Fields = { secret: input.secretHash };
  const status = input.status ?? 'active';
  const statusProblem = oneOf(status, KEY_STATUSES, 'status');
  if (statusProblem) return fail(statusProblem);
  fields.status = status;
  if (input.restrictions !== undefined && input.restrictions !== '') {
    // Checked as given first: blanks alone must stay an error, not normalise into "unrestricted".
    const scope = parseRestrictions(input.restrictions);
    if (!scope.ok) return fail(`restrictions: ${printable(scope.problem)}`);
    fields.restrictions = normalizeList(input.restrictions);
  }
  const topicFilter = input.topicFilter ?? 'none';
  const modeProblem = oneOf(topicFilter, TOPIC_FILTERS, 'topicFilter');
  if (modeProblem) return fail(modeProblem);
  fields.topicFilter = topicFilter;
  for (const field of ['pubTopics', 'subTopics'] as const) {
    const raw = input[field];
    if (raw === undefined || raw === '') continue;
    if (topicFilter !== 'allow' && topicFilter !== 'deny') {
      return fail(`${field} are only used with topicFilter allow or deny (it is ${topicFilter})`);
    }
    fields[field] = normalizeList(raw);
  }
  if (input.description !== undefined && input.description !== '') {
    const problem = textProblem(input.description, 'description');
    if (problem) return fail(problem);
    fields.description = input.description;
  }
  const createdAt = input.createdAt ?? new Date().toISOString();
  const createdProblem = textProblem(createdAt, 'createdAt');
  if (createdProblem) return fail(createdProblem);
  fields.createdAt = createdAt;
  // The broker's own parser has the last word (it also checks every topic filter).
  const parsed = parseKeyRecord(fields as RedisHash);
  return parsed.ok ? { ok: true, value: fields } : fail(printable(parsed.problem));
}
