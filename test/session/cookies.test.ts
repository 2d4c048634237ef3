import { describe, expect, it } from 'vitest';
import { clearCookie, cookieValues, parseCookieHeader, serializeCookie } from '../../src/session/cookies.js';

const attributes = { path: '/', domain: undefined, sameSite: 'lax', httpOnly: true, secure: false } as const;

describe('parseCookieHeader', () => {
  it('reads name=value pairs', () => {
    const jar = parseCookieHeader('a=1; b=two; c=v1.abc_-');
    expect(cookieValues(jar, 'a')).toEqual(['1']);
    expect(cookieValues(jar, 'b')).toEqual(['two']);
    expect(cookieValues(jar, 'c')).toEqual(['v1.abc_-']);
  });

  it('keeps every value of a repeated name in header order, so a cookie tossed from a parent domain cannot shadow ours', () => {
    const jar = parseCookieHeader('app-session=tossed; other=x; app-session=ours');
    expect(cookieValues(jar, 'app-session')).toEqual(['tossed', 'ours']);
  });

  it('answers an empty jar for a missing or empty header', () => {
    expect(Object.keys(parseCookieHeader(undefined))).toEqual([]);
    expect(Object.keys(parseCookieHeader(''))).toEqual([]);
  });

  it('joins several Cookie fields (HTTP/2)', () => {
    const jar = parseCookieHeader(['a=1', 'b=2']);
    expect(cookieValues(jar, 'b')).toEqual(['2']);
  });

  it('removes the optional quotes around a value and does not URI-decode', () => {
    const jar = parseCookieHeader('q="quoted"; e=a%20b');
    expect(cookieValues(jar, 'q')).toEqual(['quoted']);
    expect(cookieValues(jar, 'e')).toEqual(['a%20b']);
  });

  it('skips pairs without "=" and names that are not tokens', () => {
    const jar = parseCookieHeader('novalue; bad name=1; =2; ok=3');
    expect(Object.keys(jar)).toEqual(['ok']);
  });

  it('treats a cookie named __proto__ as data', () => {
    const jar = parseCookieHeader('__proto__=x; constructor=y');
    expect(cookieValues(jar, '__proto__')).toEqual(['x']);
    expect(cookieValues(jar, 'constructor')).toEqual(['y']);
    expect(cookieValues(jar, 'toString')).toEqual([]);
  });

  it('ignores an absurdly long header', () => {
    expect(Object.keys(parseCookieHeader('a=' + 'x'.repeat(100_000)))).toEqual([]);
  });

  it('bounds the number of cookies and of values per name', () => {
    const many = parseCookieHeader(Array.from({ length: 1000 }, (_, i) => `c${i}=1`).join('; '));
    expect(Object.keys(many).length).toBe(200);
    const repeated = parseCookieHeader(Array.from({ length: 50 }, (_, i) => `s=${i}`).join('; '));
    expect(cookieValues(repeated, 's')).toHaveLength(8);
  });
});

describe('serializeCookie', () => {
  it('writes the value with the configured attributes', () => {
    expect(serializeCookie('app-session', 'v1.abc', { ...attributes, maxAge: 3600 })).toBe(
      'app-session=v1.abc; Max-Age=3600; Path=/; HttpOnly; SameSite=Lax',
    );
  });

  it('writes Domain, Secure, Expires and SameSite=None when configured', () => {
    const header = serializeCookie('s', 'v', {
      path: '/app',
      domain: 'example.com',
      sameSite: 'none',
      httpOnly: false,
      secure: true,
      expires: new Date(Date.UTC(2030, 0, 1)),
    });
    expect(header).toBe('s=v; Domain=example.com; Path=/app; Expires=Tue, 01 Jan 2030 00:00:00 GMT; Secure; SameSite=None');
  });

  it('writes a zero or negative maxAge as Max-Age=0', () => {
    expect(serializeCookie('s', 'v', { ...attributes, maxAge: -5 })).toContain('Max-Age=0');
    expect(serializeCookie('s', 'v', { ...attributes, maxAge: 0 })).toContain('Max-Age=0');
  });

  it.each([
    ['a name with a space', 'a b', 'v', {}],
    ['a name with "="', 'a=b', 'v', {}],
    ['a value with ";"', 'a', 'v;Path=/x', {}],
    ['a value with CR LF', 'a', 'v\r\nSet-Cookie: x=y', {}],
    ['a value with a space', 'a', 'v w', {}],
    ['a path with ";"', 'a', 'v', { path: '/;Domain=evil' }],
    ['a domain with ";"', 'a', 'v', { domain: 'a.com;x' }],
    ['a non-finite maxAge', 'a', 'v', { maxAge: Infinity }],
    ['an invalid date', 'a', 'v', { expires: new Date(NaN) }],
  ])('refuses %s', (_name, name, value, extra) => {
    expect(() => serializeCookie(name, value, { ...attributes, ...extra })).toThrow(TypeError);
  });
});

describe('clearCookie', () => {
  it('expires the cookie at once on the same path and domain', () => {
    expect(clearCookie('app-state.abc', { ...attributes, domain: 'example.com' })).toBe(
      'app-state.abc=; Max-Age=0; Domain=example.com; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax',
    );
  });
});
