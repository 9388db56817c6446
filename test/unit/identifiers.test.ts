import { describe, expect, it } from 'vitest';
import {
  isValidIdentifier,
  isValidTagKey,
  isValidTagValue,
  MAX_IDENTIFIER_LENGTH,
} from '../../src/policy/identifiers.js';

const ALL_ALLOWED_ID_CHARS = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.:-';

describe('isValidIdentifier', () => {
  it('allows at most 128 characters', () => {
    expect(MAX_IDENTIFIER_LENGTH).toBe(128);
  });

  it.each([
    ['a'],
    ['Z'],
    ['0'],
    ['_'],
    ['.'],
    [':'],
    ['-'],
    ['thermo-1'],
    ['k-123'],
    ['device_01'],
    ['org:site.building-3'],
    ['UPPER'],
    ['MiXeD-Case_09'],
    ['...'],
    ['::'],
    ['--'],
    ['losant'],
    ['state'],
    ['command'],
    ['SYS'],
    ['5f1e2d3c4b5a69788796a5b4'],
    [ALL_ALLOWED_ID_CHARS],
    ['a'.repeat(127)],
    ['a'.repeat(128)],
    ['9'.repeat(128)],
  ])('accepts %j', (value) => {
    expect(isValidIdentifier(value)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['129 characters', 'a'.repeat(129)],
    ['200 characters', 'x'.repeat(200)],
    ['slash', 'a/b'],
    ['leading slash', '/a'],
    ['trailing slash', 'a/'],
    ['only slash', '/'],
    ['plus', 'a+b'],
    ['only plus', '+'],
    ['hash', 'a#b'],
    ['only hash', '#'],
    ['dollar', '$SYS'],
    ['NUL', 'a\u0000b'],
    ['only NUL', '\u0000'],
    ['trailing NUL', 'abc\u0000'],
    ['space inside', 'a b'],
    ['leading space', ' a'],
    ['trailing space', 'a '],
    ['only space', ' '],
    ['tab', 'a\tb'],
    ['trailing newline', 'abc\n'],
    ['leading newline', '\nabc'],
    ['carriage return', 'abc\r'],
    ['vertical tab', 'a\u000bb'],
    ['form feed', 'a\u000cb'],
    ['DEL', 'a\u007fb'],
    ['C1 control', 'a\u0085b'],
    ['no-break space', 'a\u00a0b'],
    ['ideographic space', 'a\u3000b'],
    ['zero-width space', 'a\u200bb'],
    ['BOM', '\ufeffabc'],
    ['U+FFFD', 'dev\ufffd'],
    ['only U+FFFD', '\ufffd'],
    ['non-ASCII letter', 'caf\u00e9'],
    ['cyrillic look-alike a', '\u0430bc'],
    ['fullwidth letter', '\uff41'],
    ['emoji', 'dev\u{1f600}'],
    ['lone surrogate', 'a\ud800'],
    ['comma', 'a,b'],
    ['equals sign', 'floor=3'],
    ['asterisk', '*'],
    ['question mark', 'a?'],
    ['brackets', 'a[b]'],
    ['backslash', 'a\\b'],
    ['quote', "a'b"],
    ['double quote', 'a"b'],
    ['at sign', 'user@host'],
    ['percent', '100%'],
    ['semicolon', 'a;b'],
    ['128 valid + trailing newline', `${'a'.repeat(128)}\n`],
    ['127 valid + space', `${'a'.repeat(127)} `],
  ])('refuses %s', (_label, value) => {
    expect(isValidIdentifier(value)).toBe(false);
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['number', 123],
    ['boolean', true],
    ['object', { id: 'a' }],
    ['array', ['a']],
    ['String object', new String('abc')],
    ['Buffer', Buffer.from('abc')],
  ])('refuses a non-string (%s)', (_label, value) => {
    expect(isValidIdentifier(value)).toBe(false);
  });
});

describe('isValidTagKey', () => {
  it.each([
    ['a'],
    ['floor'],
    ['type'],
    ['Floor'],
    ['FLOOR_2'],
    ['floor-number'],
    ['_'],
    ['-'],
    ['0'],
    ['123'],
    ['a'.repeat(128)],
    ['a'.repeat(129)],
    ['k'.repeat(254)],
    ['k'.repeat(255)],
  ])('accepts %j', (value) => {
    expect(isValidTagKey(value)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['256 characters', 'k'.repeat(256)],
    ['1000 characters', 'k'.repeat(1000)],
    ['space', 'fl oor'],
    ['leading space', ' floor'],
    ['trailing space', 'floor '],
    ['only space', ' '],
    ['tab', 'floor\t'],
    ['trailing newline', 'floor\n'],
    ['NUL', 'floor\u0000'],
    ['equals', 'floor='],
    ['comma', 'a,b'],
    ['colon (valid in IDs, not in tag keys)', 'a:b'],
    ['dot (valid in IDs, not in tag keys)', 'a.b'],
    ['slash', 'a/b'],
    ['plus', 'a+b'],
    ['hash', 'a#b'],
    ['asterisk', '*'],
    ['dollar', '$key'],
    ['U+FFFD', 'floor\ufffd'],
    ['non-ASCII', 'stra\u00dfe'],
    ['emoji', '\u{1f600}'],
  ])('refuses %s', (_label, value) => {
    expect(isValidTagKey(value)).toBe(false);
  });
});

describe('isValidTagValue', () => {
  it.each([
    ['single character', '3'],
    ['word', 'sensor'],
    ['asterisk (a literal value)', '*'],
    ['contains =', 'b=c'],
    ['only =', '='],
    ['space inside', 'second floor'],
    ['leading space (trimmed by the list parser, not by this check)', ' a'],
    ['only space', ' '],
    ['slash', 'a/b'],
    ['plus and hash', 'a+b#c'],
    ['dollar', '$x'],
    ['colon', 'x:y'],
    ['semicolon', 'a;b'],
    ['quotes', '"a\''],
    ['non-ASCII', 'caf\u00e9'],
    ['CJK', '\u4e8c\u697c'],
    ['emoji', '\u{1f525}'],
    ['255 characters', 'v'.repeat(255)],
    ['255 astral characters (counted as code points)', '\u{1f600}'.repeat(255)],
    ['no-break space', 'a\u00a0b'],
  ])('accepts %s', (_label, value) => {
    expect(isValidTagValue(value)).toBe(true);
  });

  it.each([
    ['empty', ''],
    ['256 characters', 'v'.repeat(256)],
    ['256 astral characters', '\u{1f600}'.repeat(256)],
    ['comma', 'a,b'],
    ['only comma', ','],
    ['trailing comma', 'a,'],
    ['NUL', 'a\u0000'],
    ['only NUL', '\u0000'],
    ['SOH', '\u0001'],
    ['BEL', 'a\u0007b'],
    ['backspace', 'a\bb'],
    ['tab', 'a\tb'],
    ['newline', 'a\nb'],
    ['trailing newline', 'abc\n'],
    ['carriage return', 'a\rb'],
    ['escape', '\u001b[31mred'],
    ['unit separator', 'a\u001fb'],
    ['DEL', 'a\u007fb'],
    ['U+FFFD', 'a\ufffd'],
    ['only U+FFFD', '\ufffd'],
  ])('refuses %s', (_label, value) => {
    expect(isValidTagValue(value)).toBe(false);
  });
});

describe('isValidTagValue: characters an admin cannot see are refused', () => {
  it.each([
    ['C1 control U+0085', 'a\u0085b'],
    ['C1 control U+009B', 'a\u009bb'],
    ['C1 control U+0080', '\u0080'],
    ['lone high surrogate', 'a\ud800'],
    ['lone low surrogate', '\udc00b'],
  ])('%s', (_label, value) => {
    expect(isValidTagValue(value)).toBe(false);
  });

  it('a surrogate pair (astral character) is fine', () => {
    expect(isValidTagValue('\u{1f525}')).toBe(true);
  });
});
