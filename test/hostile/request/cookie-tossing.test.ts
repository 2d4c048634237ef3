/**
 * Cookie tossing: a sibling subdomain plants a cookie under our session name with `Domain=` the
 * parent. When the values the browser sends open to different sessions, we cannot tell which one is
 * the user's: the request is unauthenticated and the cookies are cleared; we never pick one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar, type CookieJar } from '../../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS, type ForwardAuthOptions, type ForwardAuthResult } from '../../support/forward-auth-client.js';
import { startTestProvider, TEST_APP_ORIGIN, type DevProvider } from '../../support/op.js';
import { startService, type TestService } from '../../support/service.js';
import { expectNothingGranted } from './support.js';

const APP = TEST_APP_ORIGIN;
const SESSION = 'test-session';
const TRAEFIK: ForwardAuthOptions = { addAuthCookiesToResponse: [SESSION], authResponseHeaders: ['X-User'] };

describe('several session cookies under our name', () => {
  let op: DevProvider;
  let service: TestService;

  beforeAll(async () => {
    op = await startTestProvider({ ttl: { AccessToken: 3600, IdToken: 86400 } });
    service = await startService({ middlewares: [{ name: 'test', issuer: op.issuer, logoutUrl: '/logout', forwardHeaders: { 'X-User': 'sub' } }] });
  });
  afterAll(async () => {
    await service?.stop();
    await op?.stop();
  });

  async function signedIn(user: string): Promise<CookieJar> {
    const login = await browserLogin({ authAddress: service.authAddress(), url: `${APP}/`, user, ...TRAEFIK });
    expect(login.final.status).toBe(200);
    return login.jar;
  }

  function valueOf(jar: CookieJar): string {
    const value = jar.get(SESSION)?.value;
    if (value === undefined) throw new Error('no session cookie');
    return value;
  }

  function withCookie(cookie: string, headers: Record<string, string> = { accept: 'application/json' }, url = `${APP}/api`): Promise<ForwardAuthResult> {
    return forwardAuth(service.authAddress(), { url, headers: { ...headers, cookie } }, createCookieJar(), TRAEFIK);
  }

  function clearsSession(result: ForwardAuthResult): boolean {
    return result.authSetCookies.some((c) => c.startsWith(`${SESSION}=;`) && /Max-Age=0\b/.test(c));
  }

  it('refuses and clears them when two of them open to different sessions, whichever comes first', async () => {
    const alice = valueOf(await signedIn('alice'));
    const bob = valueOf(await signedIn('bob'));
    for (const [label, cookie] of [
      ['bob first', `${SESSION}=${bob}; ${SESSION}=${alice}`],
      ['alice first', `${SESSION}=${alice}; ${SESSION}=${bob}`],
      ['between junk', `${SESSION}=junk; ${SESSION}=${alice}; ${SESSION}=v1.AAAA; ${SESSION}=${bob}`],
    ] as const) {
      const api = await withCookie(cookie);
      expectNothingGranted(api, { sessionCookies: [SESSION], identityHeaders: ['x-user'], statuses: [401] }, label);
      expect(api.upstreamHeaders, label).toEqual({});
      expect(clearsSession(api), `${label}: clears`).toBe(true);
      // A page load starts a new login rather than letting either identity through.
      const page = await withCookie(cookie, NAVIGATION_HEADERS);
      expect(page.status, label).toBe(302);
      expect(page.location?.startsWith(op.issuer), label).toBe(true);
      expect(page.upstreamHeaders, label).toEqual({});
    }
    // Each cookie alone still opens: neither session was ended by the refusal.
    expect((await withCookie(`${SESSION}=${alice}`)).upstreamHeaders['x-user']).toBe('alice');
    expect((await withCookie(`${SESSION}=${bob}`)).upstreamHeaders['x-user']).toBe('bob');
  });

  it('lets through two copies of one session (a stale duplicate), and values that do not open are ignored', async () => {
    const alice = valueOf(await signedIn('alice'));
    const result = await withCookie(`${SESSION}=${alice}; ${SESSION}=garbage; ${SESSION}=${alice}`);
    expect(result.status).toBe(200);
    expect(result.upstreamHeaders['x-user']).toBe('alice');
  });

  it('does not log out either session when a logout carries two different sessions, and clears the cookies', async () => {
    const alice = valueOf(await signedIn('alice'));
    const bob = valueOf(await signedIn('bob'));
    const logout = await withCookie(`${SESSION}=${bob}; ${SESSION}=${alice}`, NAVIGATION_HEADERS, `${APP}/logout`);
    expect(logout.status).toBeLessThan(500);
    expect(clearsSession(logout)).toBe(true);
    expect((await withCookie(`${SESSION}=${alice}`)).upstreamHeaders['x-user']).toBe('alice');
    expect((await withCookie(`${SESSION}=${bob}`)).upstreamHeaders['x-user']).toBe('bob');
  });
});
