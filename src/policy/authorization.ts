/**
 * The authorization table of SPEC section 3, as pure functions of (device, key, the registered devices,
 * topic). No I/O, no Redis, no Aedes: the hooks feed it what the store keeps in memory.
 *
 * D = the connected device, K = its key, scope(K) = every registered device when K is unrestricted, else
 * the registered devices matching K's restrictions. D controls X when X = D, or when D is a gateway and X
 * is a peripheral of D (or a floating peripheral, `gateway` missing or `*`) and X is in scope(K).
 */
import { isValidIdentifier } from './identifiers.js';
import type { DeviceRecord, KeyRecord, TopicFilterMode } from './model.js';
import { isInScope } from './scope.js';
import { filterCovers, filtersIntersect, topicMatches } from './topic-match.js';
import { isReservedTopic, isValidTopicFilter, isValidTopicName } from './topics.js';

/** The registered devices, as far as the caller knows them. */
export type DeviceLookup = (deviceId: string) => DeviceRecord | undefined;

/** Who is asking: the connected device and the key it authenticated with. */
export interface Principal {
  readonly device: DeviceRecord;
  readonly key: KeyRecord;
}

/** Why a decision was made: shown by logs (and by `keygate explain`). */
export type Rule =
  | 'own-device'
  | 'gateway-peripheral'
  | 'scope-state-command'
  | 'backend-command'
  | 'wildcard-checked-per-delivery'
  | 'custom-all'
  | 'custom-allow-list'
  | 'custom-deny-list'
  | 'invalid'
  | 'reserved'
  | 'not-a-device-topic'
  | 'not-controlled'
  | 'out-of-scope'
  | 'custom-none'
  | 'custom-not-in-allow-list'
  | 'custom-in-deny-list'
  | 'matches-nothing-permitted';

export interface Decision {
  readonly allowed: boolean;
  readonly rule: Rule;
}

function decision(allowed: boolean, rule: Rule): Decision {
  return Object.freeze({ allowed, rule });
}

// Preallocated: deciding allocates no Decision.
const ALLOW = {
  own: decision(true, 'own-device'),
  peripheral: decision(true, 'gateway-peripheral'),
  scope: decision(true, 'scope-state-command'),
  backendCommand: decision(true, 'backend-command'),
  wildcard: decision(true, 'wildcard-checked-per-delivery'),
  customAll: decision(true, 'custom-all'),
  customAllowList: decision(true, 'custom-allow-list'),
  customDenyList: decision(true, 'custom-deny-list'),
} as const;
const DENY = {
  invalid: decision(false, 'invalid'),
  reserved: decision(false, 'reserved'),
  notDeviceTopic: decision(false, 'not-a-device-topic'),
  notControlled: decision(false, 'not-controlled'),
  outOfScope: decision(false, 'out-of-scope'),
  customNone: decision(false, 'custom-none'),
  notInAllowList: decision(false, 'custom-not-in-allow-list'),
  inDenyList: decision(false, 'custom-in-deny-list'),
  nothing: decision(false, 'matches-nothing-permitted'),
} as const;

/** A topic under the root: `<root>/<deviceId>/<suffix>`, suffix non-empty. */
export interface DeviceTopic {
  readonly deviceId: string;
  readonly suffix: string;
}

/**
 * Classifies a topic name: a device topic, another topic under the root (which no rule allows), or a
 * custom topic (first level is not the root).
 */
export function classifyTopic(root: string, topic: string): DeviceTopic | 'root-other' | 'custom' {
  if (topic === root) return 'root-other';
  if (!((topic.startsWith(root) && topic.charCodeAt(root.length) === 47) /* / */)) return 'custom';
  const idStart = root.length + 1;
  const idEnd = topic.indexOf('/', idStart);
  if (idEnd < 0 || idEnd === topic.length - 1) return 'root-other';
  const deviceId = topic.slice(idStart, idEnd);
  if (!isValidIdentifier(deviceId)) return 'root-other';
  return { deviceId, suffix: topic.slice(idEnd + 1) };
}

/** X is in scope(K): X is registered and matches K's restrictions (or K is unrestricted). */
export function inScope(key: KeyRecord, deviceId: string, devices: DeviceLookup): boolean {
  const record = devices(deviceId);
  return record !== undefined && isInScope(key.scope, deviceId, record.tags);
}

/** Whether the peripheral `record` may be driven by gateway `gatewayId` (ignoring scope). */
export function isPeripheralOf(record: DeviceRecord | undefined, gatewayId: string): boolean {
  return record?.type === 'peripheral' && (record.gateway === '*' || record.gateway === gatewayId);
}

/** D controls X. */
export function controls(principal: Principal, deviceId: string, devices: DeviceLookup): boolean {
  const { device, key } = principal;
  if (deviceId === device.id) return true;
  if (device.type !== 'gateway') return false;
  const record = devices(deviceId);
  return isPeripheralOf(record, device.id) && isInScope(key.scope, deviceId, (record as DeviceRecord).tags);
}

/** The key's custom-topic rule (`topicFilter` with `pubTopics` or `subTopics`) applied to one topic. */
export function customTopicRule(mode: TopicFilterMode, filters: readonly string[], topic: string): Decision {
  switch (mode) {
    case 'all':
      return ALLOW.customAll;
    case 'allow':
      return matchesAny(filters, topic) ? ALLOW.customAllowList : DENY.notInAllowList;
    case 'deny':
      return matchesAny(filters, topic) ? DENY.inDenyList : ALLOW.customDenyList;
    default:
      return DENY.customNone;
  }
}

function matchesAny(filters: readonly string[], topic: string): boolean {
  for (let i = 0; i < filters.length; i++) if (topicMatches(filters[i] as string, topic)) return true;
  return false;
}

/**
 * PUBLISH (and a will, at CONNECT and when it fires). A device publishes on topics it controls; on
 * another device's `command` topic only as a backend would — K's custom publish rules match the topic
 * and X is in scope(K); on custom topics by K's `topicFilter` and `pubTopics`.
 */
export function decidePublish(
  principal: Principal,
  devices: DeviceLookup,
  root: string,
  topic: string,
): Decision {
  if (!isValidTopicName(topic)) return DENY.invalid;
  // [MQTT-4.7.2-1] `$` topics are the server's; `$share/…` is not a topic a device may use either.
  if (isReservedTopic(topic)) return DENY.reserved;
  const kind = classifyTopic(root, topic);
  if (kind === 'custom') return customTopicRule(principal.key.topicFilter, principal.key.pubTopics, topic);
  if (kind === 'root-other') return DENY.notDeviceTopic;
  if (kind.deviceId === principal.device.id) return ALLOW.own;
  if (controls(principal, kind.deviceId, devices)) return ALLOW.peripheral;
  if (kind.suffix !== 'command') return DENY.notControlled;
  if (!inScope(principal.key, kind.deviceId, devices)) return DENY.outOfScope;
  const custom = customTopicRule(principal.key.topicFilter, principal.key.pubTopics, topic);
  return custom.allowed ? ALLOW.backendCommand : DENY.notControlled;
}

/**
 * One delivery of a message on `topic` to the subscriber: allowed exactly when the subscriber could have
 * subscribed to `topic` itself. Device topics it controls; other devices' `state` and `command` inside
 * scope(K) (Losant: a restricted key "can only see other devices in that same restricted scope"); custom
 * topics by K's `topicFilter` and `subTopics`.
 */
export function decideDelivery(
  principal: Principal,
  devices: DeviceLookup,
  root: string,
  topic: string,
): Decision {
  if (isReservedTopic(topic)) return DENY.reserved;
  const kind = classifyTopic(root, topic);
  if (kind === 'custom') return customTopicRule(principal.key.topicFilter, principal.key.subTopics, topic);
  if (kind === 'root-other') return DENY.notDeviceTopic;
  if (kind.deviceId === principal.device.id) return ALLOW.own;
  if (controls(principal, kind.deviceId, devices)) return ALLOW.peripheral;
  if (kind.suffix !== 'state' && kind.suffix !== 'command') return DENY.notControlled;
  return inScope(principal.key, kind.deviceId, devices) ? ALLOW.scope : DENY.outOfScope;
}

function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}

/**
 * Whether `filter` can match a device topic of `deviceId` (`<root>/<id>/<suffix>`, suffix non-empty).
 * `+` matches an empty level, so `<root>/+/` intersects `<root>/<id>/+/#` yet only matches
 * `<root>/<id>/`, which is not a device topic.
 */
function reachesDeviceTopics(filter: string, root: string, deviceId: string): boolean {
  if (!filtersIntersect(filter, `${root}/${deviceId}/+/#`)) return false;
  const levels = filter.split('/');
  return !(levels.length === 3 && levels[2] === '');
}

/** Whether a filter's first level can be that of a custom topic (not the root, not `$…`). */
function firstLevelCanBeCustom(filter: string, root: string): boolean {
  const slash = filter.indexOf('/');
  const first = slash < 0 ? filter : filter.slice(0, slash);
  return first === '+' || first === '#' || (first !== root && !first.startsWith('$'));
}

/** Whether some custom topic matches both filters. */
function customFiltersIntersect(a: string, b: string, root: string): boolean {
  return firstLevelCanBeCustom(a, root) && firstLevelCanBeCustom(b, root) && filtersIntersect(a, b);
}

/**
 * SUBSCRIBE, per filter. A filter without wildcards is decided like a delivery on that topic. A filter
 * with wildcards is granted when it can match at least one topic the subscriber may receive — and then
 * every delivery through it is checked (`decideDelivery`), so a wildcard never widens the scope.
 */
export function decideSubscribe(
  principal: Principal,
  devices: DeviceLookup,
  root: string,
  filter: string,
): Decision {
  if (!isValidTopicFilter(filter)) return DENY.invalid;
  if (isReservedTopic(filter)) return DENY.reserved;
  if (!hasWildcard(filter)) return decideDelivery(principal, devices, root, filter);

  const { device, key } = principal;
  // Its own topics `<root>/<D>/<at least one level>`.
  if (reachesDeviceTopics(filter, root, device.id)) return ALLOW.wildcard;

  const slash = filter.indexOf('/');
  const first = slash < 0 ? filter : filter.slice(0, slash);
  let refusal: Decision = DENY.nothing;
  if (first === root || first === '+') {
    // `<root>/X/…` (or `+/X/…`) with X literal: X's topics the subscriber may receive.
    const secondEnd = slash < 0 ? -1 : filter.indexOf('/', slash + 1);
    const second = slash < 0 ? '' : filter.slice(slash + 1, secondEnd < 0 ? undefined : secondEnd);
    if (isValidIdentifier(second)) {
      if (controls(principal, second, devices) && reachesDeviceTopics(filter, root, second)) {
        return ALLOW.wildcard;
      }
      const seesStateOrCommand =
        filtersIntersect(filter, `${root}/${second}/state`) ||
        filtersIntersect(filter, `${root}/${second}/command`);
      if (seesStateOrCommand && inScope(key, second, devices)) return ALLOW.wildcard;
      refusal = seesStateOrCommand ? DENY.outOfScope : DENY.notControlled;
    }
    // `<root>/+` and the like match no device topic (those have three levels or more), and its own
    // topics were tested above.
    if (first === root) return refusal;
  }
  // A custom first level, or a wildcard one that can reach custom topics.
  switch (key.topicFilter) {
    case 'all':
      return ALLOW.wildcard;
    case 'allow':
      return key.subTopics.some((allowed) => customFiltersIntersect(allowed, filter, root))
        ? ALLOW.wildcard
        : DENY.notInAllowList;
    case 'deny':
      // Refused only when one deny filter covers it whole; a filter that several deny filters cover only
      // together is granted, and its deliveries are all refused one by one (safe, if not tidy).
      return key.subTopics.some((denied) => filterCovers(denied, filter)) ? DENY.inDenyList : ALLOW.wildcard;
    default:
      return refusal === DENY.nothing ? DENY.customNone : refusal;
  }
}
