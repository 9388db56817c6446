import { afterAll, beforeAll, expect, it } from 'vitest';
import { connackOf, Seeder, startTestBroker, type TestBroker } from '../support/harness.js';
import { encodeConnect, sendRaw } from '../support/raw-mqtt.js';

// The secret never appears in a log line (SPEC section 2), whatever the outcome, at the most verbose level.
const RIGHT = 'Right-Secret-Zq7xVb1';
const WRONG = 'Wrong-Secret-Jf3kLm9';
const MISPLACED = 'Misplaced-Secret-Pw4';

let broker: TestBroker;
let seed: Seeder;
let storedHash = '';

beforeAll(async () => {
  broker = await startTestBroker({ logLevel: 'trace' });
  seed = new Seeder(broker.prefix);
  await seed.device('dev-1');
  await seed.device('dev-2', { tags: 'x=1' });
  await seed.key('key-1', RIGHT);
  await seed.key('key-off', RIGHT, { status: 'inactive' });
  await seed.key('key-bad', RIGHT, { restrictions: ',,' });
  await seed.key('key-scoped', RIGHT, { restrictions: 'dev-1' });
  storedHash = (await seed.redis.hget(`${broker.prefix}key:key-1`, 'secret')) as string;
});

afterAll(async () => {
  await seed.close();
  await broker.close();
});

it('no secret, wrong secret or stored hash appears in any log line', async () => {
  const outcomes = [
    await connackOf(broker.port, { clientId: 'dev-1', username: 'key-1', password: RIGHT }),
    await connackOf(broker.port, { clientId: 'dev-1', username: 'key-1', password: WRONG }),
    await connackOf(broker.port, { clientId: 'dev-1', username: 'nobody', password: WRONG }),
    await connackOf(broker.port, { clientId: 'dev-1', username: 'key-off', password: RIGHT }),
    await connackOf(broker.port, { clientId: 'dev-1', username: 'key-bad', password: RIGHT }),
    await connackOf(broker.port, { clientId: 'dev-2', username: 'key-scoped', password: RIGHT }),
    await connackOf(broker.port, { clientId: 'ghost', username: 'key-1', password: RIGHT }),
    await connackOf(broker.port, { clientId: 'bad/id', username: 'key-1', password: RIGHT }),
    await connackOf(broker.port, {
      clientId: 'dev-1',
      username: 'key-1',
      password: RIGHT,
      will: { topic: 'x/y', payload: Buffer.from('w'), qos: 0, retain: false },
    }),
    // A secret typed into the username field is not a valid identifier here, so it is not logged.
    await connackOf(broker.port, { clientId: 'dev-1', username: `${MISPLACED}/`, password: 'x' }),
    (
      await sendRaw(
        broker.port,
        encodeConnect({
          clientId: Buffer.from('dev-1'),
          username: Buffer.from('key-1'),
          password: Buffer.from(`${WRONG}\u00ff`, 'latin1'),
        }),
      )
    ).returnCode,
  ];
  expect(outcomes).toEqual([0, 4, 4, 5, 5, 5, 5, 2, 5, 4, 4]);

  const logs = broker.logs.text();
  expect(broker.logs.lines.length).toBeGreaterThan(10);
  for (const secret of [RIGHT, WRONG, MISPLACED, storedHash]) {
    expect(logs).not.toContain(secret);
    expect(logs).not.toContain(Buffer.from(secret).toString('base64'));
    expect(logs).not.toContain(Buffer.from(secret).toString('hex'));
  }
});
