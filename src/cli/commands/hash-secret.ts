import bcrypt from 'bcryptjs';
import { type Command, InvalidArgumentError, Option } from 'commander';
import { Keyspace } from '../../store/keyspace.js';
import type { CliIo } from '../io.js';
import { BCRYPT_MAX_SECRET_BYTES, readSecret } from '../secret-input.js';

export const MIN_COST = 4;
export const MAX_COST = 15;
/** The cost the broker's timing-equaliser hash uses too (DUMMY_HASH in src/crypto/secret-verifier.ts). */
export const DEFAULT_COST = 10;

export function parseCost(value: string): number {
  const cost = /^\d{1,2}$/.test(value) ? Number(value) : Number.NaN;
  if (!(cost >= MIN_COST && cost <= MAX_COST)) {
    throw new InvalidArgumentError(`The cost must be a whole number from ${MIN_COST} to ${MAX_COST}.`);
  }
  return cost;
}

/** `keygate hash-secret [--cost N]`: the bcrypt hash an admin stores in a key's `secret` field. */
export function registerHashSecret(program: Command, io: CliIo): void {
  const keyName = new Keyspace().key('k-123');
  program
    .command('hash-secret')
    .summary('print the bcrypt hash of a secret read from stdin')
    .description(
      `Read an access secret from stdin and print its bcrypt hash ($2b$), for the "secret" field of an access key. One trailing newline is removed. The secret must be 1 to ${BCRYPT_MAX_SECRET_BYTES} bytes of UTF-8 without NUL: bcrypt ignores everything after ${BCRYPT_MAX_SECRET_BYTES} bytes. On a terminal, it prompts for the secret (the input is echoed).`,
    )
    .addOption(
      new Option('--cost <n>', `bcrypt cost factor, ${MIN_COST} to ${MAX_COST}; each step doubles the work`)
        .default(DEFAULT_COST)
        .argParser(parseCost),
    )
    .addHelpText(
      'after',
      `
Examples:
  printf '%s' "$SECRET" | keygate hash-secret
  redis-cli HSET ${keyName} secret "$(keygate hash-secret < secret.txt)"`,
    )
    .action(async (options: { cost: number }) => {
      const secret = await readSecret(io);
      const hash = await bcrypt.hash(secret, options.cost);
      io.stdout.write(`${hash}\n`);
    });
}
