import type { Logger } from 'pino';

/**
 * Logs each distinct problem with a Redis record once (SPEC section 1: "logged once with the key name"),
 * so a malformed key that a device retries every second does not flood the log. Bounded: past `limit`
 * remembered problems the memory is dropped and problems may be logged again.
 */
export class ProblemLog {
  private readonly seen = new Set<string>();

  constructor(
    private readonly logger: Logger,
    private readonly limit = 10_000,
  ) {}

  report(redisKey: string, problem: string): void {
    // Structured (not concatenated) so that two different (key, problem) pairs can never collide.
    const id = JSON.stringify([redisKey, problem]);
    if (this.seen.has(id)) return;
    if (this.seen.size >= this.limit) this.seen.clear();
    this.seen.add(id);
    this.logger.warn({ redisKey, problem }, 'malformed record in Redis: denying');
  }

  /** Forget a key's problems (after it changed), so a new problem with it is logged again. */
  forget(): void {
    this.seen.clear();
  }
}
