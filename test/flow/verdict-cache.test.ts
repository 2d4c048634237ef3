/**
 * The signed-in check answers a cookie it answered before from its verdict cache: these are the
 * answers that must not come from it, through the service and the real provider.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import { TEST_APP_ORIGIN } from '../support/op.js';
import type { TestService } from '../support/service.js';
import { useStack } from '../support/stack.js';

const APP = TEST_APP_ORIGIN;
const API = { accept: 'application/json' };
const CSRF_HEADER = 'X-Csrf-Token';

function session(name: string, overrides: Record<string, unknown> = {}) {
  return { name: `${name}-session`, path: '/', domain: undefined, sameSite: 'lax', httpOnly: true, secure: false, expiry: 600, sliding: false, refresh: true, maxLifetime: undefined, store: undefined, ...overrides } as const;
}

describe('the verdict cache of the signed-in check', () => {
  const stack = useStack({
    service: {
      middlewares: ({ issuer }) => [
        { name: 'plain', issuer, logoutUrl: '/logout', forwardHeaders: { 'X-User': 'sub' }, session: session('plain') },
        { name: 'csrf', issuer, csrf: { secure: false, headerName: CSRF_HEADER }, forwardHeaders: { 'X-User': 'sub' }, session: session('csrf') },
        { name: 'sliding', issuer, forwardHeaders: { 'X-User': 'sub' }, session: session('sliding', { sliding: true, expiry: 100 }) },
        { name: 'login', issuer, loginUrl: '/login', postLoginRedirectUrl: '/home', forwardHeaders: { 'X-User': 'sub' }, session: session('login') },
      ],
    },
  });
  let service: TestService;
  beforeAll(() => {
    ({ service } = stack());
  });

  async function signedIn(name: string, page = `${APP}/`) {
    const login = await browserLogin({ authAddress: service.authAddress(name), url: page, user: 'alice' });
    expect(login.final.status).toBe(200);
    return login.jar;
  }
  const cached = (name: string): number => service.app.middlewares.get(name)?.verdicts.bytes ?? -1;

  it('answers a repeated request from the cache, and a logout ends the cached session at once', async () => {
    const jar = await signedIn('plain');
    const stolen = jar.cookieHeader(`${APP}/`) ?? '';
    for (let i = 0; i < 3; i += 1) {
      const answer = await forwardAuth(service.authAddress('plain'), { url: `${APP}/api`, headers: { ...API, cookie: stolen } }, createCookieJar(), {
        authResponseHeaders: ['X-User'],
      });
      expect(answer.status).toBe(200);
      expect(answer.forwardedHeaders['x-user']).toMatch(/\S/);
    }
    expect(cached('plain')).toBeGreaterThan(0);
    expect((await forwardAuth(service.authAddress('plain'), { url: `${APP}/logout`, headers: NAVIGATION_HEADERS }, jar)).status).toBe(302);
    const replay = await forwardAuth(service.authAddress('plain'), { url: `${APP}/api`, headers: { ...API, cookie: stolen } }, createCookieJar());
    expect(replay.status).toBe(401);
  });

  it('still checks the CSRF token of an unsafe request after the same cookie was answered for a GET', async () => {
    const jar = await signedIn('csrf');
    expect((await forwardAuth(service.authAddress('csrf'), { url: `${APP}/api`, headers: API }, jar)).status).toBe(200);
    expect(cached('csrf')).toBeGreaterThan(0);
    const post = await forwardAuth(service.authAddress('csrf'), { method: 'POST', url: `${APP}/api`, headers: API }, jar);
    expect(post.status).toBe(403);
  });

  it('renews a sliding session once renewal is due, though its earlier answer was cached', async () => {
    const jar = await signedIn('sliding');
    const first = await forwardAuth(service.authAddress('sliding'), { url: `${APP}/api`, headers: API }, jar);
    expect(first.status).toBe(200);
    expect(first.authSetCookies).toEqual([]);
    expect(cached('sliding')).toBeGreaterThan(0);
    service.advance(11);
    const due = await forwardAuth(service.authAddress('sliding'), { url: `${APP}/api`, headers: API }, jar);
    expect(due.status).toBe(200);
    expect(due.authSetCookies.some((cookie) => cookie.startsWith('sliding-session='))).toBe(true);
  });

  it('sends a signed-in page load at loginUrl on to postLoginRedirectUrl, though the cookie was answered from the cache elsewhere', async () => {
    const jar = await signedIn('login', `${APP}/login`);
    expect((await forwardAuth(service.authAddress('login'), { url: `${APP}/api`, headers: API }, jar)).status).toBe(200);
    expect(cached('login')).toBeGreaterThan(0);
    const atLogin = await forwardAuth(service.authAddress('login'), { url: `${APP}/login`, headers: NAVIGATION_HEADERS }, jar);
    expect(atLogin.status).toBe(302);
    expect(atLogin.location).toBe(`${APP}/home`);
  });
});
