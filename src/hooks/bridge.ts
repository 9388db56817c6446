import type { Logger } from 'pino';

/**
 * The one bridge between Aedes' callback hooks and keygate's async code. Aedes ignores a hook's return
 * value, so an `async` hook that rejects becomes an unhandled rejection that kills Node; and a hook that
 * never calls back leaves the client hanging. `bridge` guarantees, on every path:
 *   - `done` is called exactly once (later outcomes are dropped),
 *   - synchronous throws and rejections are caught and mapped to an error,
 *   - the answer comes within `timeoutMs`.
 */
export interface BridgeOptions {
  readonly timeoutMs: number;
  /** The error to answer with when the work did not finish in time. */
  readonly onTimeout: () => Error;
  /** Turns whatever the work threw into the error Aedes is given (fail closed). */
  readonly mapError: (err: unknown) => Error;
  readonly logger: Logger;
  readonly hook: string;
}

/** What the caller may still do once the work is under way. */
export interface Bridged {
  /** Gives the work `ms` from now (when that is later than its deadline): it waits for something slow but bounded. */
  extend(ms: number): void;
}

export function bridge<T>(
  work: () => Promise<T>,
  done: (err: Error | null, value: T | null) => void,
  options: BridgeOptions,
): Bridged {
  let settled = false;
  const finish = (err: Error | null, value: T | null): void => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    try {
      done(err, value);
    } catch (callbackError) {
      options.logger.error({ err: callbackError, hook: options.hook }, 'aedes callback threw');
    }
  };
  const expire = (): void => finish(options.onTimeout(), null);
  let deadline = performance.now() + options.timeoutMs;
  let timer = setTimeout(expire, options.timeoutMs);
  timer.unref();
  // Promise.resolve().then(work) turns a synchronous throw inside `work` into a rejection.
  Promise.resolve()
    .then(work)
    .then(
      (value) => finish(null, value),
      (err: unknown) => finish(options.mapError(err), null),
    );
  return {
    extend(ms) {
      const until = performance.now() + ms;
      if (settled || until <= deadline) return;
      deadline = until;
      clearTimeout(timer);
      timer = setTimeout(expire, ms);
      timer.unref();
    },
  };
}
