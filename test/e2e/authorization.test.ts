import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  closed,
  collect,
  connect,
  connectDevice,
  resumeSession,
  Seeder,
  startTestBroker,
  subackCodes,
  type TestBroker,
  waitFor,
} from '../support/harness.js';

// SPEC section 3 end to end: real mqtt.js clients over TCP, a real Redis, the ready broker.
const SECRET = 'authz-secret';
const REFUSED = 0x80;

let broker: TestBroker;
let seed: Seeder;
const open: MqttClient[] = [];

beforeAll(async () => {
  broker = await startTestBroker();
  seed = new Seeder(broker.prefix);
  await seed.device('thermo-1', { tags: 'floor=3,type=sensor' });
  await seed.device('thermo-1b', { tags: 'floor=3' });
  await seed.device('thermo-2', { tags: 'floor=4,type=sensor' });
  await seed.device('backend-1', { tags: 'role=backend' });
  await seed.device('gw-1', { type: 'gateway', tags: 'site=a' });
  await seed.device('gw-2', { type: 'gateway', tags: 'site=a' });
  await seed.device('p-1', { type: 'peripheral', gateway: 'gw-1', tags: 'site=a' });
  await seed.device('p-2', { type: 'peripheral', gateway: 'gw-2', tags: 'site=a' });
  await seed.device('p-float', { type: 'peripheral', tags: 'site=a' });
  await seed.device('p-far', { type: 'peripheral', gateway: 'gw-1', tags: 'site=b' });
  await seed.device('plc-1', { tags: 'line=1' });
  await seed.key('k-all', SECRET);
  await seed.key('k-floor3', SECRET, { restrictions: 'floor=3' });
  await seed.key('k-backend', SECRET, {
    restrictions: 'backend-1,floor=3',
    topicFilter: 'allow',
    pubTopics: 'losant/+/command',
  });
  await seed.key('k-site-a', SECRET, { restrictions: 'site=a' });
  await seed.key('k-custom-all', SECRET, { restrictions: 'plc-1', topicFilter: 'all' });
  await seed.key('k-custom-all-backend', SECRET, { restrictions: 'backend-1', topicFilter: 'all' });
  await seed.key('k-custom-allow', SECRET, {
    restrictions: 'plc-1',
    topicFilter: 'allow',
    pubTopics: 'plant/+/temp',
    subTopics: 'plant/+/alarm',
  });
  await seed.key('k-custom-deny', SECRET, {
    restrictions: 'plc-1',
    topicFilter: 'deny',
    pubTopics: 'plant/secret/#',
    subTopics: 'plant/secret/#',
  });
});

afterEach(() => {
  for (const client of open.splice(0)) client.end(true);
});

afterAll(async () => {
  await seed.close();
  await broker.close();
});

const device = (clientId: string, username: string, options: { clean?: boolean } = {}) =>
  connectDevice(broker.port, { clientId, username, password: SECRET, ...options }, open);

describe('subscriptions: SUBACK per filter', () => {
  it.each([
    ['own topics', 'thermo-1', 'k-floor3', 'losant/thermo-1/command', 0],
    ['own wildcard', 'thermo-1', 'k-floor3', 'losant/thermo-1/#', 0],
    ["in-scope device's state", 'thermo-1', 'k-floor3', 'losant/thermo-1b/state', 0],
    ["in-scope device's command", 'thermo-1', 'k-floor3', 'losant/thermo-1b/command', 0],
    ["in-scope device's other topics", 'thermo-1', 'k-floor3', 'losant/thermo-1b/message', REFUSED],
    ["out-of-scope device's state", 'thermo-1', 'k-floor3', 'losant/thermo-2/state', REFUSED],
    ['unregistered device', 'thermo-1', 'k-all', 'losant/ghost/state', REFUSED],
    ['wildcard over devices', 'thermo-1', 'k-floor3', 'losant/+/state', 0],
    ['everything', 'thermo-1', 'k-floor3', '#', 0],
    ['$SYS', 'thermo-1', 'k-all', '$SYS/#', REFUSED],
    ['shared subscription', 'thermo-1', 'k-all', '$share/g/losant/thermo-1/state', REFUSED],
    ['custom topic with topicFilter none', 'thermo-1', 'k-all', 'plant/line1/temp', REFUSED],
    ["gateway: its peripheral's commands", 'gw-1', 'k-site-a', 'losant/p-1/command', 0],
    ["gateway: its peripheral's other topics", 'gw-1', 'k-site-a', 'losant/p-1/message', 0],
    ["gateway: another gateway's peripheral (state is in scope)", 'gw-1', 'k-site-a', 'losant/p-2/state', 0],
    [
      "gateway: another gateway's peripheral (other topics)",
      'gw-1',
      'k-site-a',
      'losant/p-2/message',
      REFUSED,
    ],
    ['gateway: floating peripheral', 'gw-1', 'k-site-a', 'losant/p-float/message', 0],
    ['custom all', 'plc-1', 'k-custom-all', 'plant/line1/temp', 0],
    ['custom allow: listed', 'plc-1', 'k-custom-allow', 'plant/line1/alarm', 0],
    ['custom allow: not listed', 'plc-1', 'k-custom-allow', 'plant/line1/temp', REFUSED],
    ['custom deny: listed', 'plc-1', 'k-custom-deny', 'plant/secret/x', REFUSED],
    ['custom deny: not listed', 'plc-1', 'k-custom-deny', 'plant/line1/temp', 0],
  ])('%s: %s with %s subscribing %s', async (_name, clientId, key, filter, code) => {
    const client = await device(clientId, key);
    expect(await subackCodes(client, [filter])).toEqual([code]);
    expect(client.connected).toBe(true);
  });
});

describe('deliveries: wildcards never widen the scope', () => {
  it('a restricted key subscribed to # and losant/+/state receives only in-scope traffic', async () => {
    const watcher = await device('thermo-1', 'k-floor3');
    expect(await subackCodes(watcher, ['#', 'losant/+/state'])).toEqual([0, 0]);
    const received = collect(watcher);

    const inScope = await device('thermo-1b', 'k-floor3');
    const outOfScope = await device('thermo-2', 'k-all');
    await outOfScope.publishAsync('losant/thermo-2/state', 'floor 4');
    await inScope.publishAsync('losant/thermo-1b/message', 'not state or command');
    await inScope.publishAsync('losant/thermo-1b/state', 'floor 3');
    await inScope.publishAsync('losant/thermo-1b/command', 'cmd');

    await waitFor(received, 'losant/thermo-1b/command cmd');
    // Two matching subscriptions (# and losant/+/state): one copy per subscription is MQTT's choice.
    expect(received.filter((m) => m.includes('thermo-2'))).toEqual([]);
    expect(received.filter((m) => m.includes('/message'))).toEqual([]);
    expect(received).toContain('losant/thermo-1b/state floor 3');
  });

  it('an unrestricted key sees every device state but not their other topics', async () => {
    const watcher = await device('backend-1', 'k-all');
    await subackCodes(watcher, ['losant/#']);
    const received = collect(watcher);
    const other = await device('thermo-2', 'k-all');
    await other.publishAsync('losant/thermo-2/message', 'private');
    await other.publishAsync('losant/thermo-2/state', 'public');
    await waitFor(received, 'losant/thermo-2/state public');
    expect(received).not.toContain('losant/thermo-2/message private');
  });

  it('retained messages pass the same check', async () => {
    const outOfScope = await device('thermo-2', 'k-all');
    const inScope = await device('thermo-1b', 'k-floor3');
    await outOfScope.publishAsync('losant/thermo-2/state', 'retained 4', { retain: true, qos: 1 });
    await inScope.publishAsync('losant/thermo-1b/state', 'retained 3', { retain: true, qos: 1 });

    const watcher = await device('thermo-1', 'k-floor3');
    const received = collect(watcher);
    await subackCodes(watcher, ['losant/#']);
    await waitFor(received, 'losant/thermo-1b/state retained 3');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(received).toEqual(['losant/thermo-1b/state retained 3']);

    // Clean up the retained messages for the other tests.
    await outOfScope.publishAsync('losant/thermo-2/state', '', { retain: true, qos: 1 });
    await inScope.publishAsync('losant/thermo-1b/state', '', { retain: true, qos: 1 });
  });

  it('the offline queue of a persistent session, and its restored subscriptions, pass the same check', async () => {
    const first = await device('thermo-1', 'k-floor3', { clean: false });
    expect(await subackCodes(first, ['losant/+/state'], 1)).toEqual([1]);
    first.end(true);
    await closed(first);

    const inScope = await device('thermo-1b', 'k-floor3');
    const outOfScope = await device('thermo-2', 'k-all');
    await outOfScope.publishAsync('losant/thermo-2/state', 'queued 4', { qos: 1 });
    await inScope.publishAsync('losant/thermo-1b/state', 'queued 3', { qos: 1 });

    const { client: again, received } = resumeSession(broker.port, {
      clientId: 'thermo-1',
      username: 'k-floor3',
      password: SECRET,
    });
    open.push(again);
    await waitFor(received, 'losant/thermo-1b/state queued 3');
    // Live traffic through the restored subscription is checked too.
    await outOfScope.publishAsync('losant/thermo-2/state', 'live 4', { qos: 1 });
    await inScope.publishAsync('losant/thermo-1b/state', 'live 3', { qos: 1 });
    await waitFor(received, 'losant/thermo-1b/state live 3');
    expect(received.filter((m) => m.includes('thermo-2'))).toEqual([]);
  });
});

describe('$SYS', () => {
  it("the broker's own $SYS messages never reach a device subscribed to #", async () => {
    const watcher = await device('backend-1', 'k-all');
    await subackCodes(watcher, ['#']);
    const received = collect(watcher);
    await new Promise<void>((resolve) =>
      broker.running.broker.publish(
        {
          cmd: 'publish',
          topic: '$SYS/keygate/test',
          payload: Buffer.from('sys'),
          qos: 0,
          retain: false,
          dup: false,
        },
        () => resolve(),
      ),
    );
    const other = await device('thermo-2', 'k-all');
    await other.publishAsync('losant/thermo-2/state', 'marker');
    await waitFor(received, 'losant/thermo-2/state marker');
    expect(received.filter((m) => m.startsWith('$'))).toEqual([]);
  });
});

describe('publishing', () => {
  it("a device publishing to another device's state is disconnected, and nobody receives it", async () => {
    const watcher = await device('backend-1', 'k-all');
    await subackCodes(watcher, ['#']);
    const received = collect(watcher);
    const intruder = await device('thermo-1', 'k-floor3');
    intruder.publish('losant/thermo-1b/state', 'forged');
    await closed(intruder);
    const honest = await device('thermo-2', 'k-all');
    await honest.publishAsync('losant/thermo-2/state', 'after');
    await waitFor(received, 'losant/thermo-2/state after');
    expect(received).not.toContain('losant/thermo-1b/state forged');
    const refusal = broker.logs.records().find((r) => r.msg === 'PUBLISH refused: closing the connection');
    expect(refusal).toMatchObject({ deviceId: 'thermo-1', accessKey: 'k-floor3', reason: 'not-controlled' });
  });

  it.each([
    ['$SYS', 'thermo-1', 'k-all', '$SYS/broker/clients'],
    ['a custom topic with topicFilter none', 'thermo-1', 'k-all', 'plant/line1/temp'],
    ['the root alone', 'thermo-1', 'k-all', 'losant'],
    ['a two-level root topic', 'thermo-1', 'k-all', 'losant/thermo-1'],
    ["another device's command without custom publish rules", 'thermo-1', 'k-all', 'losant/thermo-2/command'],
    ['a backend command out of scope', 'backend-1', 'k-backend', 'losant/thermo-2/command'],
    ['a backend state for another device', 'backend-1', 'k-backend', 'losant/thermo-1/state'],
    ["another gateway's peripheral", 'gw-1', 'k-site-a', 'losant/p-2/state'],
    ['a peripheral out of scope', 'gw-1', 'k-site-a', 'losant/p-far/state'],
    ['custom allow: not listed', 'plc-1', 'k-custom-allow', 'plant/line1/alarm'],
    ['custom deny: listed', 'plc-1', 'k-custom-deny', 'plant/secret/x'],
  ])('refused: %s (%s, %s, %s) closes the connection', async (_name, clientId, key, topic) => {
    const client = await device(clientId, key);
    client.publish(topic, 'x');
    await closed(client);
  });

  it('a backend key with custom publish rules sends commands to devices in scope', async () => {
    const target = await device('thermo-1', 'k-floor3');
    await subackCodes(target, ['losant/thermo-1/command']);
    const received = collect(target);
    const backend = await device('backend-1', 'k-backend');
    await backend.publishAsync('losant/thermo-1/command', '{"name":"reboot"}', { qos: 1 });
    await waitFor(received, 'losant/thermo-1/command {"name":"reboot"}');
    expect(backend.connected).toBe(true);
  });

  it('a gateway publishes for its peripherals and floating ones, and receives their commands', async () => {
    const gateway = await device('gw-1', 'k-site-a');
    expect(await subackCodes(gateway, ['losant/p-1/command', 'losant/p-float/#'])).toEqual([0, 0]);
    const received = collect(gateway);
    const watcher = await device('thermo-2', 'k-all');
    await subackCodes(watcher, ['losant/+/state']);
    const seen = collect(watcher);
    await gateway.publishAsync('losant/p-1/state', 'p1', { qos: 1 });
    await gateway.publishAsync('losant/p-float/state', 'float', { qos: 1 });
    await waitFor(seen, 'losant/p-1/state p1');
    await waitFor(seen, 'losant/p-float/state float');

    // Another gateway drives its own peripheral; gw-1 sees its state (in scope) but not its commands.
    const other = await device('gw-2', 'k-site-a');
    await other.publishAsync('losant/p-2/state', 'p2 from its gateway', { qos: 1 });
    await waitFor(seen, 'losant/p-2/state p2 from its gateway');
    // gw-1 hears its own publication for p-float (MQTT 3.1.1 has no "no local"), nothing of p-2.
    expect(received).toEqual(['losant/p-float/state float']);
  });

  it.each([
    ['all', 'k-custom-all', 'plant/line1/temp', 'plant/#', 'plant/line1/temp', true],
    ['allow', 'k-custom-allow', 'plant/line1/temp', 'plant/+/alarm', 'plant/line2/alarm', false],
    ['deny', 'k-custom-deny', 'plant/line1/temp', 'plant/#', 'plant/line1/temp', false],
  ])('custom topics, topicFilter %s', async (_mode, key, publishTopic, filter, expected, secretVisible) => {
    const client = await device('plc-1', key);
    expect(await subackCodes(client, [filter])).toEqual([0]);
    const received = collect(client);
    await client.publishAsync(publishTopic, 'own');
    // A second publisher with topicFilter all covers topics the key itself may not publish to.
    const source = await device('backend-1', 'k-custom-all-backend');
    await source.publishAsync('plant/secret/x', 'secret');
    await source.publishAsync(expected, 'expected');
    await waitFor(received, `${expected} expected`);
    expect(received.includes('plant/secret/x secret')).toBe(secretVisible);
  });
});

describe('wills', () => {
  it('a will on its own topic fires on an abrupt disconnect', async () => {
    const watcher = await device('backend-1', 'k-all');
    await subackCodes(watcher, ['losant/+/state']);
    const received = collect(watcher);
    const { returnCode, client } = await connect(broker.port, {
      clientId: 'thermo-2',
      username: 'k-all',
      password: SECRET,
      will: { topic: 'losant/thermo-2/state', payload: Buffer.from('lost'), qos: 1, retain: false },
    });
    expect(returnCode).toBe(0);
    client.stream.destroy();
    await waitFor(received, 'losant/thermo-2/state lost');
  });

  it.each([
    ["another device's topic", 'losant/thermo-1/state'],
    ["an in-scope device's state", 'losant/thermo-1b/state'],
    ['a wildcard', 'losant/thermo-2/+'],
    ['$SYS', '$SYS/x'],
  ])('a will on %s is refused at CONNECT (CONNACK 5)', async (_name, topic) => {
    const { returnCode, client } = await connect(broker.port, {
      clientId: 'thermo-2',
      username: 'k-all',
      password: SECRET,
      will: { topic, payload: Buffer.from('x'), qos: 0, retain: false },
    });
    client.end(true);
    expect(returnCode).toBe(5);
  });
});
