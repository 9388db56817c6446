/**
 * SPEC section 3, the authorization table, against the pure policy (root `losant`), on the fixture world
 * of ./policy-world.ts. Principals are named `<device>~<key>`.
 */
import { describe, expect, it } from 'vitest';
import {
  classifyTopic,
  controls,
  customTopicRule,
  type Decision,
  decideDelivery,
  decidePublish,
  decideSubscribe,
  inScope,
  isPeripheralOf,
  type Rule,
} from '../../src/policy/authorization.js';
import { topicMatches } from '../../src/policy/topic-match.js';
import { isValidTopicFilter, isValidTopicName } from '../../src/policy/topics.js';
import { parseDeviceRecord, parseKeyRecord } from '../../src/store/records.js';
import {
  DEVICES,
  deviceOf,
  generatedTopics,
  KEYS,
  keyOf,
  lookup,
  PRINCIPALS,
  principal,
  ROOT,
} from './policy-world.js';

type Case = readonly [who: string, topic: string, allowed: boolean, rule: Rule];

const OWN: Rule = 'own-device';
const PERIPHERAL: Rule = 'gateway-peripheral';
const SCOPE: Rule = 'scope-state-command';
const BACKEND: Rule = 'backend-command';
const WILDCARD: Rule = 'wildcard-checked-per-delivery';
const NOT_DEVICE: Rule = 'not-a-device-topic';
const NOT_CONTROLLED: Rule = 'not-controlled';
const OUT: Rule = 'out-of-scope';
const NOTHING: Rule = 'matches-nothing-permitted';

const LONG_ID = 'a'.repeat(129);

function publish(who: string, topic: string): Decision {
  return decidePublish(principal(who), lookup, ROOT, topic);
}
function deliver(who: string, topic: string): Decision {
  return decideDelivery(principal(who), lookup, ROOT, topic);
}
function subscribe(who: string, filter: string): Decision {
  return decideSubscribe(principal(who), lookup, ROOT, filter);
}

/** `cases` for every principal in `who`. */
function forEach(who: readonly string[], cases: readonly (readonly [string, boolean, Rule])[]): Case[] {
  return who.flatMap((w) => cases.map(([topic, allowed, rule]) => [w, topic, allowed, rule] as const));
}

const STANDALONES = [
  'thermo-1~unrestricted',
  'thermo-1~emptyRestrictions',
  'thermo-1~byIds',
  'thermo-1~byTag',
  'thermo-1~byAnyValue',
  'thermo-1~withGhost',
  'thermo-1~all',
  'thermo-1~allow',
  'thermo-1~deny',
  'thermo-1~none',
];
const EVERYONE = [...PRINCIPALS.keys()];

/** Own topics `losant/thermo-1/<any non-empty suffix>`, allowed for publish, subscribe and delivery. */
const OWN_TOPICS: readonly (readonly [string, boolean, Rule])[] = [
  ['losant/thermo-1/state', true, OWN],
  ['losant/thermo-1/command', true, OWN],
  ['losant/thermo-1/message', true, OWN],
  ['losant/thermo-1/x', true, OWN],
  ['losant/thermo-1/x/y', true, OWN],
  ['losant/thermo-1/a//b', true, OWN],
  ['losant/thermo-1/state/', true, OWN],
  ['losant/thermo-1/state/x', true, OWN],
  ['losant/thermo-1//', true, OWN],
  ['losant/thermo-1/ ', true, OWN],
  ['losant/thermo-1/caf\u00e9', true, OWN],
  ['losant/thermo-1/$x', true, OWN],
  ['losant/thermo-1/losant', true, OWN],
  ['losant/thermo-1/thermo-2/state', true, OWN],
  // Not a device topic: the root alone, two levels, an empty suffix.
  ['losant/thermo-1/', false, NOT_DEVICE],
  ['losant/thermo-1', false, NOT_DEVICE],
  ['losant', false, NOT_DEVICE],
  // Case-sensitive: another (unregistered) device, another root.
  ['losant/Thermo-1/message', false, NOT_CONTROLLED],
];

/** Under the root but never a device topic, whatever the key. */
const ROOT_OTHER: readonly (readonly [string, boolean, Rule])[] = [
  ['losant', false, NOT_DEVICE],
  ['losant/', false, NOT_DEVICE],
  ['losant//', false, NOT_DEVICE],
  ['losant//state', false, NOT_DEVICE],
  ['losant///', false, NOT_DEVICE],
  ['losant/thermo-2', false, NOT_DEVICE],
  ['losant/thermo-2/', false, NOT_DEVICE],
  ['losant/p-1', false, NOT_DEVICE],
  ['losant/state', false, NOT_DEVICE],
  ['losant/x y/state', false, NOT_DEVICE],
  ['losant/ x/command', false, NOT_DEVICE],
  ['losant/caf\u00e9/state', false, NOT_DEVICE],
  ['losant/a=b/state', false, NOT_DEVICE],
  ['losant/a,b/state', false, NOT_DEVICE],
  [`losant/${LONG_ID}/state`, false, NOT_DEVICE],
];

const RESERVED_TOPICS = [
  '$SYS',
  '$SYS/broker/uptime',
  '$SYS/broker/clients/connected',
  '$share/g/losant/thermo-1/state',
  '$share/g/a',
  '$',
  '$x/a',
  '$losant/thermo-1/state',
  '$thermo-1',
];

describe('fixture world', () => {
  it('parses every device and key', () => {
    expect(DEVICES.size).toBe(18);
    expect(KEYS.size).toBe(15);
    expect(DEVICES.get('p-float')?.gateway).toBe('*');
    expect(DEVICES.get('p-star')?.gateway).toBe('*');
    expect(DEVICES.get('note-1')?.tags.get('note')).toEqual(new Set(['a=b']));
    expect(DEVICES.get('multi')?.tags.get('floor')).toEqual(new Set(['4', '3']));
  });

  it('treats missing and empty restrictions alike (unrestricted), and blanks as malformed (deny)', () => {
    expect(KEYS.get('unrestricted')?.scope.unrestricted).toBe(true);
    expect(KEYS.get('emptyRestrictions')?.scope.unrestricted).toBe(true);
    expect(parseKeyRecord({ restrictions: ' ' }).ok).toBe(false);
    expect(parseKeyRecord({ restrictions: 'thermo-1,' }).ok).toBe(false);
  });
});

describe('classifyTopic', () => {
  it.each<[string, ReturnType<typeof classifyTopic>]>([
    ['losant/thermo-1/state', { deviceId: 'thermo-1', suffix: 'state' }],
    ['losant/thermo-1/x/y', { deviceId: 'thermo-1', suffix: 'x/y' }],
    ['losant/thermo-1//', { deviceId: 'thermo-1', suffix: '/' }],
    ['losant/state/state', { deviceId: 'state', suffix: 'state' }],
    ['losant/losant/losant', { deviceId: 'losant', suffix: 'losant' }],
    ['losant', 'root-other'],
    ['losant/', 'root-other'],
    ['losant//', 'root-other'],
    ['losant/thermo-1', 'root-other'],
    ['losant/thermo-1/', 'root-other'],
    ['losant//state', 'root-other'],
    ['losant/x y/state', 'root-other'],
    [`losant/${LONG_ID}/state`, 'root-other'],
    ['losantx/thermo-1/state', 'custom'],
    ['Losant/thermo-1/state', 'custom'],
    ['losan', 'custom'],
    ['/losant/thermo-1/state', 'custom'],
    ['a/b', 'custom'],
    ['x/losant/thermo-1/state', 'custom'],
  ])('classifyTopic(losant, %j)', (topic, expected) => {
    expect(classifyTopic(ROOT, topic)).toEqual(expected);
  });
});

describe('scope and control', () => {
  it.each<[string, string, boolean]>([
    // [key, device, in scope]
    ['unrestricted', 'thermo-2', true],
    ['unrestricted', 'bare', true],
    ['unrestricted', 'ghost', false],
    ['emptyRestrictions', 'lamp-9', true],
    ['emptyRestrictions', 'ghost', false],
    ['byIds', 'thermo-1', true],
    ['byIds', 'thermo-2', true],
    ['byIds', 'lamp-9', false],
    ['byTag', 'thermo-1', true],
    ['byTag', 'thermo-2', false],
    ['byTag', 'p-1', true],
    ['byTag', 'multi', true],
    ['byTag', 'bare', false],
    ['byAnyValue', 'lamp-9', true],
    ['byAnyValue', 'command', true],
    ['byAnyValue', 'p-star', true],
    ['byAnyValue', 'thermo-2', false],
    ['byTagWithEquals', 'note-1', true],
    ['byTagWithEquals', 'note-2', false],
    ['byTagWithEquals', 'note-3', false],
    ['withGhost', 'ghost', false],
  ])('inScope(%s, %s) is %s', (keyName, deviceId, expected) => {
    const key = KEYS.get(keyName);
    if (key === undefined) throw new Error(keyName);
    expect(inScope(key, deviceId, lookup)).toBe(expected);
  });

  it.each<[string, string, boolean]>([
    ['p-1', 'gw-1', true],
    ['p-1', 'gw-2', false],
    ['p-2', 'gw-2', true],
    ['p-float', 'gw-1', true],
    ['p-float', 'gw-2', true],
    ['p-star', 'gw-1', true],
    ['thermo-1', 'gw-1', false],
    ['gw-2', 'gw-1', false],
    ['ghost', 'gw-1', false],
  ])('isPeripheralOf(%s, %s) is %s', (deviceId, gatewayId, expected) => {
    expect(isPeripheralOf(lookup(deviceId), gatewayId)).toBe(expected);
  });

  it.each<[string, string, boolean]>([
    ['thermo-1~byTag', 'thermo-1', true],
    ['thermo-1~byTag', 'p-1', false],
    ['thermo-1~unrestricted', 'p-float', false],
    ['gw-1~gatewayByTag', 'gw-1', true],
    ['gw-1~gatewayByTag', 'p-1', true],
    ['gw-1~gatewayByTag', 'p-float', true],
    ['gw-1~gatewayByTag', 'p-star', false],
    ['gw-1~gatewayByTag', 'p-out', false],
    ['gw-1~gatewayByTag', 'p-2', false],
    ['gw-1~unrestricted', 'p-out', true],
    ['gw-1~unrestricted', 'p-star', true],
    ['gw-1~unrestricted', 'p-2', false],
    ['gw-1~unrestricted', 'gw-2', false],
    ['gw-1~unrestricted', 'ghost', false],
    ['gw-1~gatewayFloatOnly', 'p-1', false],
    ['gw-1~gatewayFloatOnly', 'p-float', true],
    ['gw-2~unrestricted', 'p-2', true],
    ['gw-2~unrestricted', 'p-1', false],
    ['gw-2~byTag', 'p-star', false],
    ['p-1~unrestricted', 'p-1', true],
    ['p-1~unrestricted', 'p-float', false],
  ])('controls(%s, %s) is %s', (who, deviceId, expected) => {
    expect(controls(principal(who), deviceId, lookup)).toBe(expected);
  });

  it.each<[string, string[], string, Rule]>([
    ['none', ['#'], 'a', 'custom-none'],
    ['all', [], 'a', 'custom-all'],
    ['allow', ['a/#'], 'a', 'custom-allow-list'],
    ['allow', ['a/#'], 'b', 'custom-not-in-allow-list'],
    ['allow', [], 'a', 'custom-not-in-allow-list'],
    ['deny', ['a/#'], 'a/b', 'custom-in-deny-list'],
    ['deny', ['a/#'], 'b', 'custom-deny-list'],
    ['deny', [], 'b', 'custom-deny-list'],
  ])('customTopicRule(%s, %j, %j) → %s', (mode, filters, topic, rule) => {
    const decided = customTopicRule(mode as 'none' | 'all' | 'allow' | 'deny', filters, topic);
    expect(decided.rule).toBe(rule);
    expect(decided.allowed).toBe(
      rule === 'custom-all' || rule === 'custom-allow-list' || rule === 'custom-deny-list',
    );
  });
});

const PUBLISH_CASES: Case[] = [
  ...forEach(STANDALONES, OWN_TOPICS),
  ...forEach(['thermo-1~all', 'multi~unrestrictedAll', 'gw-1~unrestricted'], ROOT_OTHER),

  // Another device's topics: never `state`, `message` or anything but `command`.
  ['thermo-1~unrestricted', 'losant/thermo-2/state', false, NOT_CONTROLLED],
  ['thermo-1~unrestricted', 'losant/thermo-2/message', false, NOT_CONTROLLED],
  ['thermo-1~unrestricted', 'losant/thermo-2/x/y', false, NOT_CONTROLLED],
  ['thermo-1~unrestricted', 'losant/p-1/state', false, NOT_CONTROLLED],
  ['thermo-1~unrestricted', 'losant/ghost/state', false, NOT_CONTROLLED],
  ['thermo-1~all', 'losant/p-1/state', false, NOT_CONTROLLED],
  ['thermo-1~all', 'losant/p-1/message', false, NOT_CONTROLLED],
  ['thermo-1~all', 'losant/thermo-2/state', false, NOT_CONTROLLED],
  ['multi~unrestrictedAll', 'losant/thermo-2/state', false, NOT_CONTROLLED],
  ['multi~unrestrictedAll', 'losant/thermo-2/commands', false, NOT_CONTROLLED],
  ['multi~unrestrictedAll', 'losant/thermo-2/command/x', false, NOT_CONTROLLED],
  ['multi~unrestrictedAll', 'losant/thermo-2/Command', false, NOT_CONTROLLED],

  // Another device's `command`: only with custom publish rules that match, and X in scope (backend).
  ['thermo-1~unrestricted', 'losant/thermo-2/command', false, NOT_CONTROLLED],
  ['thermo-1~emptyRestrictions', 'losant/thermo-2/command', false, NOT_CONTROLLED],
  ['thermo-1~unrestricted', 'losant/ghost/command', false, OUT],
  ['thermo-1~byTag', 'losant/p-1/command', false, NOT_CONTROLLED],
  ['thermo-1~byTag', 'losant/thermo-2/command', false, OUT],
  ['thermo-1~none', 'losant/p-1/command', false, NOT_CONTROLLED],
  ['thermo-1~all', 'losant/p-1/command', true, BACKEND],
  ['thermo-1~all', 'losant/p-float/command', true, BACKEND],
  ['thermo-1~all', 'losant/state/command', true, BACKEND],
  ['thermo-1~all', 'losant/losant/command', true, BACKEND],
  ['thermo-1~all', 'losant/multi/command', true, BACKEND],
  ['thermo-1~all', 'losant/thermo-2/command', false, OUT],
  ['thermo-1~all', 'losant/command/command', false, OUT],
  ['thermo-1~all', 'losant/bare/command', false, OUT],
  ['thermo-1~all', 'losant/ghost/command', false, OUT],
  ['thermo-1~all', 'losant/Thermo-1/command', false, OUT],
  ['thermo-1~allow', 'losant/p-1/command', true, BACKEND],
  ['thermo-1~allow', 'losant/p-2/command', true, BACKEND],
  ['thermo-1~allow', 'losant/state/command', true, BACKEND],
  ['thermo-1~allow', 'losant/thermo-2/command', false, OUT],
  ['thermo-1~allow', 'losant/ghost/command', false, OUT],
  ['thermo-1~allow', 'losant/p-1/state', false, NOT_CONTROLLED],
  ['thermo-1~deny', 'losant/p-1/command', true, BACKEND],
  ['thermo-1~deny', 'losant/p-2/command', false, NOT_CONTROLLED],
  ['thermo-1~deny', 'losant/thermo-2/command', false, OUT],
  ['multi~unrestrictedAll', 'losant/thermo-2/command', true, BACKEND],
  ['multi~unrestrictedAll', 'losant/gw-1/command', true, BACKEND],
  ['multi~unrestrictedAll', 'losant/ghost/command', false, OUT],
  ['gw-1~backend', 'losant/thermo-1/command', true, BACKEND],
  ['gw-1~backend', 'losant/thermo-1/state', false, NOT_CONTROLLED],
  ['gw-1~backend', 'losant/p-2/command', false, NOT_CONTROLLED],
  ['gw-1~backend', 'losant/thermo-2/command', false, OUT],
  ['gw-1~backend', 'losant/p-1/command', true, PERIPHERAL],
  ['gw-1~backend', 'losant/p-1/state', true, PERIPHERAL],
  ['gw-1~backend', 'losant/gw-1/state', true, OWN],

  // Gateways publish for their peripherals in scope (floating ones included), never for others.
  ['gw-1~gatewayByTag', 'losant/gw-1/state', true, OWN],
  ['gw-1~gatewayByTag', 'losant/p-1/state', true, PERIPHERAL],
  ['gw-1~gatewayByTag', 'losant/p-1/command', true, PERIPHERAL],
  ['gw-1~gatewayByTag', 'losant/p-1/message', true, PERIPHERAL],
  ['gw-1~gatewayByTag', 'losant/p-1/x/y', true, PERIPHERAL],
  ['gw-1~gatewayByTag', 'losant/p-float/state', true, PERIPHERAL],
  ['gw-1~gatewayByTag', 'losant/p-float/x', true, PERIPHERAL],
  ['gw-1~gatewayByTag', 'losant/p-1/', false, NOT_DEVICE],
  ['gw-1~gatewayByTag', 'losant/p-1', false, NOT_DEVICE],
  ['gw-1~gatewayByTag', 'losant/p-star/state', false, NOT_CONTROLLED],
  ['gw-1~gatewayByTag', 'losant/p-star/command', false, OUT],
  ['gw-1~gatewayByTag', 'losant/p-2/state', false, NOT_CONTROLLED],
  ['gw-1~gatewayByTag', 'losant/p-2/command', false, NOT_CONTROLLED],
  ['gw-1~gatewayByTag', 'losant/p-out/state', false, NOT_CONTROLLED],
  ['gw-1~gatewayByTag', 'losant/p-out/command', false, OUT],
  ['gw-1~gatewayByTag', 'losant/gw-2/state', false, NOT_CONTROLLED],
  ['gw-1~gatewayByTag', 'losant/thermo-1/state', false, NOT_CONTROLLED],
  ['gw-1~gatewayByTag', 'losant/thermo-1/command', false, NOT_CONTROLLED],
  ['gw-1~unrestricted', 'losant/p-1/state', true, PERIPHERAL],
  ['gw-1~unrestricted', 'losant/p-star/state', true, PERIPHERAL],
  ['gw-1~unrestricted', 'losant/p-out/message', true, PERIPHERAL],
  ['gw-1~unrestricted', 'losant/p-float/command', true, PERIPHERAL],
  ['gw-1~unrestricted', 'losant/p-2/state', false, NOT_CONTROLLED],
  ['gw-1~unrestricted', 'losant/p-2/message', false, NOT_CONTROLLED],
  ['gw-1~unrestricted', 'losant/p-2/command', false, NOT_CONTROLLED],
  ['gw-1~unrestricted', 'losant/gw-2/command', false, NOT_CONTROLLED],
  ['gw-1~unrestricted', 'losant/ghost/state', false, NOT_CONTROLLED],
  ['gw-1~gatewayFloatOnly', 'losant/p-1/state', false, NOT_CONTROLLED],
  ['gw-1~gatewayFloatOnly', 'losant/p-1/command', false, OUT],
  ['gw-1~gatewayFloatOnly', 'losant/p-float/message', true, PERIPHERAL],
  ['gw-1~gatewayFloatOnly', 'losant/p-out/message', false, NOT_CONTROLLED],
  ['gw-2~unrestricted', 'losant/p-2/message', true, PERIPHERAL],
  ['gw-2~unrestricted', 'losant/p-float/message', true, PERIPHERAL],
  ['gw-2~unrestricted', 'losant/p-star/x', true, PERIPHERAL],
  ['gw-2~unrestricted', 'losant/p-1/message', false, NOT_CONTROLLED],
  ['gw-2~unrestricted', 'losant/p-out/state', false, NOT_CONTROLLED],
  ['gw-2~byTag', 'losant/p-2/state', true, PERIPHERAL],
  ['gw-2~byTag', 'losant/p-float/state', true, PERIPHERAL],
  ['gw-2~byTag', 'losant/p-star/state', false, NOT_CONTROLLED],
  // Standalone devices (and peripherals) never control peripherals.
  ['thermo-1~unrestricted', 'losant/p-float/state', false, NOT_CONTROLLED],
  ['thermo-1~unrestricted', 'losant/p-star/message', false, NOT_CONTROLLED],
  ['thermo-1~byTag', 'losant/p-float/state', false, NOT_CONTROLLED],
  ['lamp-9~byAnyValue', 'losant/p-star/state', false, NOT_CONTROLLED],
  ['lamp-9~byAnyValue', 'losant/lamp-9/state', true, OWN],
  ['p-1~unrestricted', 'losant/p-1/state', true, OWN],
  ['p-1~unrestricted', 'losant/p-float/state', false, NOT_CONTROLLED],

  // Custom topics by topicFilter and pubTopics.
  ['thermo-1~byTag', 'a/b', false, 'custom-none'],
  ['thermo-1~byTag', 'foo', false, 'custom-none'],
  ['thermo-1~byTag', '/a', false, 'custom-none'],
  ['thermo-1~byTag', '/', false, 'custom-none'],
  ['thermo-1~byTag', 'Losant/thermo-1/state', false, 'custom-none'],
  ['thermo-1~byTag', 'losantx/thermo-1/state', false, 'custom-none'],
  ['thermo-1~unrestricted', 'a', false, 'custom-none'],
  ['thermo-1~none', 'a/b', false, 'custom-none'],
  ['thermo-1~all', 'a/b', true, 'custom-all'],
  ['thermo-1~all', 'x', true, 'custom-all'],
  ['thermo-1~all', '/', true, 'custom-all'],
  ['thermo-1~all', 'a//b', true, 'custom-all'],
  ['thermo-1~all', 'Losant/thermo-2/state', true, 'custom-all'],
  ['thermo-1~all', 'x/thermo-2/state', true, 'custom-all'],
  ['thermo-1~all', 'losantx/y', true, 'custom-all'],
  ['multi~unrestrictedAll', 'anything/at/all', true, 'custom-all'],
  ['thermo-1~allow', 'a', true, 'custom-allow-list'],
  ['thermo-1~allow', 'a/x/y', true, 'custom-allow-list'],
  ['thermo-1~allow', 'a/', true, 'custom-allow-list'],
  ['thermo-1~allow', 'A', false, 'custom-not-in-allow-list'],
  ['thermo-1~allow', 'ab', false, 'custom-not-in-allow-list'],
  ['thermo-1~allow', 'b/x', false, 'custom-not-in-allow-list'],
  ['thermo-1~allow', 'c', false, 'custom-not-in-allow-list'],
  ['thermo-1~allow', 'x/thermo-2/command', false, 'custom-not-in-allow-list'],
  ['thermo-1~deny', 'a/b', true, 'custom-deny-list'],
  ['thermo-1~deny', 'private/x', true, 'custom-deny-list'],
  ['thermo-1~deny', 'secretx', true, 'custom-deny-list'],
  ['thermo-1~deny', 'secret', false, 'custom-in-deny-list'],
  ['thermo-1~deny', 'secret/x', false, 'custom-in-deny-list'],
  ['thermo-1~deny', 'secret/x/y', false, 'custom-in-deny-list'],
  ['gw-1~backend', 'a', false, 'custom-not-in-allow-list'],

  // Device IDs that look like topic levels.
  ['state~byTag', 'losant/state/state', true, OWN],
  ['state~byTag', 'losant/state/command', true, OWN],
  ['state~byTag', 'losant/state', false, NOT_DEVICE],
  ['state~byTag', 'losant/losant/state', false, NOT_CONTROLLED],
  ['state~byTag', 'losant/command/command', false, OUT],
  ['losant~unrestricted', 'losant/losant/x', true, OWN],
  ['losant~unrestricted', 'losant/losant/losant', true, OWN],
  ['losant~unrestricted', 'losant/losant', false, NOT_DEVICE],
  ['losant~unrestricted', 'losant/losant/', false, NOT_DEVICE],
  ['losant~unrestricted', 'losant', false, NOT_DEVICE],
  ['losant~unrestricted', 'losant/state/state', false, NOT_CONTROLLED],
  ['command~byAnyValue', 'losant/command/command', true, OWN],
  ['command~byAnyValue', 'losant/command', false, NOT_DEVICE],

  // `$` topics, for everyone.
  ...forEach(
    EVERYONE,
    RESERVED_TOPICS.map((t) => [t, false, 'reserved'] as const),
  ),

  // Invalid topic names, even for keys that allow every custom topic.
  ...forEach(
    ['thermo-1~all', 'multi~unrestrictedAll', 'thermo-1~unrestricted'],
    [
      '',
      'a\u0000b',
      '\u0000',
      'losant/thermo-1/st\u0000ate',
      'losant/thermo-1/\ufffd',
      '\ufffd',
      'losant/thermo-1/\u0001',
      'losant/thermo-1/\u007f',
      'losant/thermo-1/\u0085',
      'losant/thermo-1/\ud800',
      'losant/thermo-1/+',
      'losant/thermo-1/#',
      'losant/+/state',
      'losant/thermo-1/st+te',
      'losant/thermo-1/st#te',
      '+',
      '#',
      'a+/b',
      'a#',
      'a/#',
      '$SYS/#',
      '$SYS/+/x',
      `losant/thermo-1/${'x'.repeat(1024)}`,
    ].map((t) => [t, false, 'invalid'] as const),
  ),
];

/** Delivery and a subscription to the same literal topic: one table. */
const DELIVERY_CASES: Case[] = [
  ...forEach(STANDALONES, OWN_TOPICS),
  ...forEach(['thermo-1~all', 'multi~unrestrictedAll', 'gw-1~unrestricted'], ROOT_OTHER),

  // Other devices: `state` and `command` when in scope, nothing else.
  ...forEach(
    ['thermo-1~unrestricted', 'thermo-1~emptyRestrictions'],
    [
      ['losant/thermo-2/state', true, SCOPE],
      ['losant/thermo-2/command', true, SCOPE],
      ['losant/thermo-2/message', false, NOT_CONTROLLED],
      ['losant/thermo-2/x', false, NOT_CONTROLLED],
      ['losant/thermo-2/x/y', false, NOT_CONTROLLED],
      ['losant/thermo-2/state/x', false, NOT_CONTROLLED],
      ['losant/thermo-2/state/', false, NOT_CONTROLLED],
      ['losant/thermo-2//', false, NOT_CONTROLLED],
      ['losant/thermo-2/State', false, NOT_CONTROLLED],
      ['losant/thermo-2/COMMAND', false, NOT_CONTROLLED],
      ['losant/lamp-9/command', true, SCOPE],
      ['losant/p-1/state', true, SCOPE],
      ['losant/p-1/message', false, NOT_CONTROLLED],
      ['losant/gw-1/state', true, SCOPE],
      ['losant/bare/state', true, SCOPE],
      ['losant/state/state', true, SCOPE],
      ['losant/command/command', true, SCOPE],
      // Unregistered: never in scope, even for an unrestricted key.
      ['losant/ghost/state', false, OUT],
      ['losant/ghost/command', false, OUT],
      ['losant/ghost/message', false, NOT_CONTROLLED],
      ['losant/Thermo-2/state', false, OUT],
      ['losant/THERMO-1/state', false, OUT],
    ],
  ),
  ['thermo-1~byIds', 'losant/thermo-2/state', true, SCOPE],
  ['thermo-1~byIds', 'losant/thermo-2/command', true, SCOPE],
  ['thermo-1~byIds', 'losant/thermo-2/message', false, NOT_CONTROLLED],
  ['thermo-1~byIds', 'losant/lamp-9/state', false, OUT],
  ['thermo-1~byIds', 'losant/lamp-9/message', false, NOT_CONTROLLED],
  ['thermo-1~byIds', 'losant/p-1/state', false, OUT],
  ['thermo-1~byIds', 'losant/Thermo-2/state', false, OUT],
  ['thermo-1~byTag', 'losant/thermo-2/state', false, OUT],
  ['thermo-1~byTag', 'losant/thermo-2/command', false, OUT],
  ['thermo-1~byTag', 'losant/lamp-9/state', false, OUT],
  ['thermo-1~byTag', 'losant/p-1/state', true, SCOPE],
  ['thermo-1~byTag', 'losant/p-2/command', true, SCOPE],
  ['thermo-1~byTag', 'losant/p-float/state', true, SCOPE],
  ['thermo-1~byTag', 'losant/p-float/message', false, NOT_CONTROLLED],
  ['thermo-1~byTag', 'losant/p-out/state', false, OUT],
  ['thermo-1~byTag', 'losant/state/state', true, SCOPE],
  ['thermo-1~byTag', 'losant/losant/state', true, SCOPE],
  ['thermo-1~byTag', 'losant/losant/command', true, SCOPE],
  ['thermo-1~byTag', 'losant/losant/losant', false, NOT_CONTROLLED],
  ['thermo-1~byTag', 'losant/command/state', false, OUT],
  ['thermo-1~byTag', 'losant/multi/state', true, SCOPE],
  ['thermo-1~byTag', 'losant/bare/state', false, OUT],
  ['thermo-1~byTag', 'losant/ghost/state', false, OUT],
  ['thermo-1~byAnyValue', 'losant/lamp-9/state', true, SCOPE],
  ['thermo-1~byAnyValue', 'losant/p-star/command', true, SCOPE],
  ['thermo-1~byAnyValue', 'losant/command/command', true, SCOPE],
  ['thermo-1~byAnyValue', 'losant/command/state', true, SCOPE],
  ['thermo-1~byAnyValue', 'losant/thermo-2/state', false, OUT],
  ['thermo-1~byAnyValue', 'losant/bare/state', false, OUT],
  ['thermo-1~byAnyValue', 'losant/note-1/state', false, OUT],
  ['thermo-1~byTagWithEquals', 'losant/note-1/state', true, SCOPE],
  ['thermo-1~byTagWithEquals', 'losant/note-1/command', true, SCOPE],
  ['thermo-1~byTagWithEquals', 'losant/note-2/state', false, OUT],
  ['thermo-1~byTagWithEquals', 'losant/note-3/state', false, OUT],
  ['thermo-1~byTagWithEquals', 'losant/thermo-2/state', false, OUT],
  ['thermo-1~withGhost', 'losant/ghost/state', false, OUT],
  ['thermo-1~withGhost', 'losant/thermo-2/state', false, OUT],

  // Gateways: everything of their peripherals in scope; other devices' state/command in scope.
  ['gw-1~gatewayByTag', 'losant/gw-1/state', true, OWN],
  ['gw-1~gatewayByTag', 'losant/p-1/state', true, PERIPHERAL],
  ['gw-1~gatewayByTag', 'losant/p-1/message', true, PERIPHERAL],
  ['gw-1~gatewayByTag', 'losant/p-1/x/y', true, PERIPHERAL],
  ['gw-1~gatewayByTag', 'losant/p-float/x/y', true, PERIPHERAL],
  ['gw-1~gatewayByTag', 'losant/p-1/', false, NOT_DEVICE],
  ['gw-1~gatewayByTag', 'losant/p-star/state', false, OUT],
  ['gw-1~gatewayByTag', 'losant/p-star/message', false, NOT_CONTROLLED],
  ['gw-1~gatewayByTag', 'losant/p-2/state', true, SCOPE],
  ['gw-1~gatewayByTag', 'losant/p-2/message', false, NOT_CONTROLLED],
  ['gw-1~gatewayByTag', 'losant/p-out/state', false, OUT],
  ['gw-1~gatewayByTag', 'losant/p-out/message', false, NOT_CONTROLLED],
  ['gw-1~gatewayByTag', 'losant/thermo-1/state', true, SCOPE],
  ['gw-1~gatewayByTag', 'losant/thermo-1/message', false, NOT_CONTROLLED],
  ['gw-1~gatewayByTag', 'losant/gw-2/state', false, OUT],
  ['gw-1~unrestricted', 'losant/p-star/message', true, PERIPHERAL],
  ['gw-1~unrestricted', 'losant/p-out/x', true, PERIPHERAL],
  ['gw-1~unrestricted', 'losant/p-2/state', true, SCOPE],
  ['gw-1~unrestricted', 'losant/p-2/x', false, NOT_CONTROLLED],
  ['gw-1~unrestricted', 'losant/gw-2/state', true, SCOPE],
  ['gw-1~unrestricted', 'losant/gw-2/message', false, NOT_CONTROLLED],
  ['gw-1~unrestricted', 'losant/ghost/message', false, NOT_CONTROLLED],
  ['gw-1~gatewayFloatOnly', 'losant/p-1/state', false, OUT],
  ['gw-1~gatewayFloatOnly', 'losant/p-1/message', false, NOT_CONTROLLED],
  ['gw-1~gatewayFloatOnly', 'losant/p-float/message', true, PERIPHERAL],
  ['gw-2~unrestricted', 'losant/p-2/message', true, PERIPHERAL],
  ['gw-2~unrestricted', 'losant/p-1/message', false, NOT_CONTROLLED],
  ['gw-2~unrestricted', 'losant/p-1/state', true, SCOPE],
  ['gw-2~byTag', 'losant/p-float/message', true, PERIPHERAL],
  ['gw-2~byTag', 'losant/p-star/message', false, NOT_CONTROLLED],
  ['thermo-1~unrestricted', 'losant/p-float/message', false, NOT_CONTROLLED],
  ['thermo-1~unrestricted', 'losant/p-float/state', true, SCOPE],
  ['thermo-1~unrestricted', 'losant/p-star/x', false, NOT_CONTROLLED],
  ['p-1~unrestricted', 'losant/p-1/message', true, OWN],
  ['p-1~unrestricted', 'losant/p-float/message', false, NOT_CONTROLLED],

  // Device IDs that look like topic levels.
  ['state~byTag', 'losant/state/x', true, OWN],
  ['state~byTag', 'losant/losant/state', true, SCOPE],
  ['state~byTag', 'losant/losant/losant', false, NOT_CONTROLLED],
  ['state~byTag', 'losant/command/state', false, OUT],
  ['state~byTag', 'losant/thermo-1/command', true, SCOPE],
  ['losant~unrestricted', 'losant/losant/x', true, OWN],
  ['losant~unrestricted', 'losant/state/state', true, SCOPE],
  ['losant~unrestricted', 'losant/losant', false, NOT_DEVICE],

  // Custom topics by topicFilter and subTopics (pubTopics do not count).
  ['thermo-1~byTag', 'a/b', false, 'custom-none'],
  ['thermo-1~byTag', 'b/x', false, 'custom-none'],
  ['thermo-1~unrestricted', 'x/thermo-2/state', false, 'custom-none'],
  ['thermo-1~none', 'b/x', false, 'custom-none'],
  ['thermo-1~none', 'a', false, 'custom-none'],
  ['thermo-1~all', 'a/b', true, 'custom-all'],
  ['thermo-1~all', 'x/thermo-2/state', true, 'custom-all'],
  ['thermo-1~all', 'Losant/thermo-2/state', true, 'custom-all'],
  ['thermo-1~all', '/', true, 'custom-all'],
  ['thermo-1~all', 'losantx/y', true, 'custom-all'],
  ['thermo-1~allow', 'b/x', true, 'custom-allow-list'],
  ['thermo-1~allow', 'b/', true, 'custom-allow-list'],
  ['thermo-1~allow', 'c', true, 'custom-allow-list'],
  ['thermo-1~allow', 'c/d/e', true, 'custom-allow-list'],
  ['thermo-1~allow', 'b', false, 'custom-not-in-allow-list'],
  ['thermo-1~allow', 'b/x/y', false, 'custom-not-in-allow-list'],
  ['thermo-1~allow', 'B/x', false, 'custom-not-in-allow-list'],
  ['thermo-1~allow', 'a', false, 'custom-not-in-allow-list'],
  ['thermo-1~allow', 'a/x', false, 'custom-not-in-allow-list'],
  ['thermo-1~deny', 'private/x', false, 'custom-in-deny-list'],
  ['thermo-1~deny', 'private/', false, 'custom-in-deny-list'],
  ['thermo-1~deny', 'hidden', false, 'custom-in-deny-list'],
  ['thermo-1~deny', 'hidden/z', false, 'custom-in-deny-list'],
  ['thermo-1~deny', 'private', true, 'custom-deny-list'],
  ['thermo-1~deny', 'private/x/y', true, 'custom-deny-list'],
  ['thermo-1~deny', 'secret/x', true, 'custom-deny-list'],
  ['thermo-1~deny', 'a', true, 'custom-deny-list'],
  ['gw-1~allow', 'b/x', true, 'custom-allow-list'],
  ['gw-1~allow', 'a/x', false, 'custom-not-in-allow-list'],

  // `$` topics, for everyone.
  ...forEach(
    EVERYONE,
    RESERVED_TOPICS.map((t) => [t, false, 'reserved'] as const),
  ),
];

/** Filters that are refused as invalid, for keys that would otherwise allow them. */
const INVALID_FILTERS = [
  '',
  'a+/b',
  'a/b+',
  '+a',
  'a#',
  '#a',
  'a/#/b',
  '#/a',
  '#/#',
  '##',
  '++',
  '$#',
  'losant/thermo-1/st+',
  'losant/+x/state',
  'losant/thermo-1/#/state',
  'losant/#/state',
  'a\u0000b',
  '\u0000',
  'losant/thermo-1/\u0000',
  'losant/thermo-1/\ufffd',
  '\ufffd/#',
  'losant/thermo-1/\u0001',
  'losant/\ud800/state',
  'x'.repeat(1025),
];

const SUBSCRIBE_WILDCARD_CASES: Case[] = [
  // A standalone device with a tag-restricted key and no custom topics.
  ...forEach(
    ['thermo-1~byTag'],
    [
      ['#', true, WILDCARD],
      ['+/#', true, WILDCARD],
      ['losant/#', true, WILDCARD],
      ['losant/+/#', true, WILDCARD],
      ['losant/+/state', true, WILDCARD],
      ['losant/+/command', true, WILDCARD],
      ['losant/+/message', true, WILDCARD],
      ['losant/+/+', true, WILDCARD],
      ['losant/+/+/+', true, WILDCARD],
      ['+/+/state', true, WILDCARD],
      ['+/+/+', true, WILDCARD],
      ['losant/thermo-1/#', true, WILDCARD],
      ['losant/thermo-1/+', true, WILDCARD],
      ['losant/thermo-1/+/+', true, WILDCARD],
      ['+/thermo-1/state', true, WILDCARD],
      ['+/thermo-1/#', true, WILDCARD],
      ['losant/p-1/#', true, WILDCARD],
      ['losant/p-1/+', true, WILDCARD],
      ['losant/p-1/state/#', true, WILDCARD],
      ['+/p-1/command', true, WILDCARD],
      ['losant/state/#', true, WILDCARD],
      ['losant/losant/+', true, WILDCARD],
      ['+/losant/state', true, WILDCARD],
      ['losant/+', false, NOTHING],
      ['losant/x y/#', false, NOTHING],
      [`losant/${LONG_ID}/+`, false, NOTHING],
      ['losant//+', false, NOTHING],
      ['+', false, 'custom-none'],
      ['+/+', false, 'custom-none'],
      ['a/#', false, 'custom-none'],
      ['b/+', false, 'custom-none'],
      ['Losant/#', false, 'custom-none'],
      ['losant/thermo-2/#', false, OUT],
      ['losant/thermo-2/+', false, OUT],
      ['+/thermo-2/state', false, OUT],
      ['+/thermo-2/#', false, OUT],
      ['losant/command/#', false, OUT],
      ['losant/ghost/#', false, OUT],
      ['losant/Thermo-1/#', false, OUT],
      ['losant/thermo-2/message/#', false, NOT_CONTROLLED],
      ['losant/thermo-2/+/x', false, NOT_CONTROLLED],
      ['losant/p-1/+/x', false, NOT_CONTROLLED],
      ['losant/p-1/message/#', false, NOT_CONTROLLED],
      ['+/p-1/message', false, NOT_CONTROLLED],
    ],
  ),
  ['thermo-1~unrestricted', 'losant/thermo-2/#', true, WILDCARD],
  ['thermo-1~unrestricted', 'losant/thermo-2/+', true, WILDCARD],
  ['thermo-1~unrestricted', '+/thermo-2/state', true, WILDCARD],
  ['thermo-1~unrestricted', 'losant/gw-2/#', true, WILDCARD],
  ['thermo-1~unrestricted', 'losant/thermo-2/message/#', false, NOT_CONTROLLED],
  ['thermo-1~unrestricted', 'losant/ghost/+', false, OUT],
  ['thermo-1~unrestricted', 'losant/p-1/+/x', false, NOT_CONTROLLED],
  ['thermo-1~unrestricted', 'losant/p-float/x/#', false, NOT_CONTROLLED],
  ['thermo-1~unrestricted', '+/+', false, 'custom-none'],
  ['thermo-1~emptyRestrictions', 'losant/thermo-2/+', true, WILDCARD],
  ['thermo-1~byIds', 'losant/thermo-2/+', true, WILDCARD],
  ['thermo-1~byIds', 'losant/lamp-9/#', false, OUT],
  ['thermo-1~byIds', 'losant/lamp-9/message/+', false, NOT_CONTROLLED],
  ['thermo-1~byAnyValue', 'losant/lamp-9/#', true, WILDCARD],
  ['thermo-1~byAnyValue', '+/command/command', true, WILDCARD],
  ['thermo-1~byTagWithEquals', 'losant/note-1/+', true, WILDCARD],
  ['thermo-1~byTagWithEquals', 'losant/note-2/+', false, OUT],
  ['thermo-1~withGhost', 'losant/ghost/#', false, OUT],

  // Custom wildcards per topicFilter mode.
  ['thermo-1~all', '+', true, WILDCARD],
  ['thermo-1~all', '+/+', true, WILDCARD],
  ['thermo-1~all', 'a/#', true, WILDCARD],
  ['thermo-1~all', '+/thermo-2/state', true, WILDCARD],
  ['thermo-1~all', '+/thermo-2/message', true, WILDCARD],
  ['thermo-1~all', 'losant/thermo-2/#', false, OUT],
  ['thermo-1~all', 'losant/thermo-2/message/#', false, NOT_CONTROLLED],
  ['thermo-1~all', 'losant/+', false, NOTHING],
  ['thermo-1~all', 'losant/x y/+', false, NOTHING],
  ['thermo-1~allow', 'b/#', true, WILDCARD],
  ['thermo-1~allow', 'b/+', true, WILDCARD],
  ['thermo-1~allow', '+/x', true, WILDCARD],
  ['thermo-1~allow', '+', true, WILDCARD],
  ['thermo-1~allow', 'c/+/+', true, WILDCARD],
  ['thermo-1~allow', '+/thermo-2/state', true, WILDCARD],
  ['thermo-1~allow', '+/thermo-2/message', true, WILDCARD],
  ['thermo-1~allow', 'losant/p-1/#', true, WILDCARD],
  ['thermo-1~allow', 'b/+/x', false, 'custom-not-in-allow-list'],
  ['thermo-1~allow', 'a/#', false, 'custom-not-in-allow-list'],
  ['thermo-1~allow', 'd/+', false, 'custom-not-in-allow-list'],
  ['thermo-1~allow', 'B/+', false, 'custom-not-in-allow-list'],
  ['thermo-1~allow', 'losant/thermo-2/#', false, OUT],
  ['thermo-1~deny', 'private/#', true, WILDCARD],
  ['thermo-1~deny', 'a/#', true, WILDCARD],
  ['thermo-1~deny', '+/x', true, WILDCARD],
  ['thermo-1~deny', '+', true, WILDCARD],
  ['thermo-1~deny', 'secret/#', true, WILDCARD],
  ['thermo-1~deny', 'hidden/+/x', false, 'custom-in-deny-list'],
  ['thermo-1~deny', 'private/+', false, 'custom-in-deny-list'],
  ['thermo-1~deny', 'hidden/#', false, 'custom-in-deny-list'],
  ['thermo-1~deny', 'losant/thermo-2/#', false, OUT],
  ['thermo-1~none', 'b/#', false, 'custom-none'],
  ['thermo-1~none', 'b/+', false, 'custom-none'],
  ['multi~unrestrictedAll', '+/+', true, WILDCARD],
  ['multi~unrestrictedAll', 'losant/thermo-2/+', true, WILDCARD],
  ['multi~unrestrictedAll', 'losant/ghost/+', false, OUT],

  // Gateways and their peripherals.
  ['gw-1~gatewayByTag', 'losant/gw-1/#', true, WILDCARD],
  ['gw-1~gatewayByTag', 'losant/p-1/#', true, WILDCARD],
  ['gw-1~gatewayByTag', 'losant/p-1/message/#', true, WILDCARD],
  ['gw-1~gatewayByTag', '+/p-1/x/y', true, WILDCARD],
  ['gw-1~gatewayByTag', 'losant/p-float/+/+', true, WILDCARD],
  ['gw-1~gatewayByTag', 'losant/p-2/#', true, WILDCARD],
  ['gw-1~gatewayByTag', 'losant/p-star/#', false, OUT],
  ['gw-1~gatewayByTag', 'losant/p-star/+/x', false, NOT_CONTROLLED],
  ['gw-1~gatewayByTag', 'losant/p-2/message/#', false, NOT_CONTROLLED],
  ['gw-1~gatewayByTag', 'losant/p-out/#', false, OUT],
  ['gw-1~gatewayByTag', 'losant/p-out/message/+', false, NOT_CONTROLLED],
  ['gw-1~unrestricted', 'losant/p-star/message/#', true, WILDCARD],
  ['gw-1~unrestricted', 'losant/p-out/+/+', true, WILDCARD],
  ['gw-1~unrestricted', 'losant/p-2/+', true, WILDCARD],
  ['gw-1~unrestricted', 'losant/p-2/message/#', false, NOT_CONTROLLED],
  ['gw-1~gatewayFloatOnly', 'losant/p-1/#', false, OUT],
  ['gw-1~gatewayFloatOnly', 'losant/p-float/x/#', true, WILDCARD],
  ['gw-2~unrestricted', 'losant/p-2/x/#', true, WILDCARD],
  ['gw-2~unrestricted', 'losant/p-1/x/#', false, NOT_CONTROLLED],

  // `$` filters, for everyone.
  ...forEach(
    EVERYONE,
    ['$SYS/#', '$SYS/+', '$SYS/+/uptime', '$share/g/#', '$share/g/losant/+/state', '$', '$x/#'].map(
      (f) => [f, false, 'reserved'] as const,
    ),
  ),
  // Invalid filters.
  ...forEach(
    ['thermo-1~all', 'multi~unrestrictedAll', 'thermo-1~byTag'],
    INVALID_FILTERS.map((f) => [f, false, 'invalid'] as const),
  ),
];

describe('decidePublish (SPEC section 3)', () => {
  it('has hundreds of cases', () => {
    expect(PUBLISH_CASES.length).toBeGreaterThan(300);
  });

  it.each(PUBLISH_CASES)('%s publishes %j → %s (%s)', (who, topic, allowed, rule) => {
    expect(publish(who, topic)).toEqual({ allowed, rule });
  });
});

describe('decideDelivery and decideSubscribe on a literal topic (SPEC section 3)', () => {
  it('has hundreds of cases', () => {
    expect(DELIVERY_CASES.length).toBeGreaterThan(300);
  });

  it.each(DELIVERY_CASES)('%s receives %j → %s (%s)', (who, topic, allowed, rule) => {
    expect(deliver(who, topic)).toEqual({ allowed, rule });
  });

  it.each(DELIVERY_CASES)('%s subscribes to %j → %s (%s)', (who, topic, allowed, rule) => {
    expect(subscribe(who, topic)).toEqual({ allowed, rule });
  });
});

describe('decideSubscribe with wildcards, `$` and invalid filters (SPEC section 3)', () => {
  it('has hundreds of cases', () => {
    expect(SUBSCRIBE_WILDCARD_CASES.length).toBeGreaterThan(300);
  });

  it.each(SUBSCRIBE_WILDCARD_CASES)('%s subscribes to %j → %s (%s)', (who, filter, allowed, rule) => {
    expect(subscribe(who, filter)).toEqual({ allowed, rule });
  });
});

describe('a device with an unparseable record is not a device', () => {
  it.each<[string, Record<string, string>]>([
    ['gateway field that is not an ID', { type: 'peripheral', gateway: 'gw 1' }],
    ['unknown type', { type: 'sensor' }],
    ['malformed tags', { tags: 'floor' }],
  ])('%s fails to parse (so the directory holds no record: deny)', (_label, hash) => {
    expect(() => deviceOf('broken', hash)).toThrow(/test setup/);
  });

  it('a key whose restrictions name a device that is not registered grants nothing for it', () => {
    const key = keyOf({ restrictions: 'ghost' });
    const who = { device: principal('thermo-1~byTag').device, key };
    expect(decideDelivery(who, lookup, ROOT, 'losant/ghost/state')).toEqual({ allowed: false, rule: OUT });
    expect(decideSubscribe(who, lookup, ROOT, 'losant/ghost/#')).toEqual({ allowed: false, rule: OUT });
    expect(decidePublish(who, lookup, ROOT, 'losant/thermo-1/state')).toEqual({ allowed: true, rule: OWN });
  });
});

// ---------------------------------------------------------------------------------------------------
// Properties over generated topics and filters.

/** Every string of 1..maxLevels levels drawn from `alphabet`. */
function combinations(alphabet: readonly string[], maxLevels: number): string[] {
  const out: string[] = [];
  let layer: string[] = [...alphabet];
  for (let n = 1; n <= maxLevels; n++) {
    out.push(...layer);
    if (n < maxLevels) layer = layer.flatMap((prefix) => alphabet.map((level) => `${prefix}/${level}`));
  }
  return out;
}

const FILTER_LEVELS = [
  'losant',
  'thermo-1',
  'thermo-2',
  'gw-1',
  'p-1',
  'p-2',
  'p-star',
  'state',
  'command',
  'message',
  'x',
  'b',
  'c',
  'private',
  '',
  '+',
  '#',
];

/** Valid filters with at least one wildcard: 3 levels over FILTER_LEVELS and 4 over a smaller set. */
const WILDCARD_FILTERS: readonly string[] = [
  ...new Set([
    ...combinations(FILTER_LEVELS, 3),
    ...combinations(['losant', 'thermo-1', 'p-1', 'state', 'x', '+', '#'], 4),
  ]),
].filter((f) => (f.includes('+') || f.includes('#')) && isValidTopicFilter(f));

const TOPICS: readonly string[] = generatedTopics();

/**
 * A larger universe of concrete topics, to look for a topic a filter can deliver: device topics of every
 * fixture device (and of unregistered and invalid IDs) with one- and two-level suffixes, custom topics
 * of up to three levels (four over a smaller set), and TOPICS.
 */
const UNIVERSE: readonly string[] = (() => {
  const literals = FILTER_LEVELS.filter((l) => l !== '+' && l !== '#');
  const topics = new Set<string>(TOPICS);
  for (const t of combinations(literals, 3)) topics.add(t);
  for (const t of combinations(['losant', 'thermo-1', 'p-1', 'state', 'x', '', 'c'], 4)) topics.add(t);
  for (const id of [...DEVICES.keys(), 'ghost', 'Thermo-1', 'x y']) {
    for (const tail of literals) {
      topics.add(`${ROOT}/${id}/${tail}`);
      for (const more of literals) topics.add(`${ROOT}/${id}/${tail}/${more}`);
    }
  }
  return [...topics].filter(isValidTopicName);
})();

describe('generated universe', () => {
  it('is large', () => {
    expect(TOPICS.length).toBeGreaterThan(250);
    expect(UNIVERSE.length).toBeGreaterThan(5000);
    expect(WILDCARD_FILTERS.length).toBeGreaterThan(1500);
    expect(PRINCIPALS.size).toBeGreaterThan(20);
  });
});

describe('decideDelivery(t) equals decideSubscribe(literal t) for every valid topic name (property)', () => {
  it.each([...PRINCIPALS.keys()])('%s', (who) => {
    const p = principal(who);
    const differ: string[] = [];
    for (const topic of UNIVERSE) {
      const delivered = decideDelivery(p, lookup, ROOT, topic);
      const subscribed = decideSubscribe(p, lookup, ROOT, topic);
      if (delivered !== subscribed) differ.push(`${topic}: ${delivered.rule} / ${subscribed.rule}`);
    }
    expect(differ).toEqual([]);
  });
});

describe('wildcards never widen the scope (property)', () => {
  // For every wildcard filter decideSubscribe grants, the topics delivered through it (those matching the
  // filter and allowed by decideDelivery) are all topics the subscriber could have subscribed to one by one.
  it.each([...PRINCIPALS.keys()])('%s', (who) => {
    const p = principal(who);
    const deliverable = TOPICS.filter((t) => decideDelivery(p, lookup, ROOT, t).allowed);
    let granted = 0;
    let deliveries = 0;
    const widened: string[] = [];
    for (const filter of WILDCARD_FILTERS) {
      const decided = decideSubscribe(p, lookup, ROOT, filter);
      if (!decided.allowed) continue;
      granted++;
      if (decided.rule !== WILDCARD) widened.push(`${filter} granted by ${decided.rule}`);
      for (const topic of deliverable) {
        if (!topicMatches(filter, topic)) continue;
        deliveries++;
        if (!decideSubscribe(p, lookup, ROOT, topic).allowed) widened.push(`${filter} delivers ${topic}`);
      }
    }
    expect(widened).toEqual([]);
    expect(granted).toBeGreaterThan(100);
    expect(deliveries).toBeGreaterThan(100);
    // `$` topics are never delivered, through any filter.
    expect(deliverable.filter((t) => t.startsWith('$'))).toEqual([]);
  });
});

describe('a wildcard subscription is granted exactly when it can deliver something (property)', () => {
  // Refused filters match no topic the subscriber may receive; granted filters match at least one.
  // Left out of the second half: filters whose last level is empty (`losant/+/`, `+/thermo-1/`, `+/+/`),
  // which are granted although the only device topics they match (`losant/X/`, an empty suffix) are
  // never delivered — see the report.
  it.each([...PRINCIPALS.keys()])('%s', (who) => {
    const p = principal(who);
    const deliverable = UNIVERSE.filter((t) => decideDelivery(p, lookup, ROOT, t).allowed);
    const refusedButDeliverable: string[] = [];
    const grantedButEmpty: string[] = [];
    for (const filter of WILDCARD_FILTERS) {
      const decided = decideSubscribe(p, lookup, ROOT, filter);
      const witness = deliverable.find((t) => topicMatches(filter, t));
      if (!decided.allowed && witness !== undefined) {
        refusedButDeliverable.push(`${filter} (${decided.rule}) would deliver ${witness}`);
      }
      if (decided.allowed && witness === undefined && !filter.endsWith('/')) grantedButEmpty.push(filter);
    }
    expect(refusedButDeliverable).toEqual([]);
    expect(grantedButEmpty).toEqual([]);
  });
});

describe('every decision is a frozen, shared object', () => {
  it('returns one of a few preallocated decisions', () => {
    const seen = new Set<Decision>();
    for (const who of PRINCIPALS.keys()) {
      for (const topic of TOPICS) {
        seen.add(publish(who, topic));
        seen.add(deliver(who, topic));
        seen.add(subscribe(who, topic));
      }
    }
    for (const d of seen) expect(Object.isFrozen(d)).toBe(true);
    expect(seen.size).toBeLessThanOrEqual(17);
  });
});

describe('decideSubscribe: wildcards that could only match non-device or non-custom topics are refused', () => {
  const thermo = parseDeviceRecord('thermo-1', { tags: 'floor=3' });
  const gateway = parseDeviceRecord('gw-1', { type: 'gateway' });
  const peripheral = parseDeviceRecord('p-1', { type: 'peripheral', gateway: 'gw-1' });
  if (!thermo.ok || !gateway.ok || !peripheral.ok) throw new Error('fixture');
  const registry = new Map([thermo, gateway, peripheral].map((d) => [d.value.id, d.value]));
  const lookup = (id: string) => registry.get(id);
  const principal = (device: typeof thermo, fields: Record<string, string>) => {
    const key = parseKeyRecord(fields);
    if (!key.ok || !device.ok) throw new Error('fixture');
    return { device: device.value, key: key.value };
  };

  it.each([
    ['losant/+/', { restrictions: 'floor=3' }],
    ['+/thermo-1/', { restrictions: 'floor=3' }],
    ['+/+/', { restrictions: 'floor=3' }],
    ['+/foo', { restrictions: 'floor=3', topicFilter: 'allow', subTopics: 'losant/foo' }],
    [
      '+/thermo-2/message',
      { restrictions: 'floor=3', topicFilter: 'allow', subTopics: 'losant/thermo-2/message' },
    ],
    ['+/x', { restrictions: 'floor=3', topicFilter: 'allow', subTopics: '$SYS/x' }],
    ['+/x', { restrictions: 'floor=3', topicFilter: 'allow', subTopics: 'losant/#' }],
  ])('%s with %j', (filter, fields) => {
    expect(decideSubscribe(principal(thermo, fields), lookup, 'losant', filter).allowed).toBe(false);
  });

  it('a gateway: +/p-1/ is refused, +/p-1/state granted', () => {
    const p = principal(gateway, {});
    expect(decideSubscribe(p, lookup, 'losant', '+/p-1/').allowed).toBe(false);
    expect(decideSubscribe(p, lookup, 'losant', '+/p-1/state').allowed).toBe(true);
  });
});
