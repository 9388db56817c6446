import { describe, expect, it } from 'vitest';
import {
  deviceTopicPrefix,
  isBelowPrefix,
  isReservedTopic,
  isValidTopicFilter,
  isValidTopicName,
  MAX_TOPIC_BYTES,
} from '../../src/policy/topics.js';

/** A string of exactly `bytes` UTF-8 bytes made of `unit` (whose byte length divides `bytes`). */
function ofBytes(unit: string, bytes: number): string {
  const unitBytes = Buffer.byteLength(unit, 'utf8');
  if (bytes % unitBytes !== 0) throw new Error('test setup: byte count not a multiple of the unit');
  return unit.repeat(bytes / unitBytes);
}

// Topics / filters of an exact byte length, below a realistic device prefix.
const PREFIX = 'losant/dev/';
const pad = (bytes: number) => `${PREFIX}${'x'.repeat(bytes - PREFIX.length)}`;

describe('MAX_TOPIC_BYTES', () => {
  it('is 1024', () => {
    expect(MAX_TOPIC_BYTES).toBe(1024);
  });

  it.each([
    ['ASCII', 'a', 1],
    ['2-byte é', '\u00e9', 2],
    ['3-byte €', '\u20ac', 3],
    ['4-byte emoji', '\u{1f600}', 4],
  ])('the fixture builds exact lengths from %s', (_label, unit, size) => {
    expect(Buffer.byteLength(ofBytes(unit, 1024 - (1024 % size)), 'utf8')).toBe(1024 - (1024 % size));
  });
});

/** Text checks shared by names and filters (none of these contain a wildcard). */
const TEXT_OK: [string, string][] = [
  ['single character', 'a'],
  ['device state', 'losant/dev/state'],
  ['leading slash', '/a'],
  ['trailing slash', 'a/'],
  ['only a slash', '/'],
  ['empty levels', 'a//b'],
  ['space', 'a b'],
  ['only a space', ' '],
  ['non-ASCII', 'caf\u00e9/\u4e8c\u697c'],
  ['emoji', 'x/\u{1f600}'],
  ['no-break space', 'a\u00a0b'],
  ['dollar inside', 'a/$SYS'],
  ['1024 ASCII bytes', 'a'.repeat(1024)],
  ['1024 bytes below a prefix', pad(1024)],
  ['512 two-byte characters (1024 bytes)', ofBytes('\u00e9', 1024)],
  ['256 four-byte characters (1024 bytes)', ofBytes('\u{1f600}', 1024)],
  ['341 three-byte characters + 1 byte (1024 bytes)', `${ofBytes('\u20ac', 1023)}a`],
];

const TEXT_BAD: [string, string][] = [
  ['empty', ''],
  ['1025 ASCII bytes', 'a'.repeat(1025)],
  ['1025 bytes below a prefix', pad(1025)],
  ['2000 bytes', 'a'.repeat(2000)],
  ['65535 bytes', 'a'.repeat(65535)],
  ['1024 bytes of é + 1 byte', `${ofBytes('\u00e9', 1024)}a`],
  ['1023 ASCII bytes + é (1025 bytes, 1024 UTF-16 units)', `${'a'.repeat(1023)}\u00e9`],
  ['1022 ASCII bytes + € (1025 bytes)', `${'a'.repeat(1022)}\u20ac`],
  ['256 emoji + 1 byte (1025 bytes)', `${ofBytes('\u{1f600}', 1024)}a`],
  ['257 emoji (1028 bytes, 514 UTF-16 units)', '\u{1f600}'.repeat(257)],
  ['NUL', 'a\u0000b'],
  ['only NUL', '\u0000'],
  ['trailing NUL', 'losant/dev/state\u0000'],
  ['U+FFFD', 'losant/dev/\ufffd'],
  ['only U+FFFD', '\ufffd'],
  ['tab', 'a\tb'],
  ['newline', 'a\nb'],
  ['carriage return', 'a\rb'],
  ['escape', 'a\u001b'],
  ['unit separator', '\u001f'],
  ['DEL', 'a\u007f'],
  ['C1 control U+0080', 'a\u0080'],
  ['C1 control U+0085', 'a\u0085'],
  ['C1 control U+009F', 'a\u009f'],
];

describe('isValidTopicName', () => {
  it.each(TEXT_OK)('accepts %s', (_label, topic) => {
    expect(isValidTopicName(topic)).toBe(true);
  });

  it.each([
    ['$SYS topic (valid name; reserved is decided elsewhere)', '$SYS/broker/uptime'],
    ['$share-looking topic', '$share/g/a'],
    ['device IDs like topic levels', 'losant/losant/state'],
  ])('accepts %s', (_label, topic) => {
    expect(isValidTopicName(topic)).toBe(true);
  });

  it.each([
    ...TEXT_BAD,
    ['plus level', 'losant/+/state'],
    ['only plus', '+'],
    ['only hash', '#'],
    ['hash level', 'losant/dev/#'],
    ['plus inside a level', 'a+/b'],
    ['hash inside a level', 'a#'],
    ['hash in the middle', 'a/#/b'],
    ['plus at the end of a level', 'losant/dev/state+'],
    ['$SYS wildcard', '$SYS/#'],
  ])('refuses %s', (_label, topic) => {
    expect(isValidTopicName(topic)).toBe(false);
  });
});

describe('isValidTopicFilter', () => {
  it.each(TEXT_OK)('accepts %s', (_label, filter) => {
    expect(isValidTopicFilter(filter)).toBe(true);
  });

  it.each([
    ['#'],
    ['+'],
    ['+/+'],
    ['/#'],
    ['/+'],
    ['+/'],
    ['a/#'],
    ['a/+'],
    ['a/+/b'],
    ['+/b'],
    ['+/+/#'],
    ['losant/+/state'],
    ['losant/#'],
    ['losant/dev/#'],
    ['+/dev/state'],
    ['a//#'],
    ['$SYS/#'],
    ['$share/g/#'],
  ])('accepts the wildcard filter %j', (filter) => {
    expect(isValidTopicFilter(filter)).toBe(true);
  });

  it.each([
    ['1024 bytes ending in /#', `${'a'.repeat(1022)}/#`],
    ['1024 bytes of + levels', `${'+/'.repeat(511)}+/`],
  ])('accepts %s', (_label, filter) => {
    expect(Buffer.byteLength(filter)).toBe(1024);
    expect(isValidTopicFilter(filter)).toBe(true);
  });

  it.each([
    ...TEXT_BAD,
    ['plus glued before a level', 'a+/b'],
    ['plus glued after', '+a/b'],
    ['plus in the middle of a level', 'a/b+c'],
    ['double plus', '++'],
    ['hash glued', 'a#'],
    ['hash glued before', '#a'],
    ['double hash', '##'],
    ['hash not last', 'a/#/b'],
    ['hash first, not last', '#/a'],
    ['two hash levels', '#/#'],
    ['hash followed by an empty level', 'a/#/'],
    ['plus and hash in one level', '+#'],
    ['hash then plus', 'a/#/+'],
    ['wildcards after a valid prefix', 'losant/dev/a+'],
    ['1025 bytes ending in /#', `${'a'.repeat(1023)}/#`],
    ['NUL next to a wildcard', '+/\u0000'],
    ['U+FFFD next to a wildcard', '\ufffd/#'],
  ])('refuses %s', (_label, filter) => {
    expect(isValidTopicFilter(filter)).toBe(false);
  });
});

describe('isReservedTopic', () => {
  it.each([
    ['$SYS/broker/uptime', true],
    ['$SYS', true],
    ['$SYS/#', true],
    ['$share/group/losant/dev/state', true],
    ['$share/g/#', true],
    ['$queue/a', true],
    ['$', true],
    ['$anything', true],
    ['losant/dev/state', false],
    ['a/$SYS', false],
    ['/$SYS', false],
    [' $SYS', false],
    ['#', false],
    ['+/x', false],
    ['SYS/x', false],
    ['', false],
  ])('%j → %s', (topic, expected) => {
    expect(isReservedTopic(topic)).toBe(expected);
  });
});

describe('deviceTopicPrefix', () => {
  it.each([
    ['losant', 'thermo-1', 'losant/thermo-1/'],
    ['losant', 'losant', 'losant/losant/'],
    ['losant', 'state', 'losant/state/'],
    ['custom/root', 'd.1:x', 'custom/root/d.1:x/'],
    ['r', 'a', 'r/a/'],
  ])('(%j, %j) → %j', (root, id, expected) => {
    expect(deviceTopicPrefix(root, id)).toBe(expected);
  });
});

describe('isBelowPrefix', () => {
  const own = deviceTopicPrefix('losant', 'dev');

  it.each([
    ['losant/dev/state', true],
    ['losant/dev/command', true],
    ['losant/dev/x', true],
    ['losant/dev/a/b/c', true],
    ['losant/dev/#', true],
    ['losant/dev/+', true],
    ['losant/dev/+/x', true],
    ['losant/dev//', true],
    ['losant/dev/ ', true],
    // at least one level after the prefix
    ['losant/dev/', false],
    ['losant/dev', false],
    ['losant/de', false],
    ['losant/', false],
    ['losant', false],
    ['', false],
    // other devices, including prefixes of this device's ID and IDs that extend it
    ['losant/dev2/state', false],
    ['losant/de/state', false],
    ['losant/dev-2/state', false],
    ['losant/Dev/state', false],
    ['LOSANT/dev/state', false],
    // wildcards over the root or device level
    ['losant/+/state', false],
    ['losant/#', false],
    ['+/dev/state', false],
    ['#', false],
    ['+/+/state', false],
    // other namespaces
    ['/losant/dev/state', false],
    [' losant/dev/state', false],
    ['x/losant/dev/state', false],
    ['$share/g/losant/dev/state', false],
    ['$SYS/losant/dev/state', false],
  ])('%j → %s', (topic, expected) => {
    expect(isBelowPrefix(topic, own)).toBe(expected);
  });

  it.each([
    ['losant', 'losant/losant/state', true],
    ['losant', 'losant/state', false],
    ['losant', 'losant/losant/', false],
    ['state', 'losant/state/state', true],
    ['state', 'losant/state', false],
    ['state', 'losant/dev/state', false],
  ])('device %j: %j → %s', (deviceId, topic, expected) => {
    expect(isBelowPrefix(topic, deviceTopicPrefix('losant', deviceId))).toBe(expected);
  });
});

describe('lone surrogates are refused in topics and filters', () => {
  it.each(['a\ud800', 'a/\udc00', '\ud800/b'])('%j', (topic) => {
    expect(isValidTopicName(topic)).toBe(false);
    expect(isValidTopicFilter(topic)).toBe(false);
  });
});
