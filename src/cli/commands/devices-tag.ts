import type { Command } from 'commander';
import { KeygateError } from '../../errors.js';
import { formatTags, parseTags, type Tags } from '../../policy/tags.js';
import type { CliContext } from '../context.js';
import { printable } from '../fields.js';
import { orInvalid, requireIdentifier } from '../output.js';

interface TagOptions {
  add?: string;
  remove?: string;
}

function parseTagList(raw: string, what: string): Tags {
  const parsed = parseTags(raw);
  if (!parsed.ok) throw new KeygateError('KG_ERR_INVALID_INPUT', `${what}: ${printable(parsed.problem)}`);
  return parsed.value;
}

function merge(current: Tags, add: Tags | undefined, remove: Tags | undefined): Tags {
  const result = new Map<string, Set<string>>();
  for (const [key, values] of current) result.set(key, new Set(values));
  for (const [key, values] of add ?? []) {
    const set = result.get(key) ?? new Set<string>();
    for (const value of values) set.add(value);
    result.set(key, set);
  }
  for (const [key, values] of remove ?? []) {
    const set = result.get(key);
    if (set === undefined) continue;
    for (const value of values) set.delete(value);
    if (set.size === 0) result.delete(key);
  }
  return result;
}

/** `keygate devices tag <id> [tags]`: replaces a device's tags, or adds / removes some. */
export function registerDevicesTag(devices: Command, ctx: CliContext): void {
  devices
    .command('tag')
    .summary("replace, add or remove a device's tags")
    .description(
      'Replace the tags of a registered device with <tags> ("" removes them all), or add and remove some with --add and --remove. The change is atomic, and connected sessions follow it at once (a device leaving a key\'s scope is disconnected).',
    )
    .argument('<id>', 'device ID')
    .argument('[tags]', 'the new tags, comma-separated key=value')
    .option('--add <tags>', 'tags to add, comma-separated key=value')
    .option('--remove <tags>', 'tags to remove, comma-separated key=value')
    .addHelpText(
      'after',
      `
Examples:
  keygate devices tag thermo-1 "floor=3,type=sensor"
  keygate devices tag thermo-1 --add floor=4 --remove floor=3`,
    )
    .action(async (id: string, tags: string | undefined, options: TagOptions) => {
      requireIdentifier(id, 'device ID');
      const editing = options.add !== undefined || options.remove !== undefined;
      if (tags !== undefined && editing) {
        throw new KeygateError('KG_ERR_USAGE', 'give either <tags> or --add/--remove, not both');
      }
      if (tags === undefined && !editing) {
        throw new KeygateError('KG_ERR_USAGE', 'give the new tags, or --add/--remove');
      }
      const replacement = tags === undefined ? undefined : parseTagList(tags, 'tags');
      const add = options.add === undefined ? undefined : parseTagList(options.add, '--add');
      const remove = options.remove === undefined ? undefined : parseTagList(options.remove, '--remove');
      const store = await ctx.store();
      let written = '';
      const found = await store.update('device', id, (hash) => {
        let next: Tags;
        if (replacement !== undefined) next = replacement;
        else {
          const current = parseTags(hash.tags);
          if (!current.ok) {
            throw new KeygateError(
              'KG_ERR_RECORD_MALFORMED',
              `the tags of device ${id} do not parse (${printable(current.problem)}); replace them: keygate devices tag ${id} "<tags>"`,
            );
          }
          next = merge(current.value, add, remove);
        }
        written = formatTags(next);
        // The broker's parser accepts what is written (formatTags of parsed tags always parses).
        orInvalid(parseTags(written));
        if (written === (hash.tags ?? '')) return undefined;
        if (written !== '') return { set: { tags: written }, remove: [] };
        // A hash with no field left is no hash: keep the device registered (type missing = standalone).
        const alone = Object.keys(hash).every((field) => field === 'tags');
        const set: Record<string, string> = alone ? { type: 'standalone' } : {};
        return { set, remove: ['tags'] };
      });
      if (!found) throw new KeygateError('KG_ERR_DEVICE_NOT_FOUND', id);
      ctx.io.stdout.write(`device ${id} tags: ${written === '' ? '(none)' : printable(written)}\n`);
    });
}
