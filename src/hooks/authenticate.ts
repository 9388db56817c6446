import { isUtf8 } from 'node:buffer';
import type { AuthenticateError, Client, ConnectPacket } from 'aedes';
import type { Logger } from 'pino';
import { fingerprintSecretHash } from '../crypto/fingerprint.js';
import type { SecretVerifier } from '../crypto/secret-verifier.js';
import type { VerifiedCredentials } from '../crypto/verified-credentials.js';
import { ConnackCode, type ErrorCode, KeygateError, toKeygateError } from '../errors.js';
import type { KeygateMetrics } from '../metrics.js';
import { decidePublish, type Principal } from '../policy/authorization.js';
import { connectRight, type DeviceRead } from '../policy/connect-right.js';
import { isValidIdentifier } from '../policy/identifiers.js';
import type { KeyRecord } from '../policy/model.js';
import type { Parsed } from '../policy/tags.js';
import type { DeviceDirectory } from '../store/device-directory.js';
import type { KeyStore } from '../store/key-store.js';
import { bridge } from './bridge.js';
import { clientAddress, clientIp, connectionGone } from './client-address.js';
import type { ConnectThrottle } from './connect-throttle.js';
import type { FloodLimits } from './flood-limits.js';
import { learnNamedDevice } from './named-device.js';
import { createSession, type Session, type SessionRegistry } from './sessions.js';
import type { WarmConnects } from './warm-connects.js';

/** Most banned CONNECTs held in the tarpit at once (each is a socket and a timer). */
const MAX_HELD = 10_000;

/** Longest secret accepted, in bytes. bcrypt reads only 72; this only bounds the work a peer can cause. */
export const MAX_SECRET_BYTES = 1024;

export interface AuthenticateDeps {
  readonly store: KeyStore;
  readonly verifier: SecretVerifier;
  readonly sessions: SessionRegistry;
  readonly directory: DeviceDirectory;
  readonly topicRoot: string;
  readonly timeoutMs: number;
  /**
   * Longest a CONNECT waits for its bcrypt verification (in the queue and in a thread), in ms, when that
   * is longer than `timeoutMs`: a storm of devices waits for its turn instead of being told CONNACK 3
   * and retrying (each retry costs CPU that bcrypt needs). Default: `timeoutMs`.
   */
  readonly verifyWaitMs?: number;
  readonly logger: Logger;
  /** Counts CONNECTs by return code; default: nowhere. */
  readonly metrics?: KeygateMetrics;
  /** Brute-force protection (failed CONNECTs per address and per key); default: none. */
  readonly throttle?: ConnectThrottle;
  /** How long a banned or backed-off CONNECT waits for its CONNACK 5 (a tarpit); default 0. */
  readonly refusalDelayMs?: number;
  /** Recently verified credentials (docs/CREDENTIAL-CACHE.md); default: none, bcrypt on every CONNECT. */
  readonly verified?: VerifiedCredentials<KeyRecord>;
  /** Warm reconnects decided from memory while it is in step with Redis; default: every CONNECT reads Redis. */
  readonly warm?: WarmConnects;
  /** Payload and rate limits: the back-off of devices that broke them, and the will's size; default: none. */
  readonly floods?: FloodLimits;
}

interface ConnectRequest {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly password: Buffer | undefined;
  readonly will: ConnectPacket['will'];
  /** The peer's IP address, for the throttle. */
  readonly address?: string | undefined;
  /** Called when the CONNECT starts waiting for a bcrypt verification. */
  readonly onVerification?: () => void;
}

/** UTF-8's byte order mark: skipped, as TextDecoder does and the CLI (src/cli/secret-input.ts) hashes. */
const BOM = [0xef, 0xbb, 0xbf];

/**
 * The secret's UTF-8 bytes, or undefined when the password cannot be a secret (empty, too long, not
 * UTF-8, a NUL). A warm reconnect's proof is made over these, without decoding a string only to encode it
 * again (issue 7, target 3); `decodeSecret` decodes them for bcrypt.
 */
function secretBytes(password: Buffer): Buffer | undefined {
  if (password.length === 0 || password.length > MAX_SECRET_BYTES) return undefined;
  // Checked strictly: toString('utf8') would replace invalid bytes with U+FFFD. One pass: a 0 byte (in
  // valid UTF-8, U+0000 and nothing else) refuses; all bytes under 0x80 is ASCII, valid UTF-8 without the
  // call into C++ that `isUtf8` is.
  let bits = 0;
  for (let i = 0; i < password.length; i++) {
    const byte = password[i] as number;
    if (byte === 0) return undefined;
    bits |= byte;
  }
  if ((bits & 0x80) !== 0 && !isUtf8(password)) return undefined;
  const bom = password[0] === BOM[0] && password[1] === BOM[1] && password[2] === BOM[2];
  return bom ? password.subarray(BOM.length) : password;
}

/** The password as a secret string (the decoded `secretBytes`), or undefined when it cannot be one. */
function decodeSecret(password: Buffer): string | undefined {
  return secretBytes(password)?.toString('utf8');
}

/**
 * The refusals decided before the credentials are looked at, from memory alone: one place for the full way
 * (`admit`) and the warm one (`admitFromMemory`), so that no CONNECT decided from memory can skip one.
 * `accessKey`: the user name when it is a valid identifier.
 */
function refusedUpFront(
  deps: AuthenticateDeps,
  request: ConnectRequest,
  accessKey: string | undefined,
): ErrorCode | undefined {
  if (!isValidIdentifier(request.clientId)) return 'KG_ERR_CLIENT_ID_INVALID';
  // A throttled CONNECT costs no verification and no Redis read. (A ban reveals nothing about the key:
  // it follows from this address's or this key's own failures, whether the key exists or not.)
  if (deps.throttle?.check(request.address, accessKey)) return 'KG_ERR_THROTTLED';
  // A device backed off for a flood is refused just as cheaply (in memory: works while Redis is down).
  if (deps.floods?.backedOff(request.clientId)) return 'KG_ERR_BACKED_OFF';
  return undefined;
}

/**
 * Decides a CONNECT (SPEC section 2). Resolves with the session, or rejects with a KeygateError whose
 * `returnCode` is the CONNACK code. The order matters: nothing about the key or the device is revealed
 * (by code, log shape or timing) before the secret has been verified.
 */
export async function admit(deps: AuthenticateDeps, request: ConnectRequest): Promise<Session> {
  const { clientId, username, password } = request;
  const accessKey = isValidIdentifier(username) ? username : undefined;
  // Every bcrypt verification of this CONNECT goes through here: at most `threshold` at once per address.
  const verify = async (secret: string, hash: string | undefined): Promise<boolean> => {
    // Checked again at the last moment: a ban may have begun while this CONNECT waited for Redis (other
    // guesses from the same address failing meanwhile). Without it, a burst's CONNECTs that passed the
    // first check would each still cost a verification once a slot freed up, ban or not.
    if (deps.throttle?.check(request.address, accessKey)) throw new KeygateError('KG_ERR_THROTTLED');
    if (deps.throttle?.beginVerification(request.address) === false) {
      throw new KeygateError('KG_ERR_OVERLOADED', 'too many verifications under way from this address');
    }
    request.onVerification?.();
    try {
      return await deps.verifier.verify(secret, hash);
    } finally {
      deps.throttle?.endVerification(request.address);
    }
  };
  const upFront = refusedUpFront(deps, request, accessKey);
  if (upFront !== undefined) throw new KeygateError(upFront);
  // [MQTT-3.1.2-22] a password needs a user name; mqtt-packet already refuses the converse.
  if (username === undefined || password === undefined) throw new KeygateError('KG_ERR_BAD_CREDENTIALS');
  const secret = decodeSecret(password);
  if (!isValidIdentifier(username) || secret === undefined) {
    // Spend a verification anyway: a malformed key costs as much time as a wrong secret.
    await verify('', undefined);
    throw new KeygateError('KG_ERR_BAD_CREDENTIALS');
  }

  // A warm reconnect: the key's record is in memory and memory is in step with Redis (warm-connects.ts).
  // The secret is still checked; anything short of a recognised proof goes the Redis path below.
  const known = fromMemory(deps, request, username, secret);
  if (known !== undefined) {
    const session = await sessionFor(deps, request, known.fingerprint, known.key, known.device);
    deps.metrics?.verifiedFromCache?.();
    deps.metrics?.connectFromMemory?.();
    return session;
  }

  const { verified, warm } = deps;
  const throttle = deps.throttle?.enabled ? deps.throttle : undefined;
  const token = warm?.token() ?? -1;
  const { key, device, sharedProof, sharedBans } = await deps.store.lookupCredentials(username, clientId, {
    proof: verified?.shareable === true,
    ...(throttle === undefined ? {} : { bans: { address: request.address } }),
  });
  // A ban another instance recorded: refused before any verification, like a ban of this instance.
  if (sharedBans !== undefined && throttle?.refusesShared(request.address, sharedBans)) {
    throw new KeygateError('KG_ERR_THROTTLED');
  }
  // What Redis has just answered beats what memory remembers (WarmConnects.keyFoundGone).
  if (key.secretHash === undefined || !key.record.ok) warm?.keyFoundGone(username);
  // A missing key, an unusable secret hash and a wrong secret all cost one verification and look alike.
  // Only the right secret for the stored hash, verified recently, skips bcrypt (its proof is recognised).
  if (key.secretHash === undefined) {
    await verify(secret, undefined);
    throw new KeygateError('KG_ERR_BAD_CREDENTIALS');
  }
  const fingerprint = fingerprintSecretHash(key.secretHash);
  if (verified === undefined) {
    if (!(await verify(secret, key.secretHash))) throw new KeygateError('KG_ERR_BAD_CREDENTIALS');
  } else {
    const proof = verified.proof(deps.store.keyspace.key(username), fingerprint, secret);
    if (verified.recognises(username, proof, sharedProof)) deps.metrics?.verifiedFromCache?.();
    else {
      const hash = key.secretHash;
      // Joining a verification under way is waiting for one too.
      request.onVerification?.();
      if (!(await verified.once(proof, () => verify(secret, hash)))) {
        throw new KeygateError('KG_ERR_BAD_CREDENTIALS');
      }
      verified.remember(username, proof);
      if (verified.shareable)
        deps.store.rememberProof(username, proof.toString('base64url'), verified.expiresInMs);
    }
  }
  const session = await sessionFor(deps, request, fingerprint, key.record, device);
  if (warm !== undefined && key.record.ok) warm.attach(token, username, fingerprint, key.record.value);
  return session;
}

/** The rest of a CONNECT once the secret is verified: the right to connect (SPEC section 2), the will. */
async function sessionFor(
  deps: AuthenticateDeps,
  request: ConnectRequest,
  fingerprint: string,
  key: Parsed<KeyRecord>,
  device: DeviceRead,
): Promise<Session> {
  const right = connectRight(key, device);
  if (!right.ok) throw new KeygateError(right.code);
  const session = newSession(request, fingerprint, right.principal);
  // The will is published on the device's behalf later: it must be something the device could publish now.
  if (request.will) {
    await learnNamedDevice(deps.directory, deps.topicRoot, request.will.topic);
    const will = decidePublish(session.principal, deps.directory.lookup, deps.topicRoot, request.will.topic);
    if (!will.allowed) throw new KeygateError('KG_ERR_WILL_NOT_PERMITTED', will.rule);
    // Checked now rather than when it fires: the device learns at once (CONNACK 5) instead of its will
    // silently going nowhere later. A will is not a flood: no back-off.
    if (deps.floods && !deps.floods.payloadAllowed(request.will.payload.length)) {
      throw new KeygateError('KG_ERR_WILL_NOT_PERMITTED', 'payload larger than KEYGATE_MAX_PAYLOAD_BYTES');
    }
  }
  return session;
}

function newSession(request: ConnectRequest, fingerprint: string, principal: Principal): Session {
  return createSession(request.clientId, request.username as string, fingerprint, principal);
}

/** What memory holds to decide a CONNECT whose secret it recognised (hooks/warm-connects.ts). */
interface Known {
  readonly fingerprint: string;
  readonly key: Parsed<KeyRecord>;
  readonly device: DeviceRead;
}

/**
 * The key record and device to decide this CONNECT from memory — when memory is in step with Redis, holds
 * both, and recognises the secret (the proof over the key's hash fingerprint) — else undefined.
 */
function fromMemory(
  deps: AuthenticateDeps,
  request: ConnectRequest,
  username: string,
  secret: string | Uint8Array,
): Known | undefined {
  const { verified, warm } = deps;
  if (verified === undefined || warm === undefined) return undefined;
  const attachment = warm.attachmentFor(username, request.clientId, request.address);
  if (attachment === undefined) return undefined;
  const record = deps.directory.get(request.clientId);
  if (record === undefined) return undefined;
  if (!verified.recognisesAttached(attachment, deps.store.keyspace.key(username), secret)) return undefined;
  return {
    fingerprint: attachment.hashId,
    key: { ok: true, value: attachment.value },
    device: { found: true, device: { ok: true, value: record } },
  };
}

/**
 * A warm reconnect without a will, decided at once: no promise, no timer, no Redis (issue 7: CONNECT
 * rate). Undefined whenever anything is not plainly fine; `admit` then decides the CONNECT the full way
 * (and refuses it with the right code).
 */
export function admitFromMemory(deps: AuthenticateDeps, request: ConnectRequest): Session | undefined {
  const { username, password } = request;
  if (deps.warm === undefined || request.will || username === undefined || password === undefined) {
    return undefined;
  }
  if (!isValidIdentifier(username) || refusedUpFront(deps, request, username) !== undefined) return undefined;
  const secret = secretBytes(password);
  if (secret === undefined) return undefined;
  const known = fromMemory(deps, request, username, secret);
  if (known === undefined) return undefined;
  const right = connectRight(known.key, known.device);
  if (!right.ok) return undefined;
  deps.metrics?.verifiedFromCache?.();
  deps.metrics?.connectFromMemory?.();
  return newSession(request, known.fingerprint, right.principal);
}

/** Whether a warm reconnect must know the peer's address (see ConnectThrottle.addressesOnRecord). */
function addressMatters(deps: AuthenticateDeps): boolean {
  return deps.throttle?.addressesOnRecord === true || deps.warm?.bansNoticed === true;
}

/** Aedes' `authenticate` hook. */
export function createAuthenticate(deps: AuthenticateDeps) {
  const { logger, sessions } = deps;
  // A banned or backed-off CONNECT waits `refusalDelayMs` for its CONNACK 5: a client that retries as soon
  // as it is refused (a brute-forcer, a flooding device) then costs a few CONNECTs a second per socket,
  // not thousands. At most MAX_HELD wait at once; past that the refusal is immediate.
  const delayMs = deps.refusalDelayMs ?? 0;
  let held = 0;
  const tarpit = (answer: () => void): void => {
    if (delayMs === 0 || held >= MAX_HELD) {
      answer();
      return;
    }
    held++;
    setTimeout(() => {
      held--;
      answer();
    }, delayMs).unref();
  };
  return function authenticate(
    client: Client,
    username: Readonly<string | undefined>,
    password: Readonly<Buffer | undefined>,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const connect = sessions.takeConnect(client);
    const clientId = connect?.rawClientId ?? '';
    // The peer's address (a getpeername(2) the first time) is read for a warm reconnect only when an
    // address has a record or a ban was noticed: otherwise every address is decided alike (issue 7).
    let address = addressMatters(deps) ? clientIp(client) : undefined;
    const request: ConnectRequest = { clientId, username, password, will: connect?.will, address };
    const accept = (session: Session): void => {
      sessions.open(client, session);
      deps.throttle?.success(address, session.accessKey);
      deps.metrics?.connect(ConnackCode.ACCEPTED);
      // Guarded: the fields would be built for nothing on every CONNECT at the usual level (info).
      if (logger.isLevelEnabled('debug')) {
        logger.debug(
          { deviceId: session.deviceId, accessKey: session.accessKey, address: clientAddress(client) },
          'CONNECT accepted',
        );
      }
      try {
        done(null, true);
      } catch (err) {
        logger.error({ err, hook: 'authenticate' }, 'aedes callback threw');
      }
    };
    let known: Session | undefined;
    try {
      known = admitFromMemory(deps, request);
    } catch (err) {
      // Never expected; the full way below decides it then.
      logger.error({ err }, 'deciding a CONNECT from memory failed unexpectedly');
    }
    if (known !== undefined) {
      accept(known);
      return;
    }
    const accessKey = isValidIdentifier(username) ? username : undefined;
    // The full way needs the address whatever the records: its failures are counted against it.
    address ??= clientIp(client);
    if (address === undefined && connectionGone(client)) {
      // Closed before it could be decided (a peer that sends a CONNECT and resets at once): nobody can read
      // a CONNACK, and a verification now could not be counted against the address it came from. Refused
      // without one; aedes sends nothing on a closed connection.
      deps.metrics?.connect(ConnackCode.SERVER_UNAVAILABLE);
      done(new KeygateError('KG_ERR_CONNECTION_GONE') as AuthenticateError, null);
      return;
    }
    const verifyWaitMs = deps.verifyWaitMs ?? 0;
    const waiting: ConnectRequest = {
      ...request,
      address,
      onVerification: () => bridged.extend(verifyWaitMs),
    };
    const bridged = bridge(
      () => admit(deps, waiting),
      (err, session) => {
        if (err !== null || session === null) {
          const refusal = toKeygateError(err);
          deps.metrics?.connect(refusal.returnCode ?? ConnackCode.SERVER_UNAVAILABLE);
          if (refusal.code === 'KG_ERR_THROTTLED') {
            // Logged once, when the ban began: a flood of throttled attempts does not flood the log.
            deps.metrics?.throttled?.();
            tarpit(() => done(refusal as AuthenticateError, null));
            return;
          }
          if (refusal.code === 'KG_ERR_BACKED_OFF') {
            // Logged once, when the back-off began. Not a failure for the throttle: a device retrying
            // during its back-off must not get its address banned (other devices may share it).
            tarpit(() => done(refusal as AuthenticateError, null));
            return;
          }
          if (refusal.code === 'KG_ERR_OVERLOADED') {
            // The verification threads are booked: answered slowly too, so that a storm of devices that
            // retry as soon as they are refused does not spend on refusals the CPU bcrypt needs.
            // Counted (keygate_connects_total{code="3"}), logged at debug only: a storm must not flood the log.
            logger.debug(
              { address: clientAddress(client), code: refusal.code },
              'CONNECT refused: overloaded',
            );
            tarpit(() => done(refusal as AuthenticateError, null));
            return;
          }
          if (deps.throttle !== undefined) countFailure(deps, address, accessKey, refusal);
          logger.info(
            {
              deviceId: isValidIdentifier(clientId) ? clientId : '(invalid)',
              accessKey: accessKey ?? '(invalid)',
              address: clientAddress(client),
              code: refusal.code,
              connack: refusal.returnCode,
            },
            `CONNECT refused: ${refusal.message}`,
          );
          done(refusal as AuthenticateError, null);
          return;
        }
        accept(session);
      },
      {
        hook: 'authenticate',
        timeoutMs: deps.timeoutMs,
        onTimeout: () => new KeygateError('KG_ERR_AUTH_TIMEOUT'),
        mapError: (err) => {
          if (!(err instanceof KeygateError)) logger.error({ err }, 'authenticate failed unexpectedly');
          return toKeygateError(err);
        },
        logger,
      },
    );
  };
}

/** Counts a refusal for the throttle (4: address and key; 5: address only) and logs a ban it starts. */
function countFailure(
  deps: AuthenticateDeps,
  address: string | undefined,
  accessKey: string | undefined,
  refusal: KeygateError,
): void {
  const kind =
    refusal.returnCode === ConnackCode.BAD_USERNAME_OR_PASSWORD
      ? 'credentials'
      : refusal.returnCode === ConnackCode.NOT_AUTHORIZED
        ? 'refused'
        : undefined;
  if (kind === undefined || deps.throttle === undefined) return;
  for (const ban of deps.throttle.failure(address, accessKey, kind)) {
    const id = ban.scope === 'address' ? address : accessKey;
    if (id !== undefined) deps.store.shareBan(ban.scope, id, ban.ms);
    deps.logger.warn(
      {
        ...(ban.scope === 'address' ? { address } : { accessKey }),
        banMs: ban.ms,
        until: new Date(ban.until).toISOString(),
        code: 'KG_ERR_THROTTLED',
      },
      `too many failed CONNECTs ${ban.scope === 'address' ? 'from this address' : 'for this access key'}: refused for ${ban.ms} ms`,
    );
  }
}
