import { describe, expect, it } from 'vitest';
import { ClaimsSyntaxError, parseClaimKey, readClaim } from '../../src/claims/index.js';

describe('parseClaimKey', () => {
  it('splits a key on dots into a path in the ID token by default', () => {
    expect(parseClaimKey('user.name')).toEqual({ raw: 'user.name', token: undefined, path: ['user', 'name'] });
  });

  it('reads \\. as a literal dot and \\\\ as a literal backslash', () => {
    expect(parseClaimKey('a\\.b.c').path).toEqual(['a.b', 'c']);
    expect(parseClaimKey('a\\\\.b').path).toEqual(['a\\', 'b']);
    expect(parseClaimKey('a\\\\\\.b').path).toEqual(['a\\.b']);
    expect(parseClaimKey('https://example\\.com/roles').path).toEqual(['https://example.com/roles']);
  });

  it('rejects any other escape at the backslash', () => {
    for (const [raw, position] of [['a\\n', 1], ['ab\\', 2], ['\\x.b', 0], ['a.b\\ ', 3]] as const) {
      let error: unknown;
      try {
        parseClaimKey(raw);
      } catch (caught) {
        error = caught;
      }
      expect(error, raw).toBeInstanceOf(ClaimsSyntaxError);
      expect((error as ClaimsSyntaxError).position, raw).toBe(position);
      expect((error as ClaimsSyntaxError).expected).toBe('"\\." or "\\\\"');
    }
  });

  it('rejects empty keys and empty segments', () => {
    expect(() => parseClaimKey('')).toThrow(ClaimsSyntaxError);
    expect(() => parseClaimKey('.a')).toThrow(ClaimsSyntaxError);
    expect(() => parseClaimKey('a..b')).toThrow(ClaimsSyntaxError);
    expect(() => parseClaimKey('a.')).toThrow(ClaimsSyntaxError);
    expect(() => parseClaimKey('id_token.')).toThrow(ClaimsSyntaxError);
  });

  it('takes id_token. and access_token. as the token to read', () => {
    expect(parseClaimKey('id_token.grp')).toEqual({ raw: 'id_token.grp', token: 'id_token', path: ['grp'] });
    expect(parseClaimKey('access_token.a.b')).toEqual({ raw: 'access_token.a.b', token: 'access_token', path: ['a', 'b'] });
  });

  it('reads a bare or escaped prefix name as an ordinary claim', () => {
    expect(parseClaimKey('access_token')).toEqual({ raw: 'access_token', token: undefined, path: ['access_token'] });
    expect(parseClaimKey('access_token\\.grp').path).toEqual(['access_token.grp']);
    expect(parseClaimKey('access_token\\.grp').token).toBeUndefined();
    expect(parseClaimKey('id_token.access_token.x')).toMatchObject({ token: 'id_token', path: ['access_token', 'x'] });
  });
});

describe('readClaim', () => {
  const claims = {
    user: { name: 'John Snow', 'a.b': 1, 'c\\': 2 },
    groups: ['admin', { name: 'ops' }],
    byNumber: { 0: 'zero' },
  };

  it('walks nested objects', () => {
    expect(readClaim(claims, parseClaimKey('user.name'))).toBe('John Snow');
    expect(readClaim(claims, parseClaimKey('user.a\\.b'))).toBe(1);
    expect(readClaim(claims, parseClaimKey('user.c\\\\'))).toBe(2);
    expect(readClaim(claims, parseClaimKey('user'))).toBe(claims.user);
  });

  it('indexes arrays with canonical decimal segments only', () => {
    expect(readClaim(claims, parseClaimKey('groups.0'))).toBe('admin');
    expect(readClaim(claims, parseClaimKey('groups.1.name'))).toBe('ops');
    expect(readClaim(claims, parseClaimKey('groups.2'))).toBeUndefined();
    expect(readClaim(claims, parseClaimKey('groups.00'))).toBeUndefined();
    expect(readClaim(claims, parseClaimKey('groups.-1'))).toBeUndefined();
    expect(readClaim(claims, parseClaimKey('groups.length'))).toBeUndefined();
    expect(readClaim(claims, parseClaimKey('byNumber.0'))).toBe('zero');
  });

  it('is undefined for missing keys, scalars on the path and an absent token', () => {
    expect(readClaim(claims, parseClaimKey('nope'))).toBeUndefined();
    expect(readClaim(claims, parseClaimKey('user.name.first'))).toBeUndefined();
    expect(readClaim(undefined, parseClaimKey('user'))).toBeUndefined();
    expect(readClaim({ a: null }, parseClaimKey('a.b'))).toBeUndefined();
  });

  it('never reads through the prototype chain', () => {
    for (const raw of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'constructor.name', '__proto__.toString', 'groups.map']) {
      expect(readClaim(claims, parseClaimKey(raw)), raw).toBeUndefined();
    }
    const inherited = Object.create({ role: 'admin' }) as Record<string, unknown>;
    expect(readClaim(inherited, parseClaimKey('role'))).toBeUndefined();
  });

  it('reads an own "__proto__" claim as JSON.parse creates it, as data', () => {
    const parsed = JSON.parse('{"__proto__": {"role": "admin"}}') as Record<string, unknown>;
    expect(readClaim(parsed, parseClaimKey('__proto__.role'))).toBe('admin');
  });

  it('never calls a getter or a throwing proxy trap', () => {
    let called = false;
    const withGetter = Object.defineProperty({}, 'role', { get: () => { called = true; return 'admin'; }, enumerable: true });
    expect(readClaim(withGetter, parseClaimKey('role'))).toBeUndefined();
    expect(called).toBe(false);
    const hostile = new Proxy({}, { getOwnPropertyDescriptor: () => { throw new Error('trap'); } });
    expect(readClaim(hostile, parseClaimKey('role'))).toBeUndefined();
  });
});
