import fastparallel from 'fastparallel';
import mqemitter, { type MQEmitter } from 'mqemitter';

/**
 * How deep releases may nest in one synchronous chain before the next one waits for setImmediate. Each
 * level is a handful of stack frames; 64 of them are far from Node's stack limit and never reached by
 * messages that have a subscriber (their deliveries call back asynchronously).
 */
export const MAX_RELEASE_DEPTH = 64;

/** The internals of mqemitter 7 (mqemitter.js) the guard replaces; checked at run time. */
interface QueueInternals {
  /** Frees one of the `concurrency` slots and starts the next queued message, if any. */
  _released: () => void;
  /** Calls a message's listeners, then `_released`. */
  _parallel: ReturnType<typeof fastparallel>;
}

/**
 * Makes an mqemitter free its slots without unbounded recursion.
 *
 * mqemitter runs at most `concurrency` messages at once (aedes: 100) and queues the rest. When a message's
 * listeners have all called back, it frees the slot and starts the next queued message in the same call
 * stack. A message no listener matches calls back at once, so a long queue of such messages is emptied in
 * one recursion, a few frames per message — and a few thousand overflow the stack: `RangeError: Maximum
 * call stack size exceeded`, thrown from a socket's data handler, which ends the process. A subscriber
 * that stops reading while devices publish (its deliveries wait for the socket to drain, holding the
 * slots, so the queue grows) and then disconnects (its subscription gone, the queued messages match
 * nothing) is enough; bare aedes 1.2 crashes the same way (test/e2e/slow-subscriber.test.ts; upstream:
 * mcollina/mqemitter#204, never merged). Past MAX_RELEASE_DEPTH nested releases, the next one waits for
 * setImmediate: the stack unwinds. The slot stays taken meanwhile, so newer messages keep queueing behind
 * the older ones and the order is unchanged.
 */
export function guardReleaseRecursion<T extends MQEmitter>(mq: T): T {
  const internals = mq as unknown as Partial<QueueInternals>;
  const release = internals._released;
  if (typeof release !== 'function' || typeof internals._parallel !== 'function') {
    throw new TypeError('guardReleaseRecursion: not an mqemitter 7 instance');
  }
  let depth = 0;
  const released = (): void => {
    if (depth >= MAX_RELEASE_DEPTH) {
      setImmediate(released);
      return;
    }
    depth++;
    try {
      release();
    } finally {
      depth--;
    }
  };
  internals._parallel = fastparallel({ results: false, released });
  return mq;
}

/**
 * aedes' own in-memory message queue (aedes.js: `mqemitter({ concurrency, matchEmptyLevels: true })`),
 * with the release guard.
 */
export function createMemoryMessageQueue(concurrency = 100): MQEmitter {
  // matchEmptyLevels: `a/+` matches `a/` [MQTT-4.7.1-3], as aedes sets it.
  return guardReleaseRecursion(mqemitter({ concurrency, matchEmptyLevels: true }));
}
