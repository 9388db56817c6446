import mqemitter from 'mqemitter';
import { describe, expect, it } from 'vitest';
import {
  createMemoryMessageQueue,
  guardReleaseRecursion,
  MAX_RELEASE_DEPTH,
} from '../../src/server/message-queue.js';

const QUEUED = 10_000;

/**
 * One slot (concurrency 1) taken by a message whose listener holds its callback, QUEUED messages nobody
 * listens to queued behind it; resolves the callback that frees the slot and the emit callbacks' order.
 */
function stuckQueue(mq: ReturnType<typeof mqemitter>) {
  let free: (() => void) | undefined;
  mq.on('held', (_message, done) => {
    free = done;
  });
  const order: number[] = [];
  mq.emit({ topic: 'held' });
  for (let i = 0; i < QUEUED; i++) mq.emit({ topic: 'nobody/listens', i }, () => order.push(i));
  return { free: () => (free as () => void)(), order };
}

describe('the message queue frees its slots without unbounded recursion', () => {
  it('unguarded, mqemitter overflows the stack emptying a queue of unmatched messages (the defect)', () => {
    const { free } = stuckQueue(mqemitter({ concurrency: 1 }));
    expect(free).toThrow(RangeError);
  });

  it('guarded, the same queue empties — every callback once, in order — and the stack never grows past the depth', async () => {
    const mq = guardReleaseRecursion(mqemitter({ concurrency: 1 }));
    const { free, order } = stuckQueue(mq);
    expect(free).not.toThrow();
    // The first MAX_RELEASE_DEPTH went at once; the rest follow a setImmediate per MAX_RELEASE_DEPTH.
    expect(order.length).toBeGreaterThanOrEqual(MAX_RELEASE_DEPTH);
    expect(order.length).toBeLessThan(QUEUED);
    while (order.length < QUEUED) await new Promise((resolve) => setImmediate(resolve));
    expect(order).toEqual(Array.from({ length: QUEUED }, (_, i) => i));
  });

  it('keeps the order of messages emitted while a release waits: newer ones queue behind older ones', async () => {
    const mq = guardReleaseRecursion(mqemitter({ concurrency: 1 }));
    const seen: string[] = [];
    mq.on('t/#', (message, done) => {
      seen.push(message.topic);
      done();
    });
    const { free } = stuckQueue(mq);
    mq.emit({ topic: 't/after-1' });
    free();
    mq.emit({ topic: 't/after-2' });
    for (let i = 0; i < 1000 && seen.length < 2; i++) await new Promise((resolve) => setImmediate(resolve));
    expect(seen).toEqual(['t/after-1', 't/after-2']);
  });

  it("the memory queue matches like aedes' own: + matches an empty level [MQTT-4.7.1-3]", async () => {
    const mq = createMemoryMessageQueue();
    const seen: string[] = [];
    mq.on('a/+/c', (message, done) => {
      seen.push(message.topic);
      done();
    });
    await new Promise<void>((resolve) => mq.emit({ topic: 'a//c' }, () => resolve()));
    expect(seen).toEqual(['a//c']);
  });

  it('refuses what is not an mqemitter 7', () => {
    expect(() => guardReleaseRecursion({} as ReturnType<typeof mqemitter>)).toThrow(TypeError);
  });
});
