import { randomBytes } from 'node:crypto';
import bcrypt from 'bcryptjs';
import { type Command, Option } from 'commander';
import { KeygateError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { keyFields, PLACEHOLDER_HASH } from '../fields.js';
import { orInvalid, requireIdentifier, writeFields, writeJson } from '../output.js';
import { DEFAULT_COST, MAX_COST, MIN_COST, parseCost } from './hash-secret.js';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** `k-` and 16 base32 characters: 80 random bits, a valid identifier. */
export function generateKeyId(): string {
  const bytes = randomBytes(10);
  let bits = 0;
  let value = 0;
  let id = 'k-';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      id += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  return id;
}

/** 256 random bits, base64url: 43 characters, well under bcrypt's 72 bytes. */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

interface CreateOptions {
  key?: string;
  restrictions?: string;
  topicFilter?: string;
  pubTopics?: string;
  subTopics?: string;
  description?: string;
  cost: number;
  json?: boolean;
}

/** `keygate keys create`: a new active key; prints its ID and secret once, stores only the hash. */
export function registerKeysCreate(keys: Command, ctx: CliContext): void {
  keys
    .command('create')
    .summary('create an access key; print its secret once')
    .description(
      'Create an active access key with a random ID (k-...) and a random 256-bit secret. The secret is printed once and never stored: Redis keeps only its bcrypt hash. Every option is checked with the parsers the broker uses; a value they refuse writes nothing (exit 65).',
    )
    .option('--key <id>', 'the key ID to use instead of a random one')
    .option(
      '--restrictions <list>',
      'devices the key may be used by: device IDs and tag=value / tag=* entries, comma-separated (default: every device)',
    )
    .option('--topic-filter <mode>', 'custom topics: none (default), all, allow or deny')
    .option('--pub-topics <filters>', 'MQTT filters for --topic-filter allow|deny (publish), comma-separated')
    .option(
      '--sub-topics <filters>',
      'MQTT filters for --topic-filter allow|deny (subscribe), comma-separated',
    )
    .option('--description <text>', 'free text for admins')
    .addOption(
      new Option('--cost <n>', `bcrypt cost factor, ${MIN_COST} to ${MAX_COST}`)
        .default(DEFAULT_COST)
        .argParser(parseCost),
    )
    .option('--json', 'print {"key": ..., "secret": ...}')
    .addHelpText(
      'after',
      `
Examples:
  keygate keys create --restrictions "thermo-1,floor=3" --description "floor 3"
  keygate keys create --restrictions "backend-1,floor=3" --topic-filter allow --pub-topics "losant/+/command"
  keygate keys create --json | jq -r .secret`,
    )
    .action(async (options: CreateOptions) => {
      const key = options.key === undefined ? generateKeyId() : requireIdentifier(options.key, 'access key');
      // Validated before anything is generated or written; the placeholder is replaced by the real hash.
      const input = {
        restrictions: options.restrictions,
        topicFilter: options.topicFilter,
        pubTopics: options.pubTopics,
        subTopics: options.subTopics,
        description: options.description,
      };
      orInvalid(keyFields(key, { ...input, secretHash: PLACEHOLDER_HASH }));
      const store = await ctx.store();
      const secret = generateSecret();
      const secretHash = await bcrypt.hash(secret, options.cost);
      const fields = orInvalid(keyFields(key, { ...input, secretHash }));
      if ((await store.create('key', key, fields)) === 'exists') {
        throw new KeygateError('KG_ERR_KEY_EXISTS', key);
      }
      if (options.json) {
        writeJson(ctx.io, { key, secret });
        return;
      }
      writeFields(ctx.io, [
        ['access key', key],
        ['secret', secret],
      ]);
      ctx.io.stdout.write('The secret is shown only this once: Redis keeps only its bcrypt hash.\n');
    });
}
