import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { writeJson, writeTable } from '../output.js';
import { keyView } from '../views.js';

/** `keygate keys list`: every access key under the prefix (SCAN), never its secret hash. */
export function registerKeysList(keys: Command, ctx: CliContext): void {
  keys
    .command('list')
    .summary('list the access keys')
    .description(
      'List every access key under the prefix (Redis SCAN, never KEYS), sorted by ID. The secret hash is never printed. A key the broker cannot use (no bcrypt hash, a malformed field) is listed with the reason.',
    )
    .option('--json', 'print a JSON array of keys')
    .action(async (options: { json?: boolean }) => {
      const store = await ctx.store();
      const views = (await store.list('key')).map(({ id, record }) => keyView(id, record));
      if (options.json) {
        writeJson(ctx.io, views);
        return;
      }
      if (views.length === 0) {
        ctx.io.stdout.write(`no access keys under the prefix "${store.keyspace.prefix}"\n`);
        return;
      }
      writeTable(
        ctx.io,
        ['KEY', 'STATUS', 'RESTRICTIONS', 'TOPIC FILTER', 'CREATED', 'DESCRIPTION'],
        views.map((view) => [
          view.key,
          view.valid ? view.status : `unusable: ${view.problem}`,
          view.restrictions === '' ? '(every device)' : view.restrictions,
          view.topicFilter,
          view.createdAt,
          view.description,
        ]),
      );
    });
}
