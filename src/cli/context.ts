import { type Config, loadConfig } from '../config.js';
import { ExitCode } from '../errors.js';
import { AdminStore } from '../store/admin-store.js';
import { Keyspace } from '../store/keyspace.js';
import type { CliIo } from './io.js';

/**
 * What a command needs besides its arguments: the streams, the settings (REDIS_URL, KEYGATE_PREFIX,
 * KEYGATE_TOPIC_ROOT — the broker's own loadConfig, so the CLI and the broker always agree), and a Redis
 * connection opened on first use, only once the command's input has been validated.
 */
export class CliContext {
  /** The exit code of a command that succeeded; `explain` sets REFUSED. */
  exitCode: ExitCode = ExitCode.OK;
  private loaded: Config | undefined;
  private opened: AdminStore | undefined;

  constructor(
    readonly io: CliIo,
    private readonly env: NodeJS.ProcessEnv = process.env,
  ) {}

  /** @throws KeygateError KG_ERR_CONFIG_INVALID (exit 78) naming the setting. */
  config(): Config {
    this.loaded ??= loadConfig(this.env);
    return this.loaded;
  }

  keyspace(): Keyspace {
    return new Keyspace(this.config().prefix);
  }

  /** @throws KeygateError KG_ERR_REDIS_UNREACHABLE (exit 69), within about 2 seconds. */
  async store(): Promise<AdminStore> {
    this.opened ??= await AdminStore.connect({ url: this.config().redisUrl, keyspace: this.keyspace() });
    return this.opened;
  }

  close(): void {
    this.opened?.close();
    this.opened = undefined;
  }
}
