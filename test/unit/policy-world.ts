/**
 * The fixture world shared by the authorization and delivery-guard tests: registered devices, access keys
 * and principals (a connected device with its key), built from Redis-like hashes the way the store does.
 */
import type { DeviceLookup, Principal } from '../../src/policy/authorization.js';
import type { DeviceRecord, KeyRecord } from '../../src/policy/model.js';
import { parseDeviceRecord, parseKeyRecord, type RedisHash } from '../../src/store/records.js';

export const ROOT = 'losant';

export function keyOf(hash: RedisHash): KeyRecord {
  const parsed = parseKeyRecord(hash);
  if (!parsed.ok) throw new Error(`test setup: key ${JSON.stringify(hash)}: ${parsed.problem}`);
  return parsed.value;
}

export function deviceOf(id: string, hash: RedisHash): DeviceRecord {
  const parsed = parseDeviceRecord(id, hash);
  if (!parsed.ok) throw new Error(`test setup: device ${id} ${JSON.stringify(hash)}: ${parsed.problem}`);
  return parsed.value;
}

/** The registered devices, as Redis hashes (`keygate:device:<id>`). */
export const DEVICE_HASHES: Readonly<Record<string, RedisHash>> = {
  'thermo-1': { tags: 'floor=3,type=sensor' },
  'thermo-2': { tags: 'floor=4' },
  'lamp-9': { tags: 'room=kitchen' },
  'gw-1': { type: 'gateway', tags: 'site=a' },
  'gw-2': { type: 'gateway', tags: 'site=b' },
  // Peripherals: of gw-1, of gw-2, floating (no gateway field / `*`), and one of gw-1 outside floor=3.
  'p-1': { type: 'peripheral', gateway: 'gw-1', tags: 'floor=3' },
  'p-2': { type: 'peripheral', gateway: 'gw-2', tags: 'floor=3' },
  'p-float': { type: 'peripheral', tags: 'floor=3' },
  'p-star': { type: 'peripheral', gateway: '*', tags: 'room=kitchen' },
  'p-out': { type: 'peripheral', gateway: 'gw-1', tags: 'floor=9' },
  // Device IDs that look like topic levels.
  state: { tags: 'floor=3' },
  losant: { tags: 'floor=3' },
  command: { tags: 'room=hall' },
  // Tag values containing `=`.
  'note-1': { tags: 'note=a=b' },
  'note-2': { tags: 'note=a' },
  'note-3': { tags: 'note=a=b=c' },
  // Several values of one tag key; no tags at all.
  multi: { tags: 'floor=4,floor=3' },
  bare: { name: 'no tags' },
};

export const DEVICES: ReadonlyMap<string, DeviceRecord> = new Map(
  Object.entries(DEVICE_HASHES).map(([id, hash]) => [id, deviceOf(id, hash)]),
);

export const lookup: DeviceLookup = (id) => DEVICES.get(id);

function device(id: string): DeviceRecord {
  const record = DEVICES.get(id);
  if (record === undefined) throw new Error(`test setup: no device ${id}`);
  return record;
}

/** Access keys (`keygate:key:<k>` minus the secret). */
export const KEY_HASHES: Readonly<Record<string, RedisHash>> = {
  unrestricted: {},
  emptyRestrictions: { restrictions: '' },
  byIds: { restrictions: 'thermo-1, thermo-2' },
  byTag: { restrictions: 'floor=3' },
  byAnyValue: { restrictions: 'thermo-1,room=*' },
  byTagWithEquals: { restrictions: 'thermo-1,note=a=b' },
  withGhost: { restrictions: 'thermo-1,ghost' },
  gatewayByTag: { restrictions: 'gw-1,floor=3' },
  gatewayFloatOnly: { restrictions: 'gw-1,p-float' },
  all: { restrictions: 'floor=3', topicFilter: 'all' },
  allow: {
    restrictions: 'floor=3',
    topicFilter: 'allow',
    pubTopics: 'a/#, losant/+/command',
    subTopics: 'b/+,c/#',
  },
  deny: {
    restrictions: 'floor=3',
    topicFilter: 'deny',
    pubTopics: 'secret/#,losant/p-2/command',
    subTopics: 'private/+,hidden/#',
  },
  none: { restrictions: 'floor=3', topicFilter: 'none', pubTopics: 'a/#', subTopics: 'b/#' },
  backend: { restrictions: 'floor=3', topicFilter: 'allow', pubTopics: 'losant/thermo-1/command' },
  unrestrictedAll: { topicFilter: 'all' },
};

export const KEYS: ReadonlyMap<string, KeyRecord> = new Map(
  Object.entries(KEY_HASHES).map(([name, hash]) => [name, keyOf(hash)]),
);

function key(name: string): KeyRecord {
  const record = KEYS.get(name);
  if (record === undefined) throw new Error(`test setup: no key ${name}`);
  return record;
}

/** Principals: `<device>~<key>`. */
export const PRINCIPAL_SPECS: readonly (readonly [deviceId: string, keyName: string])[] = [
  ['thermo-1', 'unrestricted'],
  ['thermo-1', 'emptyRestrictions'],
  ['thermo-1', 'byIds'],
  ['thermo-1', 'byTag'],
  ['thermo-1', 'byAnyValue'],
  ['thermo-1', 'byTagWithEquals'],
  ['thermo-1', 'withGhost'],
  ['thermo-1', 'all'],
  ['thermo-1', 'allow'],
  ['thermo-1', 'deny'],
  ['thermo-1', 'none'],
  ['lamp-9', 'byAnyValue'],
  ['gw-1', 'unrestricted'],
  ['gw-1', 'gatewayByTag'],
  ['gw-1', 'gatewayFloatOnly'],
  ['gw-1', 'backend'],
  ['gw-1', 'allow'],
  ['gw-2', 'unrestricted'],
  ['gw-2', 'byTag'],
  ['p-1', 'unrestricted'],
  ['state', 'byTag'],
  ['losant', 'unrestricted'],
  ['command', 'byAnyValue'],
  ['multi', 'unrestrictedAll'],
];

export const PRINCIPALS: ReadonlyMap<string, Principal> = new Map(
  PRINCIPAL_SPECS.map(([d, k]) => [`${d}~${k}`, { device: device(d), key: key(k) }]),
);

export function principal(name: string): Principal {
  const p = PRINCIPALS.get(name);
  if (p === undefined) throw new Error(`test setup: no principal ${name}`);
  return p;
}

/** Concrete topic names covering device topics of every fixture device, custom topics and `$` topics. */
export function generatedTopics(deviceIds: readonly string[] = [...DEVICES.keys()]): string[] {
  const ids = [...deviceIds, 'ghost', 'Thermo-1', 'x y', '', 'a'.repeat(129), 'caf\u00e9'];
  const suffixes = ['state', 'command', 'message', 'x', 'x/y', 'state/x', '', '/', 'State'];
  const topics = new Set<string>([ROOT, `${ROOT}/`, `${ROOT}//`, `${ROOT}/state`]);
  for (const id of ids) {
    topics.add(`${ROOT}/${id}`);
    for (const suffix of suffixes) topics.add(`${ROOT}/${id}/${suffix}`);
    topics.add(`x/${id}/state`);
    topics.add(`Losant/${id}/state`);
  }
  for (const custom of [
    'a',
    'a/b',
    'a/b/c',
    'b',
    'b/x',
    'b/x/y',
    'c',
    'c/d/e',
    'd/x',
    'private',
    'private/x',
    'private/x/y',
    'hidden',
    'hidden/z',
    'secret/x',
    'losantx/y',
    '/a',
    'a/',
    '/',
    '//',
    'x/p-1/message',
    'x/thermo-1/',
    '$SYS',
    '$SYS/broker/uptime',
    '$share/g/losant/thermo-1/state',
    '$share/g/a',
    '$',
    '$x/a',
  ]) {
    topics.add(custom);
  }
  return [...topics];
}
