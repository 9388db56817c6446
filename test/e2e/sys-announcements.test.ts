import { createServer, type Server } from 'node:net';
import { Aedes } from 'aedes';
import mqtt, { type MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  closed,
  connectDevice,
  Seeder,
  startTestBroker,
  subackCodes,
  type TestBroker,
} from '../support/harness.js';

// aedes announces every client's connect, disconnect, SUBSCRIBE and UNSUBSCRIBE on $SYS/<broker id>/...;
// no keygate device may read a `$` topic, so keygate's broker does not publish them
// (src/server/sys-announcements.ts). A subscriber inside the broker process is the only one that could see
// them: it is what these tests listen with.
const SECRET = 'announcements-secret';

let broker: TestBroker;
let seed: Seeder;
const open: MqttClient[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
  seed = new Seeder(broker.prefix);
  await seed.device('dev-1');
  await seed.key('k-all', SECRET);
});

afterEach(() => {
  for (const client of open.splice(0)) client.end(true);
});

afterAll(async () => {
  await seed.close();
  await broker.close();
});

/** Subscribes inside `aedes` to every $SYS topic; returns the topics seen (heartbeats left out). */
async function sysTopics(aedes: Aedes): Promise<string[]> {
  const seen: string[] = [];
  await new Promise<void>((resolve) =>
    aedes.subscribe(
      '$SYS/#',
      (packet, done) => {
        if (!packet.topic.endsWith('/heartbeat')) seen.push(packet.topic.split('/').slice(2).join('/'));
        done();
      },
      () => resolve(),
    ),
  );
  return seen;
}

/** A device's whole life: CONNECT, SUBSCRIBE, UNSUBSCRIBE, DISCONNECT. */
async function live(client: MqttClient): Promise<void> {
  expect(await subackCodes(client, ['losant/dev-1/state'])).toEqual([0]);
  await client.unsubscribeAsync('losant/dev-1/state');
  await client.endAsync();
  // aedes announces the disconnect once it has closed the client: give it the turn.
  await new Promise((resolve) => setTimeout(resolve, 100));
}

describe("aedes' client announcements on $SYS", () => {
  it('bare aedes publishes four for a device that connects, subscribes, unsubscribes and leaves', async () => {
    // The control: the listener below would see them (so the keygate test can fail).
    const bare = await Aedes.createBroker();
    const server: Server = createServer((socket) => bare.handle(socket));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const seen = await sysTopics(bare);
      const port = (server.address() as { port: number }).port;
      const client = await mqtt.connectAsync({
        port,
        host: '127.0.0.1',
        clientId: 'dev-1',
        reconnectPeriod: 0,
      });
      await live(client);
      expect(seen.sort()).toEqual([
        'disconnect/clients',
        'new/clients',
        'new/subscribes',
        'new/unsubscribes',
      ]);
    } finally {
      await new Promise<void>((resolve) => bare.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("keygate's broker publishes none of them (one instance), while aedes' events still fire", async () => {
    const aedes = broker.running.broker;
    const seen = await sysTopics(aedes);
    const events: string[] = [];
    const record = (name: string) => () => events.push(name);
    aedes.on('client', record('client'));
    aedes.on('subscribe', record('subscribe'));
    aedes.on('unsubscribe', record('unsubscribe'));
    aedes.on('clientDisconnect', record('clientDisconnect'));
    const client = await connectDevice(
      broker.port,
      { clientId: 'dev-1', username: 'k-all', password: SECRET },
      open,
    );
    await live(client);
    await closed(client);
    expect(events).toEqual(['client', 'subscribe', 'unsubscribe', 'clientDisconnect']);
    expect(seen).toEqual([]);
  });

  it('a publish of its own on $SYS still goes through (only the client announcements are dropped)', async () => {
    const aedes = broker.running.broker;
    const seen = await sysTopics(aedes);
    await new Promise<void>((resolve) =>
      aedes.publish({ topic: `$SYS/${aedes.id}/operator/note`, payload: Buffer.from('x') } as never, () =>
        resolve(),
      ),
    );
    await expect.poll(() => seen).toEqual(['operator/note']);
  });
});
