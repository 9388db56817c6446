import { classifyTopic, controls, customTopicRule, inScope } from '../policy/authorization.js';
import { isReservedTopic } from '../policy/topics.js';
import type { DeviceDirectory } from '../store/device-directory.js';
import type { Session } from './sessions.js';

/** What a topic is, computed once per distinct topic. */
type TopicKind =
  | { readonly kind: 'device'; readonly deviceId: string; readonly stateOrCommand: boolean }
  | { readonly kind: 'custom' }
  | { readonly kind: 'never' };

const CUSTOM: TopicKind = { kind: 'custom' };
const NEVER: TopicKind = { kind: 'never' };

/** Memo bits per (session, device). */
const KNOWN = 1;
const CONTROLS = 2;
const IN_SCOPE = 4;

/** Bounds on the memory the memos may take; past them a memo is dropped and rebuilt. */
const MAX_TOPICS = 100_000;
const MAX_DEVICES_PER_SESSION = 10_000;

/**
 * The per-delivery check behind `authorizeForward`: the same answer as `decideDelivery` (the pure
 * policy; a test holds them equal), computed so that the steady state does no I/O and allocates nothing.
 * A topic is classified once (a map keyed by the topic string the packet already carries); what a session
 * may see of a device is memoised per session until the device directory changes.
 */
export class DeliveryGuard {
  private readonly topics = new Map<string, TopicKind>();

  constructor(
    private readonly directory: DeviceDirectory,
    private readonly root: string,
  ) {}

  allows(session: Session, topic: string): boolean {
    let kind = this.topics.get(topic);
    if (kind === undefined) {
      kind = this.classify(topic);
      if (this.topics.size >= MAX_TOPICS) this.topics.clear();
      this.topics.set(topic, kind);
    }
    if (kind.kind === 'never') return false;
    const { principal } = session;
    if (kind.kind === 'custom') {
      return customTopicRule(principal.key.topicFilter, principal.key.subTopics, topic).allowed;
    }
    if (kind.deviceId === session.deviceId) return true;
    const bits = this.visibility(session, kind.deviceId);
    return (bits & CONTROLS) !== 0 || ((bits & IN_SCOPE) !== 0 && kind.stateOrCommand);
  }

  private classify(topic: string): TopicKind {
    if (isReservedTopic(topic)) return NEVER;
    const kind = classifyTopic(this.root, topic);
    if (kind === 'custom') return CUSTOM;
    if (kind === 'root-other') return NEVER;
    return {
      kind: 'device',
      deviceId: kind.deviceId,
      stateOrCommand: kind.suffix === 'state' || kind.suffix === 'command',
    };
  }

  private visibility(session: Session, deviceId: string): number {
    let { memo } = session;
    if (memo === undefined) {
      memo = new Map();
      session.memo = memo;
      session.memoGeneration = this.directory.generation;
    } else if (session.memoGeneration !== this.directory.generation || memo.size >= MAX_DEVICES_PER_SESSION) {
      memo.clear();
      session.memoGeneration = this.directory.generation;
    }
    let bits = memo.get(deviceId);
    if (bits === undefined) {
      const { lookup } = this.directory;
      bits =
        KNOWN |
        (controls(session.principal, deviceId, lookup) ? CONTROLS : 0) |
        (inScope(session.principal.key, deviceId, lookup) ? IN_SCOPE : 0);
      memo.set(deviceId, bits);
    }
    return bits;
  }
}
