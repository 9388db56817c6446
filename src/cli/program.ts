import { createRequire } from 'node:module';
import { Command, CommanderError } from 'commander';
import { ExitCode, isKeygateError, KeygateError } from '../errors.js';
import { registerHashSecret } from './commands/hash-secret.js';
import type { CliIo } from './io.js';

const { version } = createRequire(import.meta.url)('../../package.json') as { version: string };

/**
 * The `keygate` admin CLI. Each command lives in `commands/<name>.ts` and registers itself with
 * `program.command(...)`, so it inherits the settings below: commander never exits the process itself and
 * never prints its own errors; `runCli` turns every failure into one `keygate: ...` line and an exit code
 * from the error catalogue.
 */
export function createProgram(io: CliIo): Command {
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
  return program;
}

/** commander's messages start with "error: " and may carry a suggestion on a second line. */
function oneLine(message: string): string {
  return message
    .replace(/^error: /, '')
    .replace(/\s*\n\s*/g, ' ')
    .replace(/\.$/, '');
}

/** Runs the CLI on `argv` (as in `process.argv`) and resolves with the process exit code. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    await createProgram(io).parseAsync(argv);
    return ExitCode.OK;
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
  }
}
