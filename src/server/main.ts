import { loadConfig } from '../config.js';
import { isKeygateError } from '../errors.js';
import { createLogger } from '../logger.js';
import { startBroker } from './broker.js';

/** `npm start`: the ready broker. Exits 0 after SIGTERM/SIGINT, 78 on bad configuration. */
async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    process.stderr.write(`keygate: ${(err as Error).message}\n`);
    process.exit(isKeygateError(err) ? err.exitCode : 1);
  }
  const logger = createLogger(config.logLevel);
  // Signals are handled from the start: a SIGTERM during start-up waits for it, then shuts down.
  const running = startBroker(config, logger).catch((err: Error) => {
    logger.fatal({ err: err.message }, 'cannot start the listeners (MQTT, TLS, WebSocket, HTTP)');
    process.exit(1);
  });

  const SHUTDOWN_LIMIT_MS = 10_000;
  let stopping = false;
  const stop = (signal: NodeJS.Signals): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    const force = setTimeout(() => {
      logger.error('shutdown took too long: exiting anyway');
      process.exit(1);
    }, SHUTDOWN_LIMIT_MS);
    force.unref();
    running
      .then((broker) => broker.close())
      .then(
        () => {
          logger.info('stopped');
          process.exit(0);
        },
        (err: Error) => {
          logger.error({ err: err.message }, 'error while shutting down');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

void main();
