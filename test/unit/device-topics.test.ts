import { describe, expect, it } from 'vitest';
import {
  decidePublish,
  decideSubscribe,
  mayReceive,
  type TopicDecision,
} from '../../src/policy/device-topics.js';
import { deviceTopicPrefix } from '../../src/policy/topics.js';

const OWN = deviceTopicPrefix('losant', 'dev');

describe('decidePublish (device "dev", own prefix losant/dev/)', () => {
  it.each<[string, TopicDecision]>([
    ['losant/dev/state', 'allowed'],
    ['losant/dev/command', 'allowed'],
    ['losant/dev/custom/a/b', 'allowed'],
    ['losant/dev//', 'allowed'],
    [`losant/dev/${'x'.repeat(1024 - 'losant/dev/'.length)}`, 'allowed'],
    [`losant/dev/${'\u00e9'.repeat((1024 - 'losant/dev/'.length - 1) / 2)}a`, 'allowed'],

    ['losant/dev/', 'not_own'],
    ['losant/dev', 'not_own'],
    ['losant/other/state', 'not_own'],
    ['losant/dev2/state', 'not_own'],
    ['losant/de/state', 'not_own'],
    ['losant/Dev/state', 'not_own'],
    ['Losant/dev/state', 'not_own'],
    ['losant/state', 'not_own'],
    ['losant', 'not_own'],
    ['custom/topic', 'not_own'],
    ['/losant/dev/state', 'not_own'],
    ['a/$SYS', 'not_own'],

    ['$SYS/broker/uptime', 'reserved'],
    ['$SYS', 'reserved'],
    ['$share/g/losant/dev/state', 'reserved'],
    ['$', 'reserved'],

    ['', 'invalid'],
    ['losant/dev/+', 'invalid'],
    ['losant/dev/#', 'invalid'],
    ['losant/+/state', 'invalid'],
    ['#', 'invalid'],
    ['+', 'invalid'],
    ['losant/dev/a+', 'invalid'],
    ['losant/dev/a#', 'invalid'],
    ['losant/dev/state\u0000', 'invalid'],
    ['losant/dev/\ufffd', 'invalid'],
    ['losant/dev/a\nb', 'invalid'],
    ['losant/dev/a\u0085', 'invalid'],
    [`losant/dev/${'x'.repeat(1025 - 'losant/dev/'.length)}`, 'invalid'],
    [`losant/dev/${'\u00e9'.repeat((1025 - 'losant/dev/'.length) / 2)}`, 'invalid'],
    ['$SYS/#', 'invalid'],
  ])('%j → %s', (topic, expected) => {
    expect(decidePublish(OWN, topic)).toBe(expected);
  });
});

describe('decideSubscribe (device "dev", own prefix losant/dev/)', () => {
  it.each<[string, TopicDecision]>([
    ['losant/dev/state', 'allowed'],
    ['losant/dev/command', 'allowed'],
    ['losant/dev/#', 'allowed'],
    ['losant/dev/+', 'allowed'],
    ['losant/dev/+/x', 'allowed'],
    ['losant/dev/a/#', 'allowed'],
    ['losant/dev//', 'allowed'],
    [`losant/dev/${'x'.repeat(1024 - 'losant/dev/'.length)}`, 'allowed'],

    // wildcards over the root or the device level, and other devices
    ['losant/+/state', 'not_own'],
    ['losant/+/#', 'not_own'],
    ['losant/#', 'not_own'],
    ['#', 'not_own'],
    ['+', 'not_own'],
    ['+/dev/state', 'not_own'],
    ['+/+/state', 'not_own'],
    ['+/#', 'not_own'],
    ['losant/dev', 'not_own'],
    ['losant/dev/', 'not_own'],
    ['losant/other/#', 'not_own'],
    ['losant/dev2/state', 'not_own'],
    ['losant/de/#', 'not_own'],
    ['losant/Dev/state', 'not_own'],
    ['custom/#', 'not_own'],

    ['$SYS/#', 'reserved'],
    ['$SYS/broker/uptime', 'reserved'],
    ['$share/g/losant/dev/state', 'reserved'],
    ['$share/g/#', 'reserved'],
    ['$', 'reserved'],

    ['', 'invalid'],
    ['a+/b', 'invalid'],
    ['a#', 'invalid'],
    ['a/#/b', 'invalid'],
    ['losant/dev/a+', 'invalid'],
    ['losant/dev/#/x', 'invalid'],
    ['losant/dev/##', 'invalid'],
    ['losant/dev/state\u0000', 'invalid'],
    ['losant/dev/\ufffd', 'invalid'],
    ['losant/dev/\t', 'invalid'],
    [`losant/dev/${'x'.repeat(1025 - 'losant/dev/'.length)}`, 'invalid'],
    ['$SYS/a#', 'invalid'],
  ])('%j → %s', (filter, expected) => {
    expect(decideSubscribe(OWN, filter)).toBe(expected);
  });
});

describe('device IDs that look like topic levels', () => {
  it.each<[string, string, TopicDecision, TopicDecision]>([
    // [deviceId, topic/filter, publish, subscribe]
    ['losant', 'losant/losant/state', 'allowed', 'allowed'],
    ['losant', 'losant/losant/#', 'invalid', 'allowed'],
    ['losant', 'losant/state', 'not_own', 'not_own'],
    ['losant', 'losant/losant', 'not_own', 'not_own'],
    ['losant', 'losant/#', 'invalid', 'not_own'],
    ['losant', 'losant/+/state', 'invalid', 'not_own'],
    ['losant', '#', 'invalid', 'not_own'],
    ['losant', '+/losant/state', 'invalid', 'not_own'],
    ['state', 'losant/state/state', 'allowed', 'allowed'],
    ['state', 'losant/state', 'not_own', 'not_own'],
    ['state', 'losant/dev/state', 'not_own', 'not_own'],
    ['state', 'losant/+/state', 'invalid', 'not_own'],
    ['command', 'losant/command/command', 'allowed', 'allowed'],
    ['command', 'losant/dev/command', 'not_own', 'not_own'],
  ])('device %j, %j → publish %s, subscribe %s', (deviceId, topic, publish, subscribe) => {
    const own = deviceTopicPrefix('losant', deviceId);
    expect(decidePublish(own, topic)).toBe(publish);
    expect(decideSubscribe(own, topic)).toBe(subscribe);
  });
});

describe('custom topic root', () => {
  const own = deviceTopicPrefix('acme/devices', 'd-1');

  it.each<[string, TopicDecision, TopicDecision]>([
    ['acme/devices/d-1/state', 'allowed', 'allowed'],
    ['acme/devices/d-1/#', 'invalid', 'allowed'],
    ['losant/d-1/state', 'not_own', 'not_own'],
    ['acme/devices/+/state', 'invalid', 'not_own'],
    ['acme/+/d-1/state', 'invalid', 'not_own'],
  ])('%j → publish %s, subscribe %s', (topic, publish, subscribe) => {
    expect(decidePublish(own, topic)).toBe(publish);
    expect(decideSubscribe(own, topic)).toBe(subscribe);
  });
});

describe('mayReceive (device "dev", own prefix losant/dev/)', () => {
  it.each<[string, boolean]>([
    ['losant/dev/state', true],
    ['losant/dev/command', true],
    ['losant/dev/a/b', true],
    ['losant/dev/', false],
    ['losant/dev', false],
    ['losant/other/state', false],
    ['losant/dev2/state', false],
    ['losant/de/state', false],
    ['losant/Dev/state', false],
    ['losant/state', false],
    ['custom/topic', false],
    ['$SYS/broker/uptime', false],
    ['$share/g/losant/dev/state', false],
    ['', false],
  ])('%j → %s', (topic, expected) => {
    expect(mayReceive(OWN, topic)).toBe(expected);
  });

  it.each<[string, string]>([
    ['losant/+/state', 'losant/other/state'],
    ['losant/#', 'losant/other/command'],
    ['#', 'custom/topic'],
    ['+/dev/state', 'other/dev/state'],
  ])('a wildcard subscription %j delivers nothing from %j', (_filter, topic) => {
    expect(mayReceive(OWN, topic)).toBe(false);
  });

  it('agrees with decidePublish on every valid own or foreign topic', () => {
    const topics = [
      'losant/dev/state',
      'losant/dev/x/y',
      'losant/other/state',
      'losant/dev',
      'losant/dev/',
      'other/dev/state',
    ];
    for (const topic of topics) {
      expect(mayReceive(OWN, topic)).toBe(decidePublish(OWN, topic) === 'allowed');
    }
  });
});
