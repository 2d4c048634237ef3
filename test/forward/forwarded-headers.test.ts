import { describe, expect, it } from 'vitest';
import { validateHeaderValue } from 'node:http';
import {
  checkIdentityHeaderBudget,
  claimText,
  headerValueFromClaim,
  MAX_HEADER_VALUE_BYTES,
  MAX_IDENTITY_HEADERS_BYTES,
} from '../../src/forward/forwarded-headers.js';

const utf8 = (byteString: string) => Buffer.from(byteString, 'latin1').toString('utf8');

describe('headerValueFromClaim', () => {
  it.each<[string, unknown, string]>([
    ['a string as is', 'alice@example.com', 'alice@example.com'],
    ['a number', 42, '42'],
    ['a boolean', true, 'true'],
    ['null as empty', null, ''],
    ['a missing claim as empty', undefined, ''],
    ['an array joined with commas', ['admin', 'dev'], 'admin,dev'],
    ['an empty array as empty', [], ''],
    ['numbers in an array', [1, 2], '1,2'],
    ['an object as JSON', { a: 1, b: ['x'] }, '{"a":1,"b":["x"]}'],
    ['objects in an array as JSON, quoted (JSON holds quotes and commas)', [{ a: 1, b: 2 }], '"{\\"a\\":1,\\"b\\":2}"'],
    ['nested arrays in an array as quoted JSON', [['x', 'y']], '"[\\"x\\",\\"y\\"]"'],
    ['an element holding a comma, quoted so it stays one element', ['a,b', 'c'], '"a,b",c'],
    ['quotes and backslashes in an element, escaped', ['say "hi"', 'back\\slash'], '"say \\"hi\\"","back\\\\slash"'],
    ['nulls in an array as empty elements', ['a', null, 'b'], 'a,,b'],
  ])('writes %s', (_name, value, expected) => {
    expect(utf8(headerValueFromClaim(value))).toBe(expected);
  });

  it('percent-encodes CR, LF, NUL, tabs, DEL and other C0 controls, so no header can be injected and none hides', () => {
    const value = headerValueFromClaim('alice\r\nX-Admin: true\0\t\x1b\x7fend');
    expect(value).toBe('alice%0D%0AX-Admin: true%00%09%1B%7Fend');
    expect(() => validateHeaderValue('x-user', value)).not.toThrow();
  });

  it('percent-encodes a trailing control, so the value cannot collide with the one without it once HTTP trims spaces', () => {
    expect(headerValueFromClaim('admin\n')).toBe('admin%0A');
    expect(headerValueFromClaim('\tadmin')).toBe('%09admin');
  });

  it('cleans controls inside array elements too', () => {
    expect(headerValueFromClaim(['a\r\nb', 'c'])).toBe('a%0D%0Ab,c');
  });

  it.each<[string, string, string]>([
    ['C1 controls (NEL, CSI)', 'a\u0085b\u009bc', 'a%C2%85b%C2%9Bc'],
    ['the line and paragraph separators', 'line\u2028next\u2029para', 'line%E2%80%A8next%E2%80%A9para'],
    ['a right-to-left override that would show "admin" for "nimda"', '\u202enimda', '%E2%80%AEnimda'],
    ['every bidi embedding, override and isolate', '\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069', '%E2%80%AA%E2%80%AB%E2%80%AC%E2%80%AD%E2%80%AE%E2%81%A6%E2%81%A7%E2%81%A8%E2%81%A9'],
    ['the bidi marks LRM, RLM and ALM', 'a\u200eb\u200fc\u061cd', 'a%E2%80%8Eb%E2%80%8Fc%D8%9Cd'],
  ])('percent-encodes %s as their UTF-8 bytes', (_name, claim, expected) => {
    expect(utf8(headerValueFromClaim(claim))).toBe(expected);
    expect(utf8(headerValueFromClaim([claim]))).toBe(expected);
  });

  it('leaves a literal percent sign and other non-ASCII text alone', () => {
    expect(utf8(headerValueFromClaim('José 100% ✓'))).toBe('José 100% ✓');
  });

  it('sends non-Latin text as raw UTF-8 bytes that Node accepts in a header', () => {
    const value = headerValueFromClaim('Zoë 日本 🙂');
    expect(() => validateHeaderValue('x-user', value)).not.toThrow();
    expect(Buffer.from(value, 'latin1')).toEqual(Buffer.from('Zoë 日本 🙂', 'utf8'));
    expect(utf8(value)).toBe('Zoë 日本 🙂');
  });

  it('cuts a huge value to the byte limit without splitting a character', () => {
    const value = headerValueFromClaim('é'.repeat(MAX_HEADER_VALUE_BYTES));
    const bytes = Buffer.from(value, 'latin1');
    expect(bytes.length).toBeLessThanOrEqual(MAX_HEADER_VALUE_BYTES);
    expect(bytes.length).toBeGreaterThan(MAX_HEADER_VALUE_BYTES - 4);
    expect(utf8(value)).toBe('é'.repeat(bytes.length / 2));
  });

  it('cuts before a percent-encoded control rather than through it', () => {
    expect(headerValueFromClaim(`${'a'.repeat(MAX_HEADER_VALUE_BYTES - 1)}\n`)).toBe('a'.repeat(MAX_HEADER_VALUE_BYTES - 1));
    expect(headerValueFromClaim(`${'a'.repeat(MAX_HEADER_VALUE_BYTES - 2)}\n`)).toBe('a'.repeat(MAX_HEADER_VALUE_BYTES - 2));
  });

  it('cuts a huge array as well', () => {
    const value = headerValueFromClaim(Array.from({ length: 10_000 }, (_, i) => `group-${i}`));
    expect(value.length).toBeLessThanOrEqual(MAX_HEADER_VALUE_BYTES);
    expect(value.startsWith('group-0,group-1,')).toBe(true);
  });

  it('writes values it cannot serialise (bigint inside an object, functions) as empty rather than throwing', () => {
    expect(headerValueFromClaim({ n: 1n })).toBe('');
    expect(headerValueFromClaim(() => 1)).toBe('');
    expect(headerValueFromClaim(Symbol('x'))).toBe('');
    expect(headerValueFromClaim(10n)).toBe('10');
  });
});

describe('checkIdentityHeaderBudget', () => {
  it('passes identity headers that fit the budget together', () => {
    expect(checkIdentityHeaderBudget({ 'X-User': 'alice', 'X-Groups': 'a,b' })).toEqual({ ok: true, bytes: 'X-User: alice\r\n'.length + 'X-Groups: a,b\r\n'.length });
    expect(checkIdentityHeaderBudget({})).toEqual({ ok: true, bytes: 0 });
  });

  it('counts each header as it goes on the wire (name, ": ", value bytes, CRLF), up to the budget exactly', () => {
    const overhead = 'X-A: \r\n'.length;
    const fits = { 'X-A': 'a'.repeat(MAX_IDENTITY_HEADERS_BYTES - overhead) };
    expect(checkIdentityHeaderBudget(fits)).toEqual({ ok: true, bytes: MAX_IDENTITY_HEADERS_BYTES });
    const over = { 'X-A': 'a'.repeat(MAX_IDENTITY_HEADERS_BYTES - overhead + 1) };
    expect(checkIdentityHeaderBudget(over)).toEqual({ ok: false, bytes: MAX_IDENTITY_HEADERS_BYTES + 1, limit: MAX_IDENTITY_HEADERS_BYTES, largest: 'X-A' });
  });

  it('fails when values each under their own cap together pass the budget, naming the largest', () => {
    const headers = {
      'X-Name': headerValueFromClaim('é'.repeat(3000)),
      'X-Groups': headerValueFromClaim(Array.from({ length: 400 }, (_, i) => `group-${i}`)),
      'X-User': headerValueFromClaim('alice'),
    };
    const result = checkIdentityHeaderBudget(headers);
    expect(result.ok).toBe(false);
    expect(result).toMatchObject({ largest: 'X-Name', limit: MAX_IDENTITY_HEADERS_BYTES });
    expect(result.bytes).toBeGreaterThan(MAX_IDENTITY_HEADERS_BYTES);
  });

  it('counts UTF-8 bytes, not characters', () => {
    const value = headerValueFromClaim('日'.repeat(1500));
    expect(value.length).toBe(4500);
    expect(checkIdentityHeaderBudget({ 'X-Name': value, 'X-Nickname': value })).toMatchObject({ ok: false, bytes: 9000 + 'X-Name: \r\nX-Nickname: \r\n'.length });
  });
});

describe('claimText', () => {
  it('keeps Unicode text before byte encoding', () => {
    expect(claimText(['Zoë', 'b'])).toBe('Zoë,b');
  });
});
