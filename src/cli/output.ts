import { KeygateError } from '../errors.js';
import type { Parsed } from '../policy/tags.js';
import { identifierProblem, printable } from './fields.js';
import type { CliIo } from './io.js';

/** Prints `value` as indented JSON (every `--json` output). */
export function writeJson(io: CliIo, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Prints rows as columns aligned on the widest cell; control characters escaped. */
export function writeTable(
  io: CliIo,
  headers: readonly string[],
  rows: readonly (readonly string[])[],
): void {
  const cells = [headers, ...rows].map((row) => row.map((cell) => printable(cell)));
  const widths = headers.map((_h, i) => Math.max(...cells.map((row) => (row[i] ?? '').length)));
  for (const row of cells) {
    const line = row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ');
    io.stdout.write(`${line.trimEnd()}\n`);
  }
}

/** Prints `label  value` lines, labels aligned. */
export function writeFields(io: CliIo, entries: readonly (readonly [string, string])[]): void {
  const width = Math.max(...entries.map(([label]) => label.length));
  for (const [label, value] of entries) io.stdout.write(`${label.padEnd(width)}  ${printable(value)}\n`);
}

/** @throws KeygateError KG_ERR_INVALID_INPUT (exit 65) when `value` is not a valid identifier. */
export function requireIdentifier(value: string, what: string): string {
  const problem = identifierProblem(value, what);
  if (problem) throw new KeygateError('KG_ERR_INVALID_INPUT', problem);
  return value;
}

/** The value, or KG_ERR_INVALID_INPUT (exit 65) with the parser's problem. */
export function orInvalid<T>(parsed: Parsed<T>): T {
  if (!parsed.ok) throw new KeygateError('KG_ERR_INVALID_INPUT', printable(parsed.problem));
  return parsed.value;
}
