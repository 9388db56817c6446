import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { ExitCode, isKeygateError, KeygateError } from '../errors.js';
import { registerDevicesAdd } from './commands/devices-add.js';
import { registerDevicesDelete } from './commands/devices-delete.js';
import { registerDevicesList } from './commands/devices-list.js';
import { registerDevicesShow } from './commands/devices-show.js';
import { registerDevicesTag } from './commands/devices-tag.js';
import { registerExplain } from './commands/explain.js';
import { registerHashSecret } from './commands/hash-secret.js';
import { registerImport } from './commands/import.js';
import { registerKeysCreate } from './commands/keys-create.js';
import { registerKeysDelete } from './commands/keys-delete.js';
import { registerKeysList } from './commands/keys-list.js';
import { registerKeysShow } from './commands/keys-show.js';
import { registerKeysStatus } from './commands/keys-status.js';
import { CliContext } from './context.js';
import type { CliIo } from './io.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/**
 * The `keygate` admin CLI. Each command lives in `commands/<name>.ts` and registers itself with
 * `program.command(...)`, so it inherits the settings below: commander never exits the process itself and
 * never prints its own errors; `runCli` turns every failure into one `keygate: ...` line and an exit code
 * from the error catalogue.
 */
export function createProgram(io: CliIo, ctx: CliContext = new CliContext(io)): Command {
  const program = new Command('keygate')
    .description(
      'Admin tool for keygate, the MQTT broker that authenticates devices with access keys kept in Redis.',
    )
    .version(version, '-V, --version')
    .exitOverride()
    .configureOutput({
      writeOut: (text) => io.stdout.write(text),
      writeErr: (text) => io.stderr.write(text),
      outputError: () => {},
    });
  registerHashSecret(program, io);

  const keys = program
    .command('keys')
    .summary('create, list, show, activate, deactivate and delete access keys')
    .description(
      'Manage access keys (keygate:key:<accessKey> in Redis). Reads REDIS_URL and KEYGATE_PREFIX.',
    );
  registerKeysCreate(keys, ctx);
  registerKeysList(keys, ctx);
  registerKeysShow(keys, ctx);
  registerKeysStatus(keys, ctx);
  registerKeysDelete(keys, ctx);

  const devices = program
    .command('devices')
    .summary('register, tag, list, show and delete devices')
    .description('Manage devices (keygate:device:<deviceId> in Redis). Reads REDIS_URL and KEYGATE_PREFIX.');
  registerDevicesAdd(devices, ctx);
  registerDevicesTag(devices, ctx);
  registerDevicesList(devices, ctx);
  registerDevicesShow(devices, ctx);
  registerDevicesDelete(devices, ctx);

  registerImport(program, ctx);
  registerExplain(program, ctx);
  return program;
}

/** commander's messages start with "error: " and may carry a suggestion on a second line. */
function oneLine(message: string): string {
  return message
    .replace(/^error: /, '')
    .replace(/\s*\n\s*/g, ' ')
    .replace(/\.$/, '');
}

/**
 * Runs the CLI on `argv` (as in `process.argv`) and resolves with the process exit code. Settings are
 * read from `env` (REDIS_URL, KEYGATE_PREFIX, KEYGATE_TOPIC_ROOT, ...).
 */
export async function runCli(
  argv: readonly string[],
  io: CliIo,
  env: NodeJS.ProcessEnv = process.env,
): Promise<number> {
  const ctx = new CliContext(io, env);
  try {
    await createProgram(io, ctx).parseAsync(argv);
    return ctx.exitCode;
  } catch (err) {
    let failure: KeygateError;
    if (err instanceof CommanderError) {
      // --help and --version end with a CommanderError too, exit code 0.
      if (err.exitCode === 0) return ExitCode.OK;
      // "commander.help": no command given, the help went to stderr already.
      if (err.code === 'commander.help') return ExitCode.USAGE;
      failure = new KeygateError('KG_ERR_USAGE', `${oneLine(err.message)} (see 'keygate --help')`);
    } else if (isKeygateError(err)) {
      failure = err;
    } else {
      failure = new KeygateError('KG_ERR_INTERNAL', err instanceof Error ? err.message : String(err));
    }
    io.stderr.write(`keygate: ${failure.message}\n`);
    return failure.exitCode;
  } finally {
    ctx.close();
  }
}
