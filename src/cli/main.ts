import { processIo } from './io.js';
import { runCli } from './program.js';

/** The `keygate` executable (bin/keygate.js imports this file). */
process.exitCode = await runCli(process.argv, processIo);
