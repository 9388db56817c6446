import type { AuthenticateError, Client, ConnectPacket } from 'aedes';
import type { Logger } from 'pino';
import { fingerprintSecretHash } from '../crypto/fingerprint.js';
import type { SecretVerifier } from '../crypto/secret-verifier.js';
import { ConnackCode, KeygateError, toKeygateError } from '../errors.js';
import type { KeygateMetrics } from '../metrics.js';
import { decidePublish } from '../policy/authorization.js';
import { connectRight } from '../policy/connect-right.js';
import { isValidIdentifier } from '../policy/identifiers.js';
import type { DeviceDirectory } from '../store/device-directory.js';
import type { KeyStore } from '../store/key-store.js';
import { bridge } from './bridge.js';
import { clientAddress } from './client-address.js';
import { learnNamedDevice } from './named-device.js';
import type { Session, SessionRegistry } from './sessions.js';

/** Longest secret accepted, in bytes. bcrypt reads only 72; this only bounds the work a peer can cause. */
export const MAX_SECRET_BYTES = 1024;

export interface AuthenticateDeps {
  readonly store: KeyStore;
  readonly verifier: SecretVerifier;
  readonly sessions: SessionRegistry;
  readonly directory: DeviceDirectory;
  readonly topicRoot: string;
  readonly timeoutMs: number;
  readonly logger: Logger;
  /** Counts CONNECTs by return code; default: nowhere. */
  readonly metrics?: KeygateMetrics;
}

interface ConnectRequest {
  readonly clientId: string;
  readonly username: string | undefined;
  readonly password: Buffer | undefined;
  readonly will: ConnectPacket['will'];
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The password as a secret string, or undefined when it cannot be one (empty, too long, not UTF-8, NUL). */
function decodeSecret(password: Buffer): string | undefined {
  if (password.length === 0 || password.length > MAX_SECRET_BYTES) return undefined;
  let secret: string;
  try {
    secret = utf8.decode(password);
  } catch {
    return undefined;
  }
  return secret.includes('\u0000') ? undefined : secret;
}

/**
 * Decides a CONNECT (SPEC section 2). Resolves with the session, or rejects with a KeygateError whose
 * `returnCode` is the CONNACK code. The order matters: nothing about the key or the device is revealed
 * (by code, log shape or timing) before the secret has been verified.
 */
export async function admit(deps: AuthenticateDeps, request: ConnectRequest): Promise<Session> {
  const { clientId, username, password } = request;
  if (!isValidIdentifier(clientId)) throw new KeygateError('KG_ERR_CLIENT_ID_INVALID');
  // [MQTT-3.1.2-22] a password needs a user name; mqtt-packet already refuses the converse.
  if (username === undefined || password === undefined) throw new KeygateError('KG_ERR_BAD_CREDENTIALS');
  const secret = decodeSecret(password);
  if (!isValidIdentifier(username) || secret === undefined) {
    // Spend a verification anyway: a malformed key costs as much time as a wrong secret.
    await deps.verifier.verify('', undefined);
    throw new KeygateError('KG_ERR_BAD_CREDENTIALS');
  }

  const { key, device } = await deps.store.lookupCredentials(username, clientId);
  // A missing key, an unusable secret hash and a wrong secret all cost one verification and look alike.
  if (!(await deps.verifier.verify(secret, key.secretHash))) throw new KeygateError('KG_ERR_BAD_CREDENTIALS');

  const right = connectRight(key.record, device);
  if (!right.ok) throw new KeygateError(right.code);
  const session: Session = {
    deviceId: clientId,
    accessKey: username,
    secretFingerprint: fingerprintSecretHash(key.secretHash as string),
    principal: right.principal,
    revoked: false,
    memo: new Map(),
    memoGeneration: -1,
  };
  // The will is published on the device's behalf later: it must be something the device could publish now.
  if (request.will) {
    await learnNamedDevice(deps.directory, deps.topicRoot, request.will.topic);
    const will = decidePublish(session.principal, deps.directory.lookup, deps.topicRoot, request.will.topic);
    if (!will.allowed) throw new KeygateError('KG_ERR_WILL_NOT_PERMITTED', will.rule);
  }
  return session;
}

/** Aedes' `authenticate` hook. */
export function createAuthenticate(deps: AuthenticateDeps) {
  const { logger, sessions } = deps;
  return function authenticate(
    client: Client,
    username: Readonly<string | undefined>,
    password: Readonly<Buffer | undefined>,
    done: (error: AuthenticateError | null, success: boolean | null) => void,
  ): void {
    const connect = sessions.takeConnect(client);
    const clientId = connect?.rawClientId ?? '';
    bridge(
      () => admit(deps, { clientId, username, password, will: connect?.will }),
      (err, session) => {
        if (err !== null || session === null) {
          const refusal = toKeygateError(err);
          deps.metrics?.connect(refusal.returnCode ?? ConnackCode.SERVER_UNAVAILABLE);
          logger.info(
            {
              deviceId: isValidIdentifier(clientId) ? clientId : '(invalid)',
              accessKey: isValidIdentifier(username) ? username : '(invalid)',
              address: clientAddress(client),
              code: refusal.code,
              connack: refusal.returnCode,
            },
            `CONNECT refused: ${refusal.message}`,
          );
          done(refusal as AuthenticateError, null);
          return;
        }
        sessions.open(client, session);
        deps.metrics?.connect(ConnackCode.ACCEPTED);
        logger.debug(
          { deviceId: session.deviceId, accessKey: session.accessKey, address: clientAddress(client) },
          'CONNECT accepted',
        );
        done(null, true);
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
