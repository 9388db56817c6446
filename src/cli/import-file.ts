import { KeygateError } from '../errors.js';
import type { RecordKind } from '../store/admin-store.js';
import { deviceFields, type Fields, keyFields, PLACEHOLDER_HASH, quote } from './fields.js';
import { parseSecret } from './secret-input.js';

/**
 * The `keygate import` file formats, parsed and validated in full before anything is written.
 *
 * JSON: `{"devices": [{"id", "tags", "type", "gateway", "name"}, ...],
 *         "keys": [{"key", "secretHash" | "secret", "status", "restrictions", "topicFilter",
 *                   "pubTopics", "subTopics", "description", "createdAt"}, ...]}`
 *   Values are strings; `tags`, `restrictions`, `pubTopics` and `subTopics` may also be arrays of strings.
 *   Problems are located as `devices[3]`, `keys[0]` (and the line the item starts on).
 *
 * CSV (RFC 4180: fields with `,`, `"` or a line break in double quotes, `""` for a quote): a header line
 * naming the columns (any order, any subset of COLUMNS, `kind` and `id` required), then one record per
 * line; `kind` is `device` or `key`, `id` is the device ID or the access key; an empty cell is absent.
 * Problems are located by line number.
 */

/** One record to write, validated; a key given with a plain secret still has to have it hashed. */
export interface ImportRecord {
  readonly kind: RecordKind;
  readonly id: string;
  readonly where: string;
  /** Every field to write; for a key with `plainSecret`, `secret` is still a placeholder. */
  readonly fields: Fields;
  /** Never printed, never stored: hashed at the import's `--cost`, and only the hash is written. */
  readonly plainSecret?: string;
}

export interface ImportProblem {
  readonly where: string;
  readonly problem: string;
}

export interface ParsedImport {
  readonly records: ImportRecord[];
  readonly problems: ImportProblem[];
}

export type ImportFormat = 'json' | 'csv';

const DEVICE_FIELDS = ['tags', 'type', 'gateway', 'name'] as const;
const KEY_FIELDS = [
  'secret',
  'secretHash',
  'status',
  'restrictions',
  'topicFilter',
  'pubTopics',
  'subTopics',
  'description',
  'createdAt',
] as const;
/** The CSV columns. */
export const COLUMNS = ['kind', 'id', ...DEVICE_FIELDS, ...KEY_FIELDS] as const;
/** Fields that may be given as a JSON array of strings (joined with commas). */
const LIST_FIELDS: ReadonlySet<string> = new Set(['tags', 'restrictions', 'pubTopics', 'subTopics']);

type Values = Partial<Record<string, string>>;

/** Validates one record's values, as `keys create` and `devices add` would. */
function validate(kind: RecordKind, id: string, values: Values, where: string, out: ParsedImport): boolean {
  const problem = (text: string): false => {
    out.problems.push({ where, problem: text });
    return false;
  };
  if (kind === 'device') {
    const fields = deviceFields(id, values);
    if (!fields.ok) return problem(fields.problem);
    out.records.push({ kind, id, where, fields: fields.value });
    return true;
  }
  const { secret, secretHash } = values;
  if ((secret === undefined) === (secretHash === undefined)) {
    return problem(`key ${quote(id)}: give exactly one of "secretHash" (a bcrypt hash) and "secret"`);
  }
  if (secret !== undefined) {
    try {
      parseSecret(Buffer.from(secret, 'utf8'));
    } catch (err) {
      return problem(`key ${quote(id)}: secret: ${(err as Error).message}`);
    }
  }
  const fields = keyFields(id, { ...values, secretHash: secretHash ?? PLACEHOLDER_HASH });
  if (!fields.ok) return problem(fields.problem);
  out.records.push(
    secret === undefined
      ? { kind, id, where, fields: fields.value }
      : { kind, id, where, fields: fields.value, plainSecret: secret },
  );
  return true;
}

/** Flags a second record with the same kind and ID (the file would contradict itself). */
function findDuplicates(out: ParsedImport): void {
  const seen = new Map<string, string>();
  const unique: ImportRecord[] = [];
  for (const record of out.records) {
    const id = `${record.kind} ${record.id}`;
    const first = seen.get(id);
    if (first !== undefined) {
      const what = record.kind === 'device' ? 'device' : 'access key';
      out.problems.push({ where: record.where, problem: `${what} ${record.id} is also at ${first}` });
      continue;
    }
    seen.set(id, record.where);
    unique.push(record);
  }
  out.records.splice(0, out.records.length, ...unique);
}

/** Sorts problems by where they are (line numbers numerically). */
function sortProblems(problems: ImportProblem[]): void {
  const order = (where: string) => Number(/\d+/.exec(where)?.[0] ?? 0);
  problems.sort((a, b) => order(a.where) - order(b.where));
}

export function parseImport(text: string, format: ImportFormat): ParsedImport {
  const out: ParsedImport = { records: [], problems: [] };
  if (format === 'json') parseJson(text, out);
  else parseCsv(text, out);
  findDuplicates(out);
  if (format === 'csv') sortProblems(out.problems);
  return out;
}

/** The format named by `--format`, else by the file's extension, else by its first character. */
export function detectFormat(path: string, text: string, explicit?: string): ImportFormat {
  if (explicit !== undefined) {
    if (explicit === 'json' || explicit === 'csv') return explicit;
    throw new KeygateError('KG_ERR_USAGE', `--format ${quote(explicit)} is neither json nor csv`);
  }
  if (/\.json$/i.test(path)) return 'json';
  if (/\.csv$/i.test(path)) return 'csv';
  return /^\uFEFF?\s*[{[]/.test(text) ? 'json' : 'csv';
}

// ---- JSON --------------------------------------------------------------------------------------------

/** The line each array item starts on, found by a scan of the text (strings and nesting respected). */
function itemLines(text: string): Map<string, number> {
  const lines = new Map<string, number>();
  let line = 1;
  let depth = 0;
  let section: string | undefined;
  let index = -1;
  let lastString = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\n') line++;
    else if (c === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      lastString = text.slice(i + 1, j);
      i = j;
      if (depth === 2 && section !== undefined) {
        index++;
        lines.set(`${section}[${index}]`, line);
      }
    } else if (c === '{' || c === '[') {
      depth++;
      if (depth === 2 && c === '[') {
        section = lastString;
        index = -1;
      } else if (depth === 3 && section !== undefined) {
        index++;
        lines.set(`${section}[${index}]`, line);
      }
    } else if (c === '}' || c === ']') {
      depth--;
      if (depth === 1) section = undefined;
    } else if (depth === 2 && section !== undefined && !/[\s,]/.test(c as string)) {
      // A scalar item (an error the validation reports): still counts as an item.
      index++;
      lines.set(`${section}[${index}]`, line);
      while (i + 1 < text.length && !/[\s,\]]/.test(text[i + 1] as string)) i++;
    }
  }
  return lines;
}

function parseJson(text: string, out: ParsedImport): void {
  let document: unknown;
  try {
    document = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (err) {
    out.problems.push({ where: 'the file', problem: `is not valid JSON (${(err as Error).message})` });
    return;
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) {
    out.problems.push({
      where: 'the file',
      problem: 'must hold a JSON object {"devices": [...], "keys": [...]}',
    });
    return;
  }
  const lines = itemLines(text);
  for (const section of Object.keys(document)) {
    if (section !== 'devices' && section !== 'keys') {
      out.problems.push({
        where: 'the file',
        problem: `unknown field ${quote(section)}: only "devices" and "keys"`,
      });
    }
  }
  const sections = document as Record<string, unknown>;
  for (const section of ['devices', 'keys'] as const) {
    const items = sections[section];
    if (items === undefined) continue;
    if (!Array.isArray(items)) {
      out.problems.push({ where: `"${section}"`, problem: 'must be an array' });
      continue;
    }
    items.forEach((item: unknown, i) => {
      const path = `${section}[${i}]`;
      const line = lines.get(path);
      const where = line === undefined ? path : `${path} (line ${line})`;
      jsonItem(section === 'devices' ? 'device' : 'key', item, where, out);
    });
  }
}

function jsonItem(kind: RecordKind, item: unknown, where: string, out: ParsedImport): boolean {
  const problem = (text: string): false => {
    out.problems.push({ where, problem: text });
    return false;
  };
  if (typeof item !== 'object' || item === null || Array.isArray(item)) return problem('must be an object');
  const idField = kind === 'device' ? 'id' : 'key';
  const allowed: readonly string[] = kind === 'device' ? DEVICE_FIELDS : KEY_FIELDS;
  const values: Values = {};
  let id: string | undefined;
  for (const [field, value] of Object.entries(item)) {
    if (field !== idField && !allowed.includes(field)) {
      return problem(`unknown field ${quote(field)}; a ${kind} has ${[idField, ...allowed].join(', ')}`);
    }
    if (value === null || value === undefined) continue;
    let text: string;
    if (typeof value === 'string') text = value;
    else if (Array.isArray(value) && LIST_FIELDS.has(field)) {
      if (!value.every((entry) => typeof entry === 'string' && !entry.includes(','))) {
        return problem(`"${field}" must be a string or an array of strings without commas`);
      }
      text = value.join(',');
    } else {
      return problem(`"${field}" must be a string${LIST_FIELDS.has(field) ? ' or an array of strings' : ''}`);
    }
    if (field === idField) id = text;
    else values[field] = text;
  }
  if (id === undefined) return problem(`"${idField}" is missing`);
  return validate(kind, id, values, where, out);
}

// ---- CSV ---------------------------------------------------------------------------------------------

interface CsvRow {
  readonly line: number;
  readonly cells: string[];
}

/**
 * RFC 4180 records with the line each starts on. Blank lines are skipped. A quote inside an unquoted
 * field, text after a closing quote, or a quote left open are problems.
 */
export function parseCsvRows(text: string, problems: ImportProblem[]): CsvRow[] {
  const rows: CsvRow[] = [];
  const input = text.replace(/^\uFEFF/, '');
  let line = 1;
  let i = 0;
  while (i < input.length) {
    const start = line;
    const cells: string[] = [];
    let bad: string | undefined;
    for (;;) {
      let cell = '';
      if (input[i] === '"') {
        i++;
        for (;;) {
          if (i >= input.length) {
            bad ??= 'a quoted field is not closed';
            break;
          }
          const c = input[i] as string;
          if (c === '"') {
            if (input[i + 1] === '"') {
              cell += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          if (c === '\n') line++;
          cell += c;
          i++;
        }
        while (i < input.length && input[i] !== ',' && input[i] !== '\n' && input[i] !== '\r') {
          bad ??= 'text after a closing quote';
          i++;
        }
      } else {
        while (i < input.length && input[i] !== ',' && input[i] !== '\n' && input[i] !== '\r') {
          if (input[i] === '"') bad ??= 'a quote inside an unquoted field (quote the whole field)';
          cell += input[i];
          i++;
        }
      }
      cells.push(cell);
      if (input[i] === ',') {
        i++;
        continue;
      }
      break;
    }
    // End of record: \n, \r\n or the end of the input.
    if (input[i] === '\r') i++;
    if (input[i] === '\n') i++;
    line++;
    if (bad !== undefined) problems.push({ where: `line ${start}`, problem: bad });
    else if (!(cells.length === 1 && cells[0] === '')) rows.push({ line: start, cells });
  }
  return rows;
}

function parseCsv(text: string, out: ParsedImport): void {
  const rows = parseCsvRows(text, out.problems);
  const header = rows.shift();
  if (header === undefined) {
    out.problems.push({ where: 'line 1', problem: `no header line (columns: ${COLUMNS.join(',')})` });
    return;
  }
  const columns = header.cells.map((cell) => cell.trim());
  const headerProblems: string[] = [];
  columns.forEach((column, i) => {
    if (!(COLUMNS as readonly string[]).includes(column)) {
      headerProblems.push(`unknown column ${quote(column)}`);
    } else if (columns.indexOf(column) !== i) headerProblems.push(`column ${quote(column)} appears twice`);
  });
  for (const required of ['kind', 'id']) {
    if (!columns.includes(required)) headerProblems.push(`no "${required}" column`);
  }
  if (headerProblems.length > 0) {
    out.problems.push({
      where: `line ${header.line}`,
      problem: `${headerProblems.join('; ')} (columns: ${COLUMNS.join(',')})`,
    });
    return;
  }
  for (const row of rows) {
    const where = `line ${row.line}`;
    if (row.cells.length !== columns.length) {
      out.problems.push({
        where,
        problem: `${row.cells.length} fields, but the header has ${columns.length}`,
      });
      continue;
    }
    const values: Values = {};
    columns.forEach((column, i) => {
      const cell = row.cells[i] as string;
      if (cell !== '') values[column] = cell;
    });
    const { kind, id, ...rest } = values;
    if (kind !== 'device' && kind !== 'key') {
      out.problems.push({ where, problem: `kind ${quote(kind ?? '')} is neither "device" nor "key"` });
      continue;
    }
    if (id === undefined) {
      out.problems.push({ where, problem: 'the id is empty' });
      continue;
    }
    const allowed: readonly string[] = kind === 'device' ? DEVICE_FIELDS : KEY_FIELDS;
    const misplaced = Object.keys(rest).filter((column) => !allowed.includes(column));
    if (misplaced.length > 0) {
      out.problems.push({
        where,
        problem: `a ${kind} row has no ${misplaced.map((c) => `"${c}"`).join(', ')} (leave it empty)`,
      });
      continue;
    }
    validate(kind, id, rest, where, out);
  }
}
