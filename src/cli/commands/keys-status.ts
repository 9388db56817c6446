import type { Command } from 'commander';
import { KeygateError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { requireIdentifier } from '../output.js';

/**
 * `keygate keys activate <key>` and `keygate keys deactivate <key>` (one file: they differ by one word).
 * Sets the `status` field of an existing key; connected devices using a deactivated key are
 * disconnected by the broker.
 */
export function registerKeysStatus(keys: Command, ctx: CliContext): void {
  for (const status of ['active', 'inactive'] as const) {
    const verb = status === 'active' ? 'activate' : 'deactivate';
    keys
      .command(verb)
      .summary(`${verb} an access key`)
      .description(
        status === 'active'
          ? 'Set the key\'s status to "active": devices may connect with it again.'
          : 'Set the key\'s status to "inactive": new connections with it get CONNACK 5, and every device connected with it is disconnected (on every broker instance).',
      )
      .argument('<key>', 'the access key ID')
      .action(async (key: string) => {
        requireIdentifier(key, 'access key');
        const store = await ctx.store();
        const found = await store.update('key', key, (hash) =>
          hash.status === status ? undefined : { set: { status }, remove: [] },
        );
        if (!found) throw new KeygateError('KG_ERR_KEY_NOT_FOUND', key);
        ctx.io.stdout.write(`access key ${key} is ${status}\n`);
      });
  }
}
