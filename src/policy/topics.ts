import { FORBIDDEN_CHARACTERS } from './identifiers.js';

/**
 * Topic names and filters as MQTT 3.1.1 section 4.7 defines them, made stricter where aedes is lax
 * (it accepts NUL, lossily decoded invalid UTF-8 and filters such as `a+/b` or `a#`).
 */

/** Longest topic or filter accepted, in UTF-8 bytes. MQTT allows 65,535; no device topic needs that. */
export const MAX_TOPIC_BYTES = 1024;

function hasValidText(topic: string): boolean {
  return (
    topic.length > 0 &&
    Buffer.byteLength(topic, 'utf8') <= MAX_TOPIC_BYTES &&
    !FORBIDDEN_CHARACTERS.test(topic)
  );
}

/** A topic name, as in PUBLISH and wills: no wildcards at all [MQTT-3.3.2-2], at least one character [MQTT-4.7.3-1]. */
export function isValidTopicName(topic: string): boolean {
  return hasValidText(topic) && !topic.includes('+') && !topic.includes('#');
}

/**
 * A topic filter: `+` only as a whole level [MQTT-4.7.1-3]; `#` only as the whole last level
 * [MQTT-4.7.1-2].
 */
export function isValidTopicFilter(filter: string): boolean {
  if (!hasValidText(filter)) return false;
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    if (level === '+') continue;
    if (level === '#') {
      if (i !== levels.length - 1) return false;
      continue;
    }
    if (level.includes('+') || level.includes('#')) return false;
  }
  return true;
}

/**
 * `$`-topics are the broker's (`$SYS/…`) or MQTT 5 shared subscriptions (`$share/…`); no device may
 * publish or subscribe to them [MQTT-4.7.2-1].
 */
export function isReservedTopic(topicOrFilter: string): boolean {
  return topicOrFilter.startsWith('$');
}

/** `<root>/<deviceId>/`: everything a device owns lives below it. */
export function deviceTopicPrefix(topicRoot: string, deviceId: string): string {
  return `${topicRoot}/${deviceId}/`;
}

/**
 * Whether a topic or filter lies inside the device's own namespace `<root>/<id>/…` with at least one
 * level after the device ID. A filter with a wildcard in the root or device level (`+/id/state`,
 * `losant/+/…`) does not: it starts with different characters.
 */
export function isBelowPrefix(topicOrFilter: string, prefix: string): boolean {
  return topicOrFilter.length > prefix.length && topicOrFilter.startsWith(prefix);
}
