import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { ConnackCode, ErrorCode } from './errors.js';
import type { Rule } from './policy/authorization.js';
import { DROP_REASONS, type DropReason } from './server/frame-guard.js';

/**
 * Why a PUBLISH or SUBSCRIBE was refused: a rule of the authorization table, an error code, or one of
 * two states of the session. A bounded set — a label value is never a key, a device ID, a topic or a secret.
 */
export type RefusalReason = Rule | ErrorCode | 'no-session' | 'revoked';

/** Outcome of one bcrypt verification (a verification against the dummy hash of an unknown key fails). */
export type VerificationResult = 'match' | 'mismatch' | 'error';

/**
 * What keygate's hooks report. Every method is cheap and never throws; `deliveryFiltered` runs on the
 * per-delivery hot path and allocates nothing.
 */
export interface KeygateMetrics {
  /** A CONNECT was decided by `authenticate`: 0 accepted, else the CONNACK return code. */
  connect(code: ConnackCode): void;
  /** A PUBLISH (incl. a will when it fires) or a SUBSCRIBE filter was refused. */
  refused(action: 'publish' | 'subscribe', reason: RefusalReason): void;
  /** A delivery to a subscriber was dropped by the per-delivery check. */
  deliveryFiltered(): void;
  /** One secret verification, queueing included. */
  verification(result: VerificationResult, seconds: number): void;
  /** A live session was disconnected after a change in Redis, `seconds` after keygate learnt of it. */
  revocation(code: ErrorCode, seconds: number): void;
  /** A CONNECT was refused by the brute-force throttle (it is counted by `connect(5)` too). Optional. */
  throttled?(): void;
  /** A secret was recognised by the verified-credential cache: no bcrypt verification. Optional. */
  verifiedFromCache?(): void;
  /** A CONNECT was accepted from memory, without reading Redis (hooks/warm-connects.ts). Optional. */
  connectFromMemory?(): void;
  /** Where the memory-in-step gauge reads its value (hooks/warm-connects.ts). Optional. */
  watchMemoryInStep?(source: () => boolean): void;
  /** The Redis connection reported an error (a failed connection attempt, a lost connection...). */
  redisError(): void;
}

/** Metrics that go nowhere: the default of `createKeygate`. */
export const noMetrics: KeygateMetrics = Object.freeze({
  connect() {},
  refused() {},
  deliveryFiltered() {},
  verification() {},
  revocation() {},
  throttled() {},
  verifiedFromCache() {},
  connectFromMemory() {},
  redisError() {},
});

const CONNACK_CODES: readonly ConnackCode[] = [0, 2, 3, 4, 5];

/** keygate's metrics in a Prometheus registry of their own (plus prom-client's process metrics). */
export class PrometheusMetrics implements KeygateMetrics {
  readonly registry = new Registry();
  private connectedClients: () => number = () => 0;
  private memoryInStep: () => boolean = () => false;
  // Hot-path counts: each CONNECT (and each filtered delivery) only bumps a number here; the counters take
  // them at scrape time (their `collect`). A prom-client inc() hashes its labels and validates them: ~1 µs
  // each, three per warm reconnect (issue 7, target 3).
  private readonly pending = { filtered: 0, cacheHits: 0, fromMemory: 0 };
  private readonly pendingConnects = new Map<number, number>();
  private readonly connects: Counter<'code'>;
  private readonly connectsByCode = new Map<number, Counter.Internal>();
  private readonly refusals: Counter<'action' | 'reason'>;
  private readonly refusalsByReason = {
    publish: new Map<RefusalReason, Counter.Internal>(),
    subscribe: new Map<RefusalReason, Counter.Internal>(),
  };
  private readonly verifications: Counter<'result'>;
  private readonly verificationSeconds: Histogram;
  private readonly revocations: Counter<'code'>;
  private readonly revocationSeconds: Histogram;
  private readonly redisErrors: Counter;
  private readonly throttledConnects: Counter;
  private readonly droppedByReason = new Map<DropReason, Counter.Internal>();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    const self = this;
    /** A counter without labels whose hot path only bumps `self.pending[field]`; taken at scrape time. */
    const pendingCounter = (name: string, help: string, field: keyof PrometheusMetrics['pending']) =>
      new Counter({
        name,
        help,
        registers,
        collect() {
          this.inc(self.pending[field]);
          self.pending[field] = 0;
        },
      });
    new Gauge({
      name: 'keygate_connected_clients',
      help: 'MQTT clients connected to this broker (authenticated, every transport).',
      registers,
      collect() {
        this.set(self.connectedClients());
      },
    });
    new Gauge({
      name: 'keygate_memory_in_step',
      help: '1 while memory is provably in step with Redis, so that warm reconnects are accepted from memory; 0 while every CONNECT reads Redis.',
      registers,
      collect() {
        this.set(self.memoryInStep() ? 1 : 0);
      },
    });
    this.connects = new Counter({
      name: 'keygate_connects_total',
      help: 'CONNECTs decided, by CONNACK return code (0 accepted, 2 identifier rejected, 3 server unavailable, 4 bad user name or password, 5 not authorized).',
      labelNames: ['code'],
      registers,
      collect() {
        for (const [code, count] of self.pendingConnects) {
          (self.connectsByCode.get(code) ?? this.labels(String(code))).inc(count);
        }
        self.pendingConnects.clear();
      },
    });
    for (const code of CONNACK_CODES) {
      const child = this.connects.labels(String(code));
      child.inc(0); // every code is exported from the start, at 0
      this.connectsByCode.set(code, child);
    }
    this.refusals = new Counter({
      name: 'keygate_refusals_total',
      help: 'PUBLISH and SUBSCRIBE refusals, by action and reason (the authorization rule or error code).',
      labelNames: ['action', 'reason'],
      registers,
    });
    pendingCounter(
      'keygate_deliveries_filtered_total',
      'Deliveries dropped by the per-delivery scope check (authorizeForward).',
      'filtered',
    );
    this.verifications = new Counter({
      name: 'keygate_bcrypt_verifications_total',
      help: 'Secret verifications (bcrypt), by result.',
      labelNames: ['result'],
      registers,
    });
    pendingCounter(
      'keygate_credential_cache_hits_total',
      'CONNECTs whose secret was recognised by the verified-credential cache (no bcrypt verification).',
      'cacheHits',
    );
    pendingCounter(
      'keygate_connects_from_memory_total',
      'CONNECTs accepted from memory, without reading Redis (a warm reconnect while memory is in step with Redis).',
      'fromMemory',
    );
    this.verificationSeconds = new Histogram({
      name: 'keygate_bcrypt_verification_seconds',
      help: 'Time of one secret verification, waiting for a worker thread included.',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.revocations = new Counter({
      name: 'keygate_revocations_total',
      help: 'Live sessions disconnected after a change in Redis, by error code.',
      labelNames: ['code'],
      registers,
    });
    this.revocationSeconds = new Histogram({
      name: 'keygate_revocation_latency_seconds',
      help: 'From keygate learning of a change (keyspace notification or re-validation) to the disconnect.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
    this.redisErrors = new Counter({
      name: 'keygate_redis_errors_total',
      help: 'Errors reported by the key store Redis connection (failed connection attempts included).',
      registers,
    });
    this.throttledConnects = new Counter({
      name: 'keygate_connects_throttled_total',
      help: 'CONNECTs refused by the brute-force throttle (CONNACK 5, no verification); also in keygate_connects_total.',
      registers,
    });
    const dropped = new Counter({
      name: 'keygate_connections_dropped_total',
      help: 'Connections closed before or outside MQTT handling, by reason: a first packet not CONNECT, a CONNECT or a later packet declared over its limit, too many bytes before the CONNACK, a malformed remaining length, no CONNECT in time.',
      labelNames: ['reason'],
      registers,
    });
    for (const reason of DROP_REASONS) {
      const child = dropped.labels(reason);
      child.inc(0);
      this.droppedByReason.set(reason, child);
    }
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Where the connected-clients gauge reads its value (e.g. `() => broker.connectedClients`). */
  countConnectedClients(source: () => number): void {
    this.connectedClients = source;
  }

  watchMemoryInStep(source: () => boolean): void {
    this.memoryInStep = source;
  }

  connect(code: ConnackCode): void {
    this.pendingConnects.set(code, (this.pendingConnects.get(code) ?? 0) + 1);
  }

  refused(action: 'publish' | 'subscribe', reason: RefusalReason): void {
    const children = this.refusalsByReason[action];
    let child = children.get(reason);
    if (child === undefined) {
      child = this.refusals.labels(action, reason);
      children.set(reason, child);
    }
    child.inc();
  }

  deliveryFiltered(): void {
    this.pending.filtered++;
  }

  verifiedFromCache(): void {
    this.pending.cacheHits++;
  }

  connectFromMemory(): void {
    this.pending.fromMemory++;
  }

  verification(result: VerificationResult, seconds: number): void {
    this.verifications.labels(result).inc();
    this.verificationSeconds.observe(seconds);
  }

  revocation(code: ErrorCode, seconds: number): void {
    this.revocations.labels(code).inc();
    this.revocationSeconds.observe(seconds);
  }

  redisError(): void {
    this.redisErrors.inc();
  }

  throttled(): void {
    this.throttledConnects.inc();
  }

  /** A connection was closed by the frame guard or for not sending its CONNECT in time. */
  connectionDropped(reason: DropReason): void {
    this.droppedByReason.get(reason)?.inc();
  }

  /** The Prometheus text exposition of every metric. */
  async text(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}

/** Creates keygate's Prometheus metrics, each instance in its own registry. */
export function createMetrics(options: { defaultMetrics?: boolean } = {}): PrometheusMetrics {
  return new PrometheusMetrics(options);
}
