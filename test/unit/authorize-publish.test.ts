/**
 * The `authorizePublish` hook against the pure policy it implements: for every fixture principal and
 * topic, the hook allows a PUBLISH exactly when `decidePublish` does — on the first PUBLISH of a topic and
 * on the next ones (the hook memoises which device owns each topic), and whatever the order.
 */
import type { Client, PublishPacket } from 'aedes';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { createAuthorizePublish } from '../../src/hooks/authorize.js';
import { DeliveryGuard } from '../../src/hooks/delivery-guard.js';
import { createSession, SessionRegistry } from '../../src/hooks/sessions.js';
import { noMetrics } from '../../src/metrics.js';
import { decidePublish } from '../../src/policy/authorization.js';
import { DeviceDirectory } from '../../src/store/device-directory.js';
import { Keyspace } from '../../src/store/keyspace.js';
import { ProblemLog } from '../../src/store/problem-log.js';
import { DEVICE_HASHES, generatedTopics, KEYS, PRINCIPAL_SPECS, ROOT } from './policy-world.js';

function world(root = ROOT) {
  const logger = pino({ level: 'silent' });
  // No Redis: a topic naming a device the directory lacks fails to be read, hence is refused — as
  // decidePublish refuses it with the same (empty) directory.
  const directory = new DeviceDirectory(null as never, new Keyspace('t:'), new ProblemLog(logger));
  for (const [id, hash] of Object.entries(DEVICE_HASHES)) directory.apply(id, hash);
  const sessions = new SessionRegistry();
  const clients = new Map<string, Client>();
  for (const [deviceId, keyName] of PRINCIPAL_SPECS) {
    const device = directory.get(deviceId);
    const key = KEYS.get(keyName);
    if (device === undefined || key === undefined) throw new Error(`test setup: ${deviceId}~${keyName}`);
    const client = { id: deviceId } as unknown as Client;
    sessions.open(client, createSession(deviceId, keyName, 'f', { device, key }));
    clients.set(`${deviceId}~${keyName}`, client);
  }
  const hook = createAuthorizePublish({
    sessions,
    directory,
    guard: new DeliveryGuard(directory, root),
    topicRoot: root,
    timeoutMs: 1000,
    logger,
    metrics: noMetrics,
    storeTimeoutMs: 1000,
  });
  const allowed = (client: Client, topic: string) =>
    new Promise<boolean>((resolve) => {
      const packet = { cmd: 'publish', topic, payload: Buffer.from('x'), qos: 0, retain: false, dup: false };
      hook(client, packet as PublishPacket, (error) => resolve(error === null || error === undefined));
    });
  return { directory, sessions, clients, allowed };
}

const TOPICS = generatedTopics([...Object.keys(DEVICE_HASHES), 'ghost']);

async function disagreements(root: string, topics: readonly string[]): Promise<string[]> {
  const { directory, sessions, clients, allowed } = world(root);
  const out: string[] = [];
  for (const [name, client] of clients) {
    const principal = sessions.get(client)?.principal;
    if (principal === undefined) throw new Error('no session');
    for (const topic of topics) {
      const expected = decidePublish(principal, directory.lookup, root, topic).allowed;
      for (const pass of ['first', 'memoised']) {
        const got = await allowed(client, topic);
        if (got !== expected)
          out.push(`${name} ${JSON.stringify(topic)} (${pass}): hook ${got}, policy ${expected}`);
      }
    }
  }
  return out;
}

describe('authorizePublish equals decidePublish', () => {
  it('for every fixture principal and topic, first and memoised', async () => {
    expect(PRINCIPAL_SPECS.length * TOPICS.length).toBeGreaterThan(5000);
    expect(await disagreements(ROOT, TOPICS)).toEqual([]);
  });

  it('for topics that are their own device topic but not valid topic names', async () => {
    const topics = ['thermo-1', 'gw-1'].flatMap((id) => [
      `${ROOT}/${id}/st\u0000ate`,
      `${ROOT}/${id}/st+ate`,
      `${ROOT}/${id}/#`,
      `${ROOT}/${id}/${'x'.repeat(1100)}`,
      `${ROOT}/${id}/\ufffd`,
      `$${ROOT}/${id}/state`,
      `${ROOT}/${id}/state`,
    ]);
    expect(await disagreements(ROOT, topics)).toEqual([]);
  });

  it('under another topic root', async () => {
    const topics = [
      ...TOPICS.slice(0, 400),
      ...TOPICS.slice(0, 400).map((t) => t.replace(/^losant(?=\/|$)/, 'acme')),
    ];
    expect(await disagreements('acme', topics)).toEqual([]);
  });
});
