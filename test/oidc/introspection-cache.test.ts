import { describe, expect, it } from 'vitest';
import { cacheLifetime } from '../../src/oidc/introspection.js';
import { bearerTokenOf, bearerTokenShape } from '../../src/oidc/access-token.js';

describe('cacheLifetime', () => {
  const now = 1_000_000;
  it('is cacheSeconds for a token far from its exp, or without one', () => {
    expect(cacheLifetime({ exp: now + 3600 }, 30, now)).toBe(30);
    expect(cacheLifetime({}, 30, now)).toBe(30);
    expect(cacheLifetime(undefined, 30, now)).toBe(30);
  });
  it('never outlives the token', () => {
    expect(cacheLifetime({ exp: now + 10 }, 30, now)).toBe(10);
    expect(cacheLifetime({ exp: now - 5 }, 30, now)).toBe(0);
  });
  it('is zero when caching is off', () => {
    expect(cacheLifetime({ exp: now + 3600 }, 0, now)).toBe(0);
  });
});

describe('bearerTokenOf', () => {
  it('takes the token of a Bearer header, the scheme in any case', () => {
    expect(bearerTokenOf('Bearer abc.def-_~+/=')).toEqual({ token: 'abc.def-_~+/=' });
    expect(bearerTokenOf('bEaReR   xyz')).toEqual({ token: 'xyz' });
  });
  it('leaves other schemes alone and calls a broken bearer header malformed', () => {
    expect(bearerTokenOf(undefined)).toBeUndefined();
    expect(bearerTokenOf('Basic dXNlcjpwYXNz')).toBeUndefined();
    expect(bearerTokenOf('Bearertoken')).toBeUndefined();
    expect(bearerTokenOf('Bearer')).toEqual({ malformed: true });
    expect(bearerTokenOf('Bearer a b')).toEqual({ malformed: true });
    expect(bearerTokenOf('Bearer a"b')).toEqual({ malformed: true });
  });
  it('tells a JWS from an opaque handle', () => {
    expect(bearerTokenShape('eyJhbGciOiJSUzI1NiJ9.e30.c2ln')).toBe('jwt');
    expect(bearerTokenShape('a.b.c')).toBe('opaque');
    expect(bearerTokenShape('opaque-handle')).toBe('opaque');
  });
});
