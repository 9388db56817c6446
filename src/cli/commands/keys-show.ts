import type { Command } from 'commander';
import { KeygateError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { requireIdentifier, writeFields, writeJson } from '../output.js';
import { keyView, secretSummary } from '../views.js';

/** `keygate keys show <key>`: one access key's fields, never its secret hash. */
export function registerKeysShow(keys: Command, ctx: CliContext): void {
  keys
    .command('show')
    .summary('show one access key')
    .description(
      'Show an access key: status, restrictions, topic rules, description, creation time, and whether the broker can use it. The secret hash is never printed (only its bcrypt cost).',
    )
    .argument('<key>', 'the access key ID')
    .option('--json', 'print the key as JSON')
    .action(async (key: string, options: { json?: boolean }) => {
      requireIdentifier(key, 'access key');
      const store = await ctx.store();
      const record = await store.read('key', key);
      if (record.state === 'missing') throw new KeygateError('KG_ERR_KEY_NOT_FOUND', key);
      const view = keyView(key, record);
      if (options.json) {
        writeJson(ctx.io, view);
        return;
      }
      writeFields(ctx.io, [
        ['key', view.key],
        ['status', view.status],
        ['secret', secretSummary(record)],
        ['restrictions', view.restrictions === '' ? '(none: every device)' : view.restrictions],
        ['topicFilter', view.topicFilter],
        ['pubTopics', view.pubTopics],
        ['subTopics', view.subTopics],
        ['description', view.description],
        ['createdAt', view.createdAt],
        ['usable', view.valid ? 'yes' : `no: ${view.problem}`],
      ]);
    });
}
