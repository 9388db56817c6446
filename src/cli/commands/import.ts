import { readFile } from 'node:fs/promises';
import bcrypt from 'bcryptjs';
import { Presets, SingleBar } from 'cli-progress';
import { type Command, Option } from 'commander';
import { KeygateError } from '../../errors.js';
import type { ImportCounts, ImportItem } from '../../store/admin-store.js';
import type { CliContext } from '../context.js';
import { printable, quote } from '../fields.js';
import { COLUMNS, detectFormat, type ImportRecord, parseImport } from '../import-file.js';
import { DEFAULT_COST, MAX_COST, MIN_COST, parseCost } from './hash-secret.js';

/** Records per MULTI/EXEC. */
const BATCH_SIZE = 1000;
/** A batch is cut short after this many plain secrets, so the progress bar moves while bcrypt works. */
const SECRETS_PER_BATCH = 16;
/** Problems printed, one line each, before "... and N more". */
const MAX_PROBLEM_LINES = 100;

interface ImportOptions {
  format?: string;
  cost: number;
  dryRun?: boolean;
}

function batches(records: readonly ImportRecord[]): ImportRecord[][] {
  const result: ImportRecord[][] = [];
  let batch: ImportRecord[] = [];
  let secrets = 0;
  for (const record of records) {
    batch.push(record);
    if (record.plainSecret !== undefined) secrets++;
    if (batch.length >= BATCH_SIZE || secrets >= SECRETS_PER_BATCH) {
      result.push(batch);
      batch = [];
      secrets = 0;
    }
  }
  if (batch.length > 0) result.push(batch);
  return result;
}

function plural(count: number, one: string, many: string): string {
  return `${count} ${count === 1 ? one : many}`;
}

/** `keygate import <file>`: keys and devices from JSON or CSV; all validated first, then written. */
export function registerImport(program: Command, ctx: CliContext): void {
  program
    .command('import')
    .summary('import keys and devices from a JSON or CSV file')
    .description(
      `Import access keys and devices from a JSON or CSV file ("-" reads stdin). Every record is validated first, with the broker's parsers; if any is bad, each problem is printed with its line and nothing is written (exit 65). Then records are written in transactions of ${BATCH_SIZE}; a record with the ID of an existing one replaces it whole. A progress bar is shown on a terminal.

Keys take either "secretHash", a bcrypt hash (e.g. from keygate hash-secret; fast), or "secret" in clear, hashed here at --cost (bcrypt at cost 10 takes about 70 ms per key: give hashes for thousands of keys).`,
    )
    .argument('<file>', 'the file to import, or - for stdin')
    .addOption(new Option('--format <format>', 'json or csv (default: from the extension, else the content)'))
    .addOption(
      new Option('--cost <n>', `bcrypt cost for secrets given in clear, ${MIN_COST} to ${MAX_COST}`)
        .default(DEFAULT_COST)
        .argParser(parseCost),
    )
    .option('--dry-run', 'validate only; connect to nothing, write nothing')
    .addHelpText(
      'after',
      `
JSON:
  {"devices": [{"id": "thermo-1", "tags": "floor=3,type=sensor", "type": "standalone", "name": "T1"},
               {"id": "sensor-7", "type": "peripheral", "gateway": "gw-1"}],
   "keys": [{"key": "k-floor3", "secretHash": "$2b$10$...", "restrictions": "floor=3",
             "description": "floor 3"}]}

CSV (a header, then one record per line; quote fields holding commas):
  ${COLUMNS.join(',')}

  kind,id,tags,type,gateway,name,secretHash,restrictions
  device,thermo-1,"floor=3,type=sensor",,,Thermostat 1,,
  key,k-floor3,,,,,$2b$10$...,floor=3`,
    )
    .action(async (file: string, options: ImportOptions) => {
      let text: string;
      try {
        text = file === '-' ? await readStdin(ctx) : await readFile(file, 'utf8');
      } catch (err) {
        const reason = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
        throw new KeygateError('KG_ERR_INVALID_INPUT', `cannot read ${quote(file)} (${reason})`);
      }
      const name = file === '-' ? 'stdin' : file;
      const { records, problems } = parseImport(text, detectFormat(file, text, options.format));
      if (problems.length > 0) {
        for (const { where, problem } of problems.slice(0, MAX_PROBLEM_LINES)) {
          ctx.io.stderr.write(`keygate: ${printable(name)}: ${where}: ${printable(problem)}\n`);
        }
        const more = problems.length - MAX_PROBLEM_LINES;
        if (more > 0) ctx.io.stderr.write(`keygate: ${printable(name)}: ... and ${more} more\n`);
        throw new KeygateError(
          'KG_ERR_IMPORT_INVALID',
          `${plural(problems.length, 'bad record', 'bad records')} in ${printable(name)}`,
        );
      }
      const devices = records.filter((r) => r.kind === 'device').length;
      const keys = records.length - devices;
      const what = `${plural(devices, 'device', 'devices')} and ${plural(keys, 'key', 'keys')}`;
      if (options.dryRun) {
        ctx.io.stdout.write(`${printable(name)} is valid: ${what} would be imported (dry run)\n`);
        return;
      }
      const store = await ctx.store();
      const stderr = ctx.io.stderr as NodeJS.WritableStream & { isTTY?: boolean };
      const bar =
        stderr.isTTY === true && records.length > 0
          ? new SingleBar(
              {
                stream: stderr,
                format: 'importing [{bar}] {percentage}% | {value}/{total} records | {duration}s',
                hideCursor: true,
                clearOnComplete: true,
              },
              Presets.shades_classic,
            )
          : undefined;
      bar?.start(records.length, 0);
      const total: ImportCounts = { created: 0, replaced: 0 };
      try {
        for (const batch of batches(records)) {
          const items: ImportItem[] = [];
          for (const record of batch) {
            const fields =
              record.plainSecret === undefined
                ? record.fields
                : { ...record.fields, secret: await bcrypt.hash(record.plainSecret, options.cost) };
            items.push({ kind: record.kind, id: record.id, fields });
          }
          const counts = await store.importBatch(items);
          total.created += counts.created;
          total.replaced += counts.replaced;
          bar?.increment(batch.length);
        }
      } finally {
        bar?.stop();
      }
      ctx.io.stdout.write(
        `imported ${what} from ${printable(name)} (${total.created} new, ${total.replaced} replaced)\n`,
      );
    });
}

async function readStdin(ctx: CliContext): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of ctx.io.stdin) chunks.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
  return Buffer.concat(chunks).toString('utf8');
}
