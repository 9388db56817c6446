import { isBelowPrefix, isReservedTopic, isValidTopicFilter, isValidTopicName } from './topics.js';

/**
 * The publish / subscribe rules in force until the full authorization table (SPEC section 3) lands:
 * a device may use its own topics `<root>/<deviceId>/…` and nothing else. Pure: no I/O.
 */
export type TopicDecision = 'allowed' | 'invalid' | 'reserved' | 'not_own';

export function decidePublish(ownPrefix: string, topic: string): TopicDecision {
  if (!isValidTopicName(topic)) return 'invalid';
  if (isReservedTopic(topic)) return 'reserved';
  return isBelowPrefix(topic, ownPrefix) ? 'allowed' : 'not_own';
}

export function decideSubscribe(ownPrefix: string, filter: string): TopicDecision {
  if (!isValidTopicFilter(filter)) return 'invalid';
  if (isReservedTopic(filter)) return 'reserved';
  return isBelowPrefix(filter, ownPrefix) ? 'allowed' : 'not_own';
}

/**
 * Per-delivery check: only topics the subscriber could have subscribed to one by one arrive. A topic
 * that reached the broker was validated at publish time, so a prefix test is enough; it allocates
 * nothing.
 */
export function mayReceive(ownPrefix: string, topic: string): boolean {
  return isBelowPrefix(topic, ownPrefix);
}
