import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Client } from 'aedes';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/eventually.js';
import { connect, connectDevice, Seeder, startTestBroker, type TestBroker } from '../support/harness.js';

// A device that disconnects leaves nothing of its connection behind: keygate's indexes of live sessions
// (by access key, by device ID — how a change in Redis finds the sessions it affects) let go of a client
// as soon as aedes reports it gone, not when the device next reconnects or at the next re-validation.
// Holding it kept the whole aedes Client — socket, parser, buffers, ~17 KB — of every device that had
// disconnected, and in a reconnect storm every closed connection outlived the young generation (issue 7).

// The garbage collector, for this test only (the test runner does not start Node with --expose-gc).
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const SECRET = 'gone-secret';
let broker: TestBroker;
let seed: Seeder;

beforeAll(async () => {
  // The periodic re-validation (which sweeps closed clients too) is kept out of the test's way.
  broker = await startTestBroker({ revalidateMs: 3_600_000 });
  seed = new Seeder(broker.prefix);
  for (const id of ['gone-1', 'gone-2', 'stays']) await seed.device(id);
  await seed.key('key-gone', SECRET, { restrictions: 'gone-1,gone-2' });
  await seed.key('key-stays', SECRET, { restrictions: 'stays' });
});

afterAll(async () => {
  await broker.close();
  await seed.close();
});

/**
 * A weak reference to the aedes Client of the next connection the broker registers (a promise resolved
 * with the client itself would hold it).
 */
function nextClient(): Promise<WeakRef<Client>> {
  return new Promise((resolve) =>
    broker.running.broker.once('client', (client) => resolve(new WeakRef(client))),
  );
}

describe('a disconnected device', () => {
  it('leaves no connection behind: its aedes Client can be collected once it is gone', async () => {
    const open: MqttClient[] = [];
    const stays = await connectDevice(
      broker.port,
      { clientId: 'stays', username: 'key-stays', password: SECRET },
      open,
    );
    const refs: WeakRef<Client>[] = [];
    for (const clientId of ['gone-1', 'gone-2']) {
      const registered = nextClient();
      const { returnCode, client } = await connect(broker.port, {
        clientId,
        username: 'key-gone',
        password: SECRET,
      });
      expect(returnCode).toBe(0);
      const gone = new Promise<void>((resolve) =>
        broker.running.broker.once('clientDisconnect', () => resolve()),
      );
      refs.push(await registered);
      await new Promise<void>((resolve) => client.end(false, {}, () => resolve()));
      await gone;
    }
    const collected = await eventually(async () => {
      collectGarbage();
      // A WeakRef's target stays alive until the end of the job that read it: look in a later one.
      await new Promise((resolve) => setImmediate(resolve));
      return refs.every((ref) => ref.deref() === undefined);
    }, 5000);
    expect(collected, 'the disconnected clients should have been collected').toBe(true);
    // The device still connected is untouched: it is still found, and revoked, by a change in Redis.
    const closed = new Promise<void>((resolve) => stays.once('close', () => resolve()));
    await seed.redis.del(`${broker.prefix}key:key-stays`);
    await closed;
  });
});
