import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  collect,
  connect,
  Seeder,
  startTestBroker,
  subackCodes,
  type TestBroker,
  waitFor,
} from '../support/harness.js';
import { encodePublish, encodeSubscribe, RawSession } from '../support/raw-mqtt.js';

// Topics and filters that well-behaved clients refuse to send: NUL, invalid UTF-8, misplaced wildcards.
const SECRET = 'hostile-secret';
const b = (text: string) => Buffer.from(text, 'utf8');

let broker: TestBroker;
let seed: Seeder;

beforeAll(async () => {
  broker = await startTestBroker();
  seed = new Seeder(broker.prefix);
  await seed.device('dev-1');
  await seed.device('watcher');
  await seed.key('key-1', SECRET, { topicFilter: 'all' });
});

afterAll(async () => {
  await seed.close();
  await broker.close();
});

const login = { clientId: b('dev-1'), username: b('key-1'), password: b(SECRET) };

describe('SUBSCRIBE with an invalid filter gets 0x80 for it, the others are decided on their own', () => {
  it.each([
    ['NUL', b('losant/dev-1/\u0000')],
    ['invalid UTF-8', Buffer.concat([b('losant/dev-1/'), Buffer.from([0xc3, 0x28])])],
    ['U+FFFD', b('losant/dev-1/\ufffd')],
    ['+ inside a level', b('losant/dev-1+/state')],
    ['# inside a level', b('losant/dev-1/a#')],
    ['# not last', b('losant/#/state')],
    ['empty', b('')],
    ['over 1,024 bytes', b(`losant/dev-1/${'x'.repeat(1100)}`)],
  ])('%s', async (_name, filter) => {
    const session = await RawSession.open(broker.port, login);
    session.send(encodeSubscribe([filter, b('losant/dev-1/state')]));
    const codes = await session.suback().catch(async () => {
      // aedes may refuse a packet it cannot decode by closing the connection: also a refusal.
      await session.waitClosed();
      return [0x80, 0x80];
    });
    expect(codes[0]).toBe(0x80);
    session.close();
  });
});

describe('PUBLISH with an invalid topic closes the connection and reaches no one', () => {
  it.each([
    ['NUL', b('losant/dev-1/\u0000state')],
    ['invalid UTF-8', Buffer.concat([b('losant/dev-1/'), Buffer.from([0xff])])],
    ['U+FFFD', b('losant/dev-1/\ufffd')],
    ['a wildcard', b('losant/dev-1/+')],
    ['a custom topic with NUL', b('plant/\u0000')],
    ['over 1,024 bytes', b(`losant/dev-1/${'x'.repeat(1100)}`)],
  ])('%s', async (_name, topic) => {
    const { client: watcher } = await connect(broker.port, {
      clientId: 'watcher',
      username: 'key-1',
      password: SECRET,
    });
    await subackCodes(watcher, ['#']);
    const received = collect(watcher);

    const session = await RawSession.open(broker.port, login);
    session.send(encodePublish(topic, b('hostile')));
    await session.waitClosed();

    const honest = await RawSession.open(broker.port, login);
    honest.send(encodePublish(b('plant/ok'), b('after')));
    await waitFor(received, 'plant/ok after');
    expect(received.filter((m) => m.endsWith('hostile'))).toEqual([]);
    honest.close();
    watcher.end(true);
  });
});
