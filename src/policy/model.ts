import type { Scope } from './restrictions.js';
import type { Tags } from './tags.js';

/** How a key treats custom (non-device) topics (SPEC section 3). */
export type TopicFilterMode = 'none' | 'all' | 'allow' | 'deny';
export type DeviceType = 'standalone' | 'gateway' | 'peripheral';

/** An access key, minus its secret hash, parsed and validated (SPEC section 1). */
export interface KeyRecord {
  readonly active: boolean;
  readonly scope: Scope;
  readonly topicFilter: TopicFilterMode;
  readonly pubTopics: readonly string[];
  readonly subTopics: readonly string[];
}

/** A registered device, parsed and validated (SPEC section 1). */
export interface DeviceRecord {
  readonly id: string;
  readonly tags: Tags;
  readonly type: DeviceType;
  /** For peripherals: the gateway's device ID, or `*` (any gateway). */
  readonly gateway: string;
}
