import type { Command } from 'commander';
import { KeygateError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { requireIdentifier } from '../output.js';

/** `keygate devices delete <id>`. */
export function registerDevicesDelete(devices: Command, ctx: CliContext): void {
  devices
    .command('delete')
    .summary('delete a device')
    .description(
      'Delete a registered device. It can no longer connect (CONNACK 5), and if it is connected it is disconnected.',
    )
    .argument('<id>', 'device ID')
    .action(async (id: string) => {
      requireIdentifier(id, 'device ID');
      const store = await ctx.store();
      if (!(await store.delete('device', id))) throw new KeygateError('KG_ERR_DEVICE_NOT_FOUND', id);
      ctx.io.stdout.write(`device ${id} deleted\n`);
    });
}
