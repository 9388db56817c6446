import type { Command } from 'commander';
import { KeygateError } from '../../errors.js';
import { isValidTagKey, isValidTagValue } from '../../policy/identifiers.js';
import { isInScope } from '../../policy/scope.js';
import { parseTags, splitTag } from '../../policy/tags.js';
import { parseDeviceRecord, parseKeyRecord } from '../../store/records.js';
import type { CliContext } from '../context.js';
import { printable, quote } from '../fields.js';
import { requireIdentifier, writeJson, writeTable } from '../output.js';
import { deviceView } from '../views.js';

interface ListOptions {
  json?: boolean;
  tag: string[];
  inScopeOf?: string;
}

type TagFilter = [key: string, value: string];

function parseTagFilter(raw: string): TagFilter {
  const tag = splitTag(raw);
  if (tag === undefined || !isValidTagKey(tag[0]) || !(tag[1] === '*' || isValidTagValue(tag[1]))) {
    throw new KeygateError('KG_ERR_INVALID_INPUT', `--tag ${quote(raw)} is not key=value or key=*`);
  }
  return tag;
}

/** `keygate devices list`: every registered device (SCAN), optionally filtered. */
export function registerDevicesList(devices: Command, ctx: CliContext): void {
  devices
    .command('list')
    .summary('list the registered devices')
    .description(
      "List every device under the prefix (Redis SCAN, never KEYS), sorted by ID. --tag keeps devices carrying that tag (repeat it: all must match; key=* matches any value); --in-scope-of keeps the devices in an access key's scope. A device the broker cannot use is listed with the reason.",
    )
    .option(
      '--tag <key=value>',
      'only devices with this tag (repeatable)',
      (v, all: string[]) => [...all, v],
      [],
    )
    .option('--in-scope-of <key>', "only devices in this access key's scope")
    .option('--json', 'print a JSON array of devices')
    .action(async (options: ListOptions) => {
      const filters = options.tag.map(parseTagFilter);
      if (options.inScopeOf !== undefined) requireIdentifier(options.inScopeOf, 'access key');
      const store = await ctx.store();
      let scopeOf: ((id: string, tags: Parameters<typeof isInScope>[2]) => boolean) | undefined;
      if (options.inScopeOf !== undefined) {
        const key = await store.read('key', options.inScopeOf);
        if (key.state === 'missing') throw new KeygateError('KG_ERR_KEY_NOT_FOUND', options.inScopeOf);
        const parsed = key.state === 'found' ? parseKeyRecord(key.hash) : undefined;
        if (parsed === undefined || !parsed.ok) {
          throw new KeygateError(
            'KG_ERR_RECORD_MALFORMED',
            `access key ${options.inScopeOf}: ${printable(parsed?.problem ?? 'not a hash')} (its scope is empty)`,
          );
        }
        const scope = parsed.value.scope;
        scopeOf = (id, tags) => isInScope(scope, id, tags);
      }
      const listed = (await store.list('device')).filter(({ id, record }) => {
        if (filters.length === 0 && scopeOf === undefined) return true;
        if (record.state !== 'found') return false;
        const device = parseDeviceRecord(id, record.hash);
        if (!device.ok) return false;
        if (scopeOf !== undefined && !scopeOf(id, device.value.tags)) return false;
        const tags = parseTags(record.hash.tags);
        if (!tags.ok) return false;
        return filters.every(([key, value]) => {
          const values = tags.value.get(key);
          return values !== undefined && (value === '*' || values.has(value));
        });
      });
      const views = listed.map(({ id, record }) => deviceView(id, record));
      if (options.json) {
        writeJson(ctx.io, views);
        return;
      }
      if (views.length === 0) {
        ctx.io.stdout.write('no devices\n');
        return;
      }
      writeTable(
        ctx.io,
        ['ID', 'TYPE', 'GATEWAY', 'TAGS', 'NAME'],
        views.map((view) => [
          view.id,
          view.valid ? view.type : `unusable: ${view.problem}`,
          view.gateway,
          view.tags,
          view.name,
        ]),
      );
    });
}
