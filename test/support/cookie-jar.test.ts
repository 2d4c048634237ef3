import { describe, expect, it } from 'vitest';
import { createCookieJar, pathMatches } from './cookie-jar.js';

function clockAt(start: number): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('createCookieJar', () => {
  it('sends back a cookie to the host that set it, and not to a subdomain (host-only)', () => {
    const jar = createCookieJar();
    jar.setCookie('s=1; Path=/', 'http://app.example.test/x');
    expect(jar.cookieHeader('http://app.example.test/')).toBe('s=1');
    expect(jar.cookieHeader('http://api.app.example.test/')).toBeUndefined();
  });

  it('sends a Domain cookie to subdomains too, and ignores a Domain the host is not in', () => {
    const jar = createCookieJar();
    jar.setCookie('d=1; Domain=.example.test; Path=/', 'http://app.example.test/');
    jar.setCookie('evil=1; Domain=other.test; Path=/', 'http://app.example.test/');
    expect(jar.cookieHeader('http://api.example.test/')).toBe('d=1');
    expect(jar.all().map((c) => c.name)).toEqual(['d']);
  });

  it('defaults the path to the directory of the request and matches on segment boundaries', () => {
    const jar = createCookieJar();
    jar.setCookie('p=1', 'http://app.example.test/docs/page');
    expect(jar.get('p')?.path).toBe('/docs');
    expect(jar.cookieHeader('http://app.example.test/docs/web/x')).toBe('p=1');
    expect(jar.cookieHeader('http://app.example.test/docsx')).toBeUndefined();
    expect(pathMatches('/docs', '/docs')).toBe(true);
  });

  it('deletes a cookie on Max-Age=0 and on an Expires in the past', () => {
    const jar = createCookieJar();
    jar.setCookie('a=1; Path=/', 'http://h.test/');
    jar.setCookie('b=1; Path=/', 'http://h.test/');
    jar.setCookie('a=; Path=/; Max-Age=0', 'http://h.test/');
    jar.setCookie('b=; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'http://h.test/');
    expect(jar.cookieHeader('http://h.test/')).toBeUndefined();
  });

  it('prefers Max-Age over Expires and forgets the cookie when it runs out', () => {
    const clock = clockAt(1_000_000);
    const jar = createCookieJar({ now: clock.now });
    jar.setCookie('m=1; Path=/; Max-Age=10; Expires=Thu, 01 Jan 1970 00:00:00 GMT', 'http://h.test/');
    expect(jar.cookieHeader('http://h.test/')).toBe('m=1');
    clock.advance(10_001);
    expect(jar.cookieHeader('http://h.test/')).toBeUndefined();
  });

  it('replaces a cookie with the same name, domain and path', () => {
    const jar = createCookieJar();
    jar.setCookie('s=old; Path=/', 'http://h.test/');
    jar.setCookie('s=new; Path=/', 'http://h.test/');
    jar.setCookie('s=deeper; Path=/app', 'http://h.test/');
    expect(jar.cookieHeader('http://h.test/app/x')).toBe('s=deeper; s=new');
  });

  it('keeps Secure cookies for https and loopback only', () => {
    const jar = createCookieJar();
    jar.setCookie('x=1; Secure; Path=/', 'http://app.example.test/');
    jar.setCookie('y=1; Secure; Path=/', 'https://app.example.test/');
    jar.setCookie('z=1; Secure; Path=/', 'http://127.0.0.1:8080/');
    expect(jar.cookieHeader('http://app.example.test/')).toBeUndefined();
    expect(jar.cookieHeader('https://app.example.test/')).toBe('y=1');
    expect(jar.cookieHeader('http://127.0.0.1:8080/')).toBe('z=1');
  });

  it('records the attributes a test may want to assert', () => {
    const jar = createCookieJar();
    jar.setCookie('s=v; Path=/; HttpOnly; SameSite=Lax', 'http://h.test/');
    expect(jar.get('s', 'http://h.test/')).toMatchObject({ httpOnly: true, sameSite: 'lax', hostOnly: true, expiresAt: undefined });
  });
});
