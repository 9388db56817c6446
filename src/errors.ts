/**
 * The one error catalogue. Every refusal keygate makes has a stable code (search the README for it),
 * a message, and exactly one mapping to what the peer sees: a CONNACK return code for CONNECT, or a
 * process exit code for the CLI and the server.
 */

/** MQTT 3.1.1 CONNACK return codes [MQTT-3.2.2-3]. aedes only declares these as types, not values. */
export const ConnackCode = {
  ACCEPTED: 0,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USERNAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5,
} as const;
export type ConnackCode = (typeof ConnackCode)[keyof typeof ConnackCode];

/**
 * Process exit codes: sysexits(3) codes used by the CLI and the server when they refuse to start, plus
 * REFUSED, the answer of `keygate explain` when the device would be refused (not an error).
 */
export const ExitCode = {
  OK: 0,
  FAILURE: 1,
  REFUSED: 2,
  USAGE: 64,
  DATA: 65,
  NOT_FOUND: 67,
  UNAVAILABLE: 69,
  CANT_CREATE: 73,
  CONFIG: 78,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

interface CatalogueEntry {
  readonly message: string;
  readonly connack?: ConnackCode;
  readonly exit?: ExitCode;
}

export const errorCatalogue = {
  // CONNECT refusals (SPEC section 2)
  KG_ERR_CLIENT_ID_INVALID: {
    message: 'client identifier is empty, too long or not a valid device ID',
    connack: ConnackCode.IDENTIFIER_REJECTED,
  },
  KG_ERR_BAD_CREDENTIALS: {
    // One code for "no username", "no password", "unknown key" and "wrong secret": the peer and the
    // log must not be able to tell them apart (no key-existence oracle).
    message: 'bad access key or secret',
    connack: ConnackCode.BAD_USERNAME_OR_PASSWORD,
  },
  KG_ERR_KEY_INACTIVE: { message: 'access key is inactive', connack: ConnackCode.NOT_AUTHORIZED },
  // Why a live session was revoked after a change in Redis (SPEC section 4); a reconnect then gets 4.
  KG_ERR_KEY_DELETED: {
    message: 'access key no longer exists (or its secret is unusable)',
    connack: ConnackCode.BAD_USERNAME_OR_PASSWORD,
  },
  KG_ERR_SECRET_CHANGED: {
    message: 'access key secret was changed',
    connack: ConnackCode.BAD_USERNAME_OR_PASSWORD,
  },
  KG_ERR_KEY_INVALID: {
    message: 'access key record in Redis is malformed',
    connack: ConnackCode.NOT_AUTHORIZED,
  },
  KG_ERR_DEVICE_UNKNOWN: { message: 'device is not registered', connack: ConnackCode.NOT_AUTHORIZED },
  KG_ERR_DEVICE_INVALID: {
    message: 'device record in Redis is malformed',
    connack: ConnackCode.NOT_AUTHORIZED,
  },
  KG_ERR_DEVICE_OUT_OF_SCOPE: {
    message: "device is outside the access key's restrictions",
    connack: ConnackCode.NOT_AUTHORIZED,
  },
  KG_ERR_PERIPHERAL_DIRECT: {
    message: 'peripheral devices connect through their gateway, not directly',
    connack: ConnackCode.NOT_AUTHORIZED,
  },
  KG_ERR_WILL_NOT_PERMITTED: {
    message: 'will message topic is not one the device may publish to',
    connack: ConnackCode.NOT_AUTHORIZED,
  },
  // Brute-force protection (README "Security: brute force"): decided before any verification or Redis read.
  KG_ERR_THROTTLED: {
    message: 'too many failed CONNECTs from this address or for this key; try again later',
    connack: ConnackCode.NOT_AUTHORIZED,
  },
  // Floods (README "Security: floods"): a device over a limit was disconnected and is backed off.
  KG_ERR_BACKED_OFF: {
    message: 'device exceeded a message limit and is backed off; try again later',
    connack: ConnackCode.NOT_AUTHORIZED,
  },
  KG_ERR_STORE_UNAVAILABLE: {
    message: 'key store (Redis) is unreachable or too slow',
    connack: ConnackCode.SERVER_UNAVAILABLE,
  },
  KG_ERR_AUTH_TIMEOUT: {
    message: 'authentication did not finish in time',
    connack: ConnackCode.SERVER_UNAVAILABLE,
  },
  KG_ERR_OVERLOADED: {
    message: 'too many secret verifications queued',
    connack: ConnackCode.SERVER_UNAVAILABLE,
  },
  KG_ERR_CONNECTION_GONE: {
    message: 'connection closed before the CONNECT was decided',
    connack: ConnackCode.SERVER_UNAVAILABLE,
  },
  KG_ERR_INTERNAL: { message: 'internal error', connack: ConnackCode.SERVER_UNAVAILABLE },

  // Publish / subscribe refusals (SPEC section 3)
  KG_ERR_TOPIC_INVALID: { message: 'topic or filter is not valid' },
  KG_ERR_PUBLISH_DENIED: { message: 'publish not authorized' },
  KG_ERR_SUBSCRIBE_DENIED: { message: 'subscription not authorized' },
  KG_ERR_NOT_AUTHENTICATED: { message: 'client has no keygate session' },
  KG_ERR_PAYLOAD_TOO_LARGE: { message: 'payload larger than KEYGATE_MAX_PAYLOAD_BYTES' },
  KG_ERR_RATE_LIMITED: { message: 'more messages than KEYGATE_RATE_LIMIT per KEYGATE_RATE_WINDOW_MS' },
  KG_ERR_PACKET_TOO_LARGE: { message: 'packet larger than the limit' },
  KG_ERR_STORE_TIMEOUT: { message: 'message not stored in time; not acknowledged' },

  // Start-up, configuration and CLI
  KG_ERR_CONFIG_INVALID: { message: 'invalid configuration', exit: ExitCode.CONFIG },
  KG_ERR_USAGE: { message: 'invalid command-line input', exit: ExitCode.USAGE },
  KG_ERR_SECRET_UNUSABLE: { message: 'unusable secret', exit: ExitCode.DATA },
  KG_ERR_REDIS_UNREACHABLE: { message: 'cannot reach Redis', exit: ExitCode.UNAVAILABLE },
  // The admin CLI (keys, devices, import, explain)
  KG_ERR_INVALID_INPUT: { message: 'invalid input', exit: ExitCode.DATA },
  KG_ERR_IMPORT_INVALID: { message: 'import file has errors, nothing was imported', exit: ExitCode.DATA },
  KG_ERR_RECORD_MALFORMED: { message: 'record in Redis is malformed', exit: ExitCode.DATA },
  KG_ERR_KEY_NOT_FOUND: { message: 'no such access key', exit: ExitCode.NOT_FOUND },
  KG_ERR_DEVICE_NOT_FOUND: { message: 'no such device', exit: ExitCode.NOT_FOUND },
  KG_ERR_KEY_EXISTS: { message: 'access key already exists', exit: ExitCode.CANT_CREATE },
  KG_ERR_DEVICE_EXISTS: { message: 'device already exists', exit: ExitCode.CANT_CREATE },
} as const satisfies Record<string, CatalogueEntry>;

export type ErrorCode = keyof typeof errorCatalogue;

export class KeygateError extends Error {
  readonly code: ErrorCode;
  /** Read by aedes in `authenticate`: it sends this as the CONNACK return code. */
  readonly returnCode: ConnackCode | undefined;
  readonly exitCode: ExitCode;

  constructor(code: ErrorCode, detail?: string) {
    const entry: CatalogueEntry = errorCatalogue[code];
    super(detail ? `${entry.message}: ${detail}` : entry.message);
    this.name = 'KeygateError';
    this.code = code;
    this.returnCode = entry.connack;
    this.exitCode = entry.exit ?? ExitCode.FAILURE;
  }
}

export function isKeygateError(err: unknown): err is KeygateError {
  return err instanceof KeygateError;
}

/** Any error turned into one from the catalogue; unknown errors become KG_ERR_INTERNAL (fail closed). */
export function toKeygateError(err: unknown): KeygateError {
  return isKeygateError(err) ? err : new KeygateError('KG_ERR_INTERNAL');
}
