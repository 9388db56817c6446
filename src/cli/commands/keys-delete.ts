import type { Command } from 'commander';
import { KeygateError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { requireIdentifier } from '../output.js';

/** `keygate keys delete <key>`. */
export function registerKeysDelete(keys: Command, ctx: CliContext): void {
  keys
    .command('delete')
    .summary('delete an access key')
    .description(
      'Delete an access key. New connections with it get CONNACK 4, and every device connected with it is disconnected.',
    )
    .argument('<key>', 'the access key ID')
    .action(async (key: string) => {
      requireIdentifier(key, 'access key');
      const store = await ctx.store();
      if (!(await store.delete('key', key))) throw new KeygateError('KG_ERR_KEY_NOT_FOUND', key);
      ctx.io.stdout.write(`access key ${key} deleted\n`);
    });
}
