/**
 * Identifier syntax (SPEC section 1): device IDs and access keys are 1–128 of `A–Z a–z 0–9 _ . : -`.
 * This excludes the MQTT topic separators and wildcards `/ + #`, NUL, whitespace and anything that is
 * not ASCII — so an identifier can be placed in a topic level or a Redis key name without escaping, and
 * a client ID decoded lossily from invalid UTF-8 (U+FFFD) is never valid.
 */
export const MAX_IDENTIFIER_LENGTH = 128;

const IDENTIFIER = /^[A-Za-z0-9_.:-]{1,128}$/;

export function isValidIdentifier(value: unknown): value is string {
  return typeof value === 'string' && IDENTIFIER.test(value);
}

/** Tag keys: `^[0-9A-Za-z_-]{1,255}$` (SPEC section 1). */
const TAG_KEY = /^[0-9A-Za-z_-]{1,255}$/;

export function isValidTagKey(value: string): boolean {
  return TAG_KEY.test(value);
}

/**
 * Characters no tag value, topic or filter may hold: C0 and C1 controls (NUL is forbidden outright
 * [MQTT-1.5.3-2], the others "SHOULD NOT" appear), U+FFFD (what invalid UTF-8 decodes to, so a sign of
 * ill-formed input [MQTT-1.5.3-1]) and lone surrogates (not encodable as UTF-8 at all).
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
export const FORBIDDEN_CHARACTERS = /[\u0000-\u001f\u007f-\u009f\ufffd\ud800-\udfff]/u;

/**
 * Tag values: 1–255 characters (code points) without `,` (the list separator) or FORBIDDEN_CHARACTERS. `=` is
 * allowed: a tag entry splits at its first `=`. So a value never hides a byte an admin cannot see.
 */
// biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
const TAG_VALUE = /^[^,\u0000-\u001f\u007f-\u009f\ufffd\ud800-\udfff]{1,255}$/u;

export function isValidTagValue(value: string): boolean {
  return TAG_VALUE.test(value);
}
