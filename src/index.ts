/** keygate as a library: Aedes hooks backed by a Redis key store of access keys and devices. */

export { ConnackCode, type ErrorCode, ExitCode, errorCatalogue, KeygateError } from './errors.js';
export { DEFAULT_THROTTLE, type ThrottleSettings } from './hooks/connect-throttle.js';
export {
  createKeygate,
  DEFAULT_TOPIC_ROOT,
  type Keygate,
  type KeygateHooks,
  type KeygateOptions,
} from './keygate.js';
export {
  createMetrics,
  type KeygateMetrics,
  noMetrics,
  PrometheusMetrics,
  type RefusalReason,
  type VerificationResult,
} from './metrics.js';
export {
  DROP_REASONS,
  type DropReason,
  type FrameGuardOptions,
  guardConnection,
} from './server/frame-guard.js';
export {
  createMemoryMessageQueue,
  guardReleaseRecursion,
  MAX_RELEASE_DEPTH,
} from './server/message-queue.js';
export { DEFAULT_PREFIX, Keyspace } from './store/keyspace.js';
