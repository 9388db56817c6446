import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connackOf, Seeder, startTestBroker, type TestBroker } from '../support/harness.js';
import { encodeConnect, sendRaw } from '../support/raw-mqtt.js';

// Odd clientIds, usernames and passwords get a CONNACK from the table, never an exception or a hang.
const SECRET = 'bad-input-secret';
const INVALID_UTF8 = Buffer.from([0x74, 0x68, 0xc3, 0x28, 0xff]);
const b = (text: string) => Buffer.from(text, 'utf8');

let broker: TestBroker;
let seed: Seeder;

beforeAll(async () => {
  broker = await startTestBroker();
  seed = new Seeder(broker.prefix);
  await seed.device('dev-1');
  await seed.key('key-1', SECRET);
});

afterAll(async () => {
  await seed.close();
  await broker.close();
});

describe('raw CONNECT packets', () => {
  it('a well-formed raw CONNECT is accepted (the encoder is right)', async () => {
    const outcome = await sendRaw(
      broker.port,
      encodeConnect({ clientId: b('dev-1'), username: b('key-1'), password: b(SECRET) }),
      500,
    );
    expect(outcome.returnCode).toBe(0);
  });

  it.each([
    ['clientId with NUL', { clientId: b('dev\u00001'), username: b('key-1'), password: b(SECRET) }, 2],
    ['clientId of invalid UTF-8', { clientId: INVALID_UTF8, username: b('key-1'), password: b(SECRET) }, 2],
    [
      '64 KB clientId',
      { clientId: Buffer.alloc(65_000, 0x61), username: b('key-1'), password: b(SECRET) },
      2,
    ],
    ['clientId "+/#"', { clientId: b('+/#'), username: b('key-1'), password: b(SECRET) }, 2],
    ['username with NUL', { clientId: b('dev-1'), username: b('key\u00001'), password: b(SECRET) }, 4],
    ['username of invalid UTF-8', { clientId: b('dev-1'), username: INVALID_UTF8, password: b(SECRET) }, 4],
    [
      '64 KB username',
      { clientId: b('dev-1'), username: Buffer.alloc(65_000, 0x61), password: b(SECRET) },
      4,
    ],
    ['password of invalid UTF-8', { clientId: b('dev-1'), username: b('key-1'), password: INVALID_UTF8 }, 4],
    [
      'the right secret in invalid UTF-8 around it',
      {
        clientId: b('dev-1'),
        username: b('key-1'),
        password: Buffer.concat([b(SECRET), Buffer.from([0xff])]),
      },
      4,
    ],
    [
      'password with NUL after the right secret',
      { clientId: b('dev-1'), username: b('key-1'), password: b(`${SECRET}\u0000`) },
      4,
    ],
    [
      '64 KB password',
      { clientId: b('dev-1'), username: b('key-1'), password: Buffer.alloc(65_000, 0x61) },
      4,
    ],
    ['empty username and password', { clientId: b('dev-1'), username: b(''), password: b('') }, 4],
  ])('%s gets CONNACK %i', async (_name, packet, expected) => {
    const outcome = await sendRaw(broker.port, encodeConnect(packet));
    expect(outcome.returnCode).toBe(expected);
  });

  it('password flag without username flag is a protocol violation: closed without CONNACK [MQTT-3.1.2-22]', async () => {
    const packet = encodeConnect({ clientId: b('dev-1'), password: b(SECRET) });
    expect(packet[9]).toBe(0x42); // flags: password + clean session, no username
    const outcome = await sendRaw(broker.port, packet);
    expect(outcome.closed).toBe(true);
    expect(outcome.returnCode === undefined || outcome.returnCode === 4).toBe(true);
  });

  it('the broker is still serving after all of the above', async () => {
    expect(await connackOf(broker.port, { clientId: 'dev-1', username: 'key-1', password: SECRET })).toBe(0);
  });
});
