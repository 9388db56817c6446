import { describe, expect, it } from 'vitest';
import {
  ConnackCode,
  type ErrorCode,
  ExitCode,
  errorCatalogue,
  isKeygateError,
  KeygateError,
  toKeygateError,
} from '../../src/errors.js';

describe('code tables', () => {
  it('uses the MQTT 3.1.1 CONNACK return codes', () => {
    expect(ConnackCode).toEqual({
      ACCEPTED: 0,
      IDENTIFIER_REJECTED: 2,
      SERVER_UNAVAILABLE: 3,
      BAD_USERNAME_OR_PASSWORD: 4,
      NOT_AUTHORIZED: 5,
    });
  });

  it('uses sysexits(3) exit codes, and 2 for "explain: refused"', () => {
    expect(ExitCode).toEqual({
      OK: 0,
      FAILURE: 1,
      REFUSED: 2,
      USAGE: 64,
      DATA: 65,
      NOT_FOUND: 67,
      UNAVAILABLE: 69,
      CANT_CREATE: 73,
      CONFIG: 78,
    });
  });
});

/** Every catalogue entry and what the peer must see (SPEC section 2's CONNACK table). */
const EXPECTED: [ErrorCode, number | undefined, number][] = [
  ['KG_ERR_CLIENT_ID_INVALID', 2, 1],
  ['KG_ERR_BAD_CREDENTIALS', 4, 1],
  ['KG_ERR_KEY_INACTIVE', 5, 1],
  ['KG_ERR_KEY_DELETED', 4, 1],
  ['KG_ERR_SECRET_CHANGED', 4, 1],
  ['KG_ERR_KEY_INVALID', 5, 1],
  ['KG_ERR_DEVICE_UNKNOWN', 5, 1],
  ['KG_ERR_DEVICE_INVALID', 5, 1],
  ['KG_ERR_DEVICE_OUT_OF_SCOPE', 5, 1],
  ['KG_ERR_PERIPHERAL_DIRECT', 5, 1],
  ['KG_ERR_WILL_NOT_PERMITTED', 5, 1],
  ['KG_ERR_THROTTLED', 5, 1],
  ['KG_ERR_BACKED_OFF', 5, 1],
  ['KG_ERR_STORE_UNAVAILABLE', 3, 1],
  ['KG_ERR_AUTH_TIMEOUT', 3, 1],
  ['KG_ERR_OVERLOADED', 3, 1],
  ['KG_ERR_CONNECTION_GONE', 3, 1],
  ['KG_ERR_INTERNAL', 3, 1],
  ['KG_ERR_TOPIC_INVALID', undefined, 1],
  ['KG_ERR_PUBLISH_DENIED', undefined, 1],
  ['KG_ERR_SUBSCRIBE_DENIED', undefined, 1],
  ['KG_ERR_NOT_AUTHENTICATED', undefined, 1],
  ['KG_ERR_PAYLOAD_TOO_LARGE', undefined, 1],
  ['KG_ERR_RATE_LIMITED', undefined, 1],
  ['KG_ERR_PACKET_TOO_LARGE', undefined, 1],
  ['KG_ERR_STORE_TIMEOUT', undefined, 1],
  ['KG_ERR_CONFIG_INVALID', undefined, 78],
  ['KG_ERR_USAGE', undefined, 64],
  ['KG_ERR_SECRET_UNUSABLE', undefined, 65],
  ['KG_ERR_REDIS_UNREACHABLE', undefined, 69],
  ['KG_ERR_INVALID_INPUT', undefined, 65],
  ['KG_ERR_IMPORT_INVALID', undefined, 65],
  ['KG_ERR_RECORD_MALFORMED', undefined, 65],
  ['KG_ERR_KEY_NOT_FOUND', undefined, 67],
  ['KG_ERR_DEVICE_NOT_FOUND', undefined, 67],
  ['KG_ERR_KEY_EXISTS', undefined, 73],
  ['KG_ERR_DEVICE_EXISTS', undefined, 73],
];

describe('KeygateError', () => {
  it('the expectation table covers the whole catalogue', () => {
    expect(EXPECTED.map(([code]) => code).sort()).toEqual(Object.keys(errorCatalogue).sort());
  });

  it.each(EXPECTED)('%s → returnCode %s, exitCode %s', (code, returnCode, exitCode) => {
    const err = new KeygateError(code);
    expect(err.code).toBe(code);
    expect(err.returnCode).toBe(returnCode);
    expect(err.exitCode).toBe(exitCode);
    expect(err.name).toBe('KeygateError');
    expect(err.message).toBe(errorCatalogue[code].message);
    expect(err.message.length).toBeGreaterThan(0);
    expect(err).toBeInstanceOf(Error);
    expect(err).toBeInstanceOf(KeygateError);
    expect(isKeygateError(err)).toBe(true);
  });

  it('every message is distinct', () => {
    const messages = Object.values(errorCatalogue).map((entry) => entry.message);
    expect(new Set(messages).size).toBe(messages.length);
  });

  it.each<[string | undefined, string]>([
    [undefined, 'access key is inactive'],
    ['', 'access key is inactive'],
    ['key k-1', 'access key is inactive: key k-1'],
  ])('detail %j → message %j', (detail, message) => {
    expect(new KeygateError('KG_ERR_KEY_INACTIVE', detail).message).toBe(message);
  });

  it('keeps a stack trace', () => {
    expect(new KeygateError('KG_ERR_INTERNAL').stack).toContain('KeygateError');
  });
});

describe('isKeygateError', () => {
  it.each<[string, unknown]>([
    ['Error', new Error('x')],
    ['TypeError', new TypeError('x')],
    ['plain object with a code', { code: 'KG_ERR_INTERNAL', returnCode: 3 }],
    [
      'Error named KeygateError',
      Object.assign(new Error('x'), { name: 'KeygateError', code: 'KG_ERR_INTERNAL' }),
    ],
    ['string', 'KG_ERR_INTERNAL'],
    ['undefined', undefined],
    ['null', null],
  ])('is false for %s', (_label, value) => {
    expect(isKeygateError(value)).toBe(false);
  });
});

describe('toKeygateError', () => {
  it.each(EXPECTED.map(([code]) => [code]))('passes %s through unchanged', (code) => {
    const err = new KeygateError(code, 'detail');
    expect(toKeygateError(err)).toBe(err);
  });

  it.each<[string, unknown]>([
    ['Error', new Error('boom')],
    ['TypeError', new TypeError('x is undefined')],
    ['Redis-like error', Object.assign(new Error('READONLY You can not write'), { code: 'READONLY' })],
    ['error with a connack-looking returnCode', Object.assign(new Error('x'), { returnCode: 0 })],
    ['look-alike object', { code: 'KG_ERR_BAD_CREDENTIALS', returnCode: 4, message: 'bad' }],
    ['string', 'boom'],
    ['number', 42],
    ['zero', 0],
    ['undefined', undefined],
    ['null', null],
    ['symbol', Symbol('x')],
    ['array', [new KeygateError('KG_ERR_BAD_CREDENTIALS')]],
  ])('maps %s to KG_ERR_INTERNAL with returnCode 3 (fail closed)', (_label, value) => {
    const err = toKeygateError(value);
    expect(err).toBeInstanceOf(KeygateError);
    expect(err.code).toBe('KG_ERR_INTERNAL');
    expect(err.returnCode).toBe(3);
    expect(err.returnCode).toBe(ConnackCode.SERVER_UNAVAILABLE);
    expect(err.exitCode).toBe(1);
    expect(err.message).toBe('internal error');
  });

  it('does not leak the original message', () => {
    expect(toKeygateError(new Error('secret=hunter2')).message).not.toContain('hunter2');
  });
});
