import type { Command } from 'commander';
import { KeygateError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { requireIdentifier, writeFields, writeJson } from '../output.js';
import { deviceView } from '../views.js';

/** `keygate devices show <id>`. */
export function registerDevicesShow(devices: Command, ctx: CliContext): void {
  devices
    .command('show')
    .summary('show one device')
    .description('Show a registered device: type, gateway, tags, name, and whether the broker can use it.')
    .argument('<id>', 'device ID')
    .option('--json', 'print the device as JSON')
    .action(async (id: string, options: { json?: boolean }) => {
      requireIdentifier(id, 'device ID');
      const store = await ctx.store();
      const record = await store.read('device', id);
      if (record.state === 'missing') throw new KeygateError('KG_ERR_DEVICE_NOT_FOUND', id);
      const view = deviceView(id, record);
      if (options.json) {
        writeJson(ctx.io, view);
        return;
      }
      writeFields(ctx.io, [
        ['id', view.id],
        ['type', view.type],
        ...(view.type === 'peripheral' ? [['gateway', view.gateway] as const] : []),
        ['tags', view.tags === '' ? '(none)' : view.tags],
        ['name', view.name],
        ['usable', view.valid ? 'yes' : `no: ${view.problem}`],
      ]);
    });
}
