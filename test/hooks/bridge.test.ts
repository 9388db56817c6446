import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { bridge } from '../../src/hooks/bridge.js';

const logger = pino({ level: 'silent' });
const options = {
  timeoutMs: 100,
  onTimeout: () => new Error('timeout'),
  mapError: (err: unknown) => new Error(`mapped: ${(err as Error).message}`),
  logger,
  hook: 'test',
};

function run<T>(work: () => Promise<T>, timeoutMs = 100) {
  const calls: [Error | null, T | null][] = [];
  const settled = new Promise<void>((resolve) =>
    bridge(
      work,
      (err, value) => {
        calls.push([err, value]);
        resolve();
      },
      { ...options, timeoutMs },
    ),
  );
  return { calls, settled };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('bridge: exactly one callback on every path', () => {
  it('resolves', async () => {
    const { calls, settled } = run(async () => 42);
    await settled;
    await sleep(150);
    expect(calls).toEqual([[null, 42]]);
  });

  it('maps a rejection', async () => {
    const { calls, settled } = run(async () => {
      throw new Error('boom');
    });
    await settled;
    await sleep(150);
    expect(calls).toHaveLength(1);
    expect(calls[0]?.[0]?.message).toBe('mapped: boom');
  });

  it('catches a synchronous throw', async () => {
    const { calls, settled } = run((() => {
      throw new Error('sync');
    }) as () => Promise<never>);
    await settled;
    expect(calls[0]?.[0]?.message).toBe('mapped: sync');
  });

  it('answers with the timeout error, then ignores the late result', async () => {
    const { calls, settled } = run(async () => {
      await sleep(200);
      return 'late';
    }, 50);
    await settled;
    expect(calls[0]?.[0]?.message).toBe('timeout');
    await sleep(250);
    expect(calls).toHaveLength(1);
  });

  it('survives a callback that throws', async () => {
    let count = 0;
    bridge(
      async () => 1,
      () => {
        count++;
        throw new Error('callback bug');
      },
      options,
    );
    await sleep(150);
    expect(count).toBe(1);
  });
});
