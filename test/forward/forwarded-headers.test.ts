import { describe, expect, it } from 'vitest';
import { validateHeaderValue } from 'node:http';
import { claimText, headerValueFromClaim, MAX_HEADER_VALUE_BYTES } from '../../src/forward/forwarded-headers.js';

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

  it('replaces CR, LF, NUL, tabs and other controls with spaces, so no header can be injected', () => {
    const value = headerValueFromClaim('alice\r\nX-Admin: true\0\t\x1b\x7fend');
    expect(value).toBe('alice  X-Admin: true    end');
    expect(() => validateHeaderValue('x-user', value)).not.toThrow();
  });

  it('cleans controls inside array elements too', () => {
    expect(headerValueFromClaim(['a\r\nb', 'c'])).toBe('a  b,c');
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

describe('claimText', () => {
  it('keeps Unicode text before byte encoding', () => {
    expect(claimText(['Zoë', 'b'])).toBe('Zoë,b');
  });
});
