import type { Command } from 'commander';
import { KeygateError } from '../../errors.js';
import type { CliContext } from '../context.js';
import { deviceFields } from '../fields.js';
import { orInvalid } from '../output.js';

interface AddOptions {
  tags?: string;
  type?: string;
  gateway?: string;
  name?: string;
  replace?: boolean;
}

/** `keygate devices add <id>`: registers a device. */
export function registerDevicesAdd(devices: Command, ctx: CliContext): void {
  devices
    .command('add')
    .summary('register a device')
    .description(
      'Register a device: its ID is the MQTT client ID it connects with. An existing device is left alone (exit 73) unless --replace is given, which replaces its record whole.',
    )
    .argument('<id>', 'device ID: 1 to 128 of A-Z a-z 0-9 _ . : -')
    .option('--tags <tags>', 'comma-separated key=value tags, e.g. "floor=3,type=sensor"')
    .option('--type <type>', 'standalone (default), gateway or peripheral')
    .option(
      '--gateway <id>',
      'for a peripheral: the device ID of its gateway, or * for any gateway (default)',
    )
    .option('--name <name>', 'free text')
    .option('--replace', 'replace the device if it exists')
    .addHelpText(
      'after',
      `
Examples:
  keygate devices add thermo-1 --tags "floor=3,type=sensor" --name "Thermostat 1"
  keygate devices add gw-1 --type gateway
  keygate devices add sensor-7 --type peripheral --gateway gw-1`,
    )
    .action(async (id: string, options: AddOptions) => {
      const fields = orInvalid(deviceFields(id, options));
      const store = await ctx.store();
      const outcome = await store.create('device', id, fields, options.replace === true);
      if (outcome === 'exists') {
        throw new KeygateError('KG_ERR_DEVICE_EXISTS', `${id} (use --replace to replace it)`);
      }
      ctx.io.stdout.write(`device ${id} ${outcome === 'replaced' ? 'replaced' : 'registered'}\n`);
    });
}
