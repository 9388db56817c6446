import { KeygateError } from '../errors.js';
import type { CliIo } from './io.js';

/** bcrypt reads only the first 72 bytes of its input and silently ignores the rest. */
export const BCRYPT_MAX_SECRET_BYTES = 72;

/** Input read past this is not kept: it is refused as too long anyway, and a runaway pipe cannot fill memory. */
const MAX_INPUT_BYTES = 64 * 1024;

// The broker decodes passwords with the same settings (fatal, BOM skipped), so the CLI hashes exactly the
// string the broker will compare.
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Removes exactly one trailing line ending, `\n` or `\r\n` (what `echo` and a terminal add). */
export function stripOneLineEnding(bytes: Buffer): Buffer {
  if (bytes.at(-1) !== 0x0a) return bytes;
  return bytes.subarray(0, bytes.at(-2) === 0x0d ? -2 : -1);
}

/**
 * The secret the bytes spell, if it can be one: not empty, valid UTF-8, no NUL (what the broker refuses
 * in a password), and at most 72 bytes, so that every byte of it counts.
 * @throws KeygateError KG_ERR_SECRET_UNUSABLE saying why.
 */
export function parseSecret(bytes: Buffer, truncated = false): string {
  if (bytes.length === 0) throw new KeygateError('KG_ERR_SECRET_UNUSABLE', 'it is empty');
  if (truncated || bytes.length > BCRYPT_MAX_SECRET_BYTES) {
    const size = truncated ? `more than ${MAX_INPUT_BYTES}` : String(bytes.length);
    throw new KeygateError(
      'KG_ERR_SECRET_UNUSABLE',
      `it is ${size} bytes in UTF-8; bcrypt ignores everything after the first ${BCRYPT_MAX_SECRET_BYTES}, so use at most ${BCRYPT_MAX_SECRET_BYTES}`,
    );
  }
  let secret: string;
  try {
    secret = utf8.decode(bytes);
  } catch {
    throw new KeygateError('KG_ERR_SECRET_UNUSABLE', 'it is not valid UTF-8');
  }
  if (secret.includes('\u0000'))
    throw new KeygateError('KG_ERR_SECRET_UNUSABLE', 'it contains a NUL character');
  return secret;
}

/**
 * Reads a secret from stdin: everything up to end of input, or, on a terminal, one line after a
 * "Secret: " prompt on stderr (the input is echoed). One trailing line ending is removed.
 * @throws KeygateError KG_ERR_SECRET_UNUSABLE
 */
export async function readSecret({ stdin, stderr }: Pick<CliIo, 'stdin' | 'stderr'>): Promise<string> {
  const interactive = stdin.isTTY === true;
  if (interactive) stderr.write('Secret: ');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of stdin) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    chunks.push(bytes);
    size += bytes.length;
    if (size > MAX_INPUT_BYTES || (interactive && bytes.includes(0x0a))) break;
  }
  let input = Buffer.concat(chunks);
  if (interactive) {
    const newline = input.indexOf(0x0a);
    if (newline !== -1) input = input.subarray(0, newline + 1);
  }
  return parseSecret(stripOneLineEnding(input), size > MAX_INPUT_BYTES);
}
