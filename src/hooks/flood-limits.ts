/**
 * Floods from authenticated devices (issue 6, README "Security: floods"): a payload-size limit and a
 * message-rate limit per connection. A device over either is disconnected and backed off: its CONNECTs
 * get CONNACK 5 (KG_ERR_BACKED_OFF) for banMs, doubling on each further violation up to banMaxMs.
 *
 * The rate is counted in a FIXED WINDOW per connection, across all topics: the first PUBLISH opens a
 * window of rateWindowMs, at most rateLimit PUBLISHes pass in it, and the first PUBLISH after it ends
 * opens the next. Why not a sliding window or a token bucket:
 * - a device that keeps the stated rule ("at most N per W ms", in ANY span of W ms) is never refused,
 *   and where a window starts and ends can be told to a device owner in one sentence — a refusal costs
 *   the device a disconnection and a back-off, so false positives matter more than precision;
 * - two number fields on the Session and one comparison per PUBLISH: no timestamps kept per message, no
 *   allocation, no Map look-up on the hot path (a sliding log would keep N timestamps per connection;
 *   a sliding-window counter or token bucket refuse some compliant devices near the limit);
 * - its known weakness, up to 2 × N messages in a short span across a window edge, is bounded: the limit
 *   exists to stop runaway devices, not to shape traffic.
 *
 * In memory, per instance: the back-off needs no Redis (it keeps working while Redis is down), and a
 * backed-off CONNECT costs neither a bcrypt verification nor a Redis read.
 */
import { DEFAULT_THROTTLE, Records } from './connect-throttle.js';

export interface FloodSettings {
  /** Largest PUBLISH payload, in bytes; 0 = no limit. */
  readonly maxPayloadBytes: number;
  /** Most PUBLISHes per connection per window; 0 = no limit. */
  readonly rateLimit: number;
  /** The window of `rateLimit`, in ms. */
  readonly rateWindowMs: number;
  /** First back-off, in ms. */
  readonly banMs: number;
  /** Longest back-off, in ms; also how long a violation is remembered (for the doubling). */
  readonly banMaxMs: number;
  /** Most devices remembered; past it the oldest record is dropped. */
  readonly maxEntries?: number;
}

export const DEFAULT_FLOODS: Required<FloodSettings> = {
  maxPayloadBytes: 262_144,
  rateLimit: 0,
  rateWindowMs: 15_000,
  banMs: DEFAULT_THROTTLE.banMs,
  banMaxMs: DEFAULT_THROTTLE.banMaxMs,
  maxEntries: DEFAULT_THROTTLE.maxEntries,
};

/** The per-connection counters, kept on the Session (plain numbers: nothing allocated per PUBLISH). */
export interface FloodState {
  /** Start of the current rate window (clock ms); meaningless while `floodCount` is 0. */
  floodWindowStart: number;
  /** PUBLISHes counted in the current window. */
  floodCount: number;
  /**
   * The first violation, set when it was refused: the connection is closing and the device is backed off.
   * PUBLISHes read from the socket with it are refused too, without another back-off.
   */
  floodViolation: FloodViolation | undefined;
}

export type FloodViolation = 'KG_ERR_PAYLOAD_TOO_LARGE' | 'KG_ERR_RATE_LIMITED';

/** A back-off in force, or one that has just begun. */
export interface BackOff {
  /** Its length, in ms. */
  readonly ms: number;
  /** When it lifts (clock ms). */
  readonly until: number;
}

export class FloodLimits {
  readonly settings: Required<FloodSettings>;
  private readonly backOffs: Records;

  constructor(
    settings: Partial<FloodSettings> = {},
    private readonly now: () => number = Date.now,
  ) {
    this.settings = { ...DEFAULT_FLOODS, ...settings };
    this.backOffs = new Records({ ...this.settings, threshold: 1 }, 'key');
  }

  /** Whether any limit is on (off, keygate needs no FloodLimits at all). */
  get enabled(): boolean {
    return this.settings.maxPayloadBytes > 0 || this.settings.rateLimit > 0;
  }

  /** Devices with a back-off on record. */
  get size(): number {
    return this.backOffs.size;
  }

  /** Whether a payload of `bytes` is within the limit (also used for a will, at CONNECT). */
  payloadAllowed(bytes: number): boolean {
    const max = this.settings.maxPayloadBytes;
    return max === 0 || bytes <= max;
  }

  /**
   * Counts one inbound PUBLISH of a connection: undefined to let it through, else the limit it breaks.
   * Hot path: no allocation; the clock is read only when the rate limit is on.
   */
  check(state: FloodState, payloadBytes: number): FloodViolation | undefined {
    if (!this.payloadAllowed(payloadBytes)) return 'KG_ERR_PAYLOAD_TOO_LARGE';
    const limit = this.settings.rateLimit;
    if (limit === 0) return undefined;
    const now = this.now();
    if (state.floodCount === 0 || now - state.floodWindowStart >= this.settings.rateWindowMs) {
      state.floodWindowStart = now;
      state.floodCount = 1;
      return undefined;
    }
    return ++state.floodCount > limit ? 'KG_ERR_RATE_LIMITED' : undefined;
  }

  /**
   * Backs a device off after a violation: banMs, doubled for each earlier violation still remembered (a
   * device's record is forgotten banMaxMs after its last violation), capped at banMaxMs.
   */
  backOff(deviceId: string): BackOff {
    const now = this.now();
    // During a back-off (a connection opened before it began) the one in force stands: never extended.
    const ban = this.backOffs.fail(deviceId, now) ?? this.backOffs.ban(deviceId, now);
    return ban === undefined ? { ms: 0, until: now } : { ms: ban.ms, until: ban.until };
  }

  /** The back-off refusing this device's CONNECT, or undefined. */
  backedOff(deviceId: string): BackOff | undefined {
    const ban = this.backOffs.ban(deviceId, this.now());
    return ban === undefined ? undefined : { ms: ban.ms, until: ban.until };
  }
}
