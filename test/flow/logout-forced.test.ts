/**
 * Logout cannot be forced from another site: an unsafe-method logout needs the CSRF token when csrf
 * is on, and a cross-site logout navigation gets a page to confirm on instead of ending the session.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { CookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS, type ForwardAuthOptions, type ForwardAuthResult } from '../support/forward-auth-client.js';
import { TEST_APP_ORIGIN } from '../support/op.js';
import type { TestService } from '../support/service.js';
import { useStack } from '../support/stack.js';

const APP = TEST_APP_ORIGIN;
const CSRF_COOKIE = 'traefikee-csrf-token';
const HEADER = 'TraefikHub-Csrf-Token';
const TRAEFIK: ForwardAuthOptions = { addAuthCookiesToResponse: ['csrf-session', 'plain-session', CSRF_COOKIE], authResponseHeaders: ['X-User'], preserveRequestMethod: true };

describe('a logout another site tries to force', () => {
  const session = (name: string) => ({
    name: `${name}-session`, path: '/', domain: undefined, sameSite: 'lax' as const, httpOnly: true, secure: false,
    expiry: 3600, maxLifetime: undefined, sliding: true, refresh: true, store: undefined,
  });
  const stack = useStack({
    provider: { rpInitiatedLogout: false },
    service: {
      middlewares: ({ issuer }) => [
        { name: 'csrf', issuer, csrf: { secure: false, headerName: HEADER }, logoutUrl: '/logout', postLogoutRedirectUrl: '/bye', forwardHeaders: { 'X-User': 'sub' }, session: session('csrf') },
        { name: 'plain', issuer, logoutUrl: '/logout', postLogoutRedirectUrl: '/bye', forwardHeaders: { 'X-User': 'sub' }, session: session('plain') },
      ],
    },
  });
  let service: TestService;
  beforeAll(() => {
    ({ service } = stack());
  });

  async function signedIn(name: string): Promise<CookieJar> {
    const login = await browserLogin({ authAddress: service.authAddress(name), url: `${APP}/`, user: 'alice', ...TRAEFIK });
    expect(login.final.status).toBe(200);
    return login.jar;
  }

  function logout(name: string, jar: CookieJar, headers: Record<string, string>, method = 'GET'): Promise<ForwardAuthResult> {
    return forwardAuth(service.authAddress(name), { method, url: `${APP}/logout`, headers }, jar, TRAEFIK);
  }

  async function expectStillSignedIn(name: string, jar: CookieJar): Promise<void> {
    const api = await forwardAuth(service.authAddress(name), { url: `${APP}/api`, headers: { accept: 'application/json', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' } }, jar, TRAEFIK);
    expect(api.status).toBe(200);
    expect(api.upstreamHeaders['x-user']).toBe('alice');
  }

  function endsSession(result: ForwardAuthResult, name: string): boolean {
    return result.authSetCookies.some((c) => c.startsWith(`${name}-session=;`));
  }

  describe('with csrf on, a logout by an unsafe method', () => {
    it('without the CSRF token is refused with 403 and the session stays', async () => {
      const jar = await signedIn('csrf');
      for (const method of ['POST', 'DELETE']) {
        const result = await logout('csrf', jar, { accept: 'text/html', 'sec-fetch-site': 'same-origin', origin: APP }, method);
        expect(result.status, method).toBe(403);
        expect(endsSession(result, 'csrf'), method).toBe(false);
        expect(result.location, method).toBeUndefined();
      }
      const forged = await logout('csrf', jar, { accept: 'text/html', [HEADER]: 'x'.repeat(22) + '.' + 'y'.repeat(43) }, 'POST');
      expect(forged.status).toBe(403);
      await expectStillSignedIn('csrf', jar);
    });

    it('with the CSRF token logs out as before', async () => {
      const jar = await signedIn('csrf');
      const token = jar.get(CSRF_COOKIE)?.value ?? '';
      const result = await logout('csrf', jar, { accept: 'text/html', 'sec-fetch-site': 'same-origin', origin: APP, [HEADER]: token }, 'POST');
      expect(result.status).toBe(302);
      expect(result.location).toBe(`${APP}/bye`);
      expect(jar.get('csrf-session')).toBeUndefined();
    });
  });

  describe('a cross-site logout navigation', () => {
    const crossSite: [string, Record<string, string>][] = [
      ['Sec-Fetch-Site: cross-site', { ...NAVIGATION_HEADERS, 'sec-fetch-site': 'cross-site' }],
      ['an Origin of another site (no Fetch Metadata)', { accept: 'text/html', origin: 'http://evil.example' }],
      ['Origin: null (no Fetch Metadata)', { accept: 'text/html', origin: 'null' }],
    ];
    for (const [what, headers] of crossSite) {
      for (const method of ['GET', 'POST']) {
        it(`(${what}, ${method}) gets a confirmation page, not-2xx, and the session stays`, async () => {
          const jar = await signedIn('plain');
          const result = await logout('plain', jar, headers, method);
          expect(result.status).toBe(403);
          expect(result.headers['content-type']).toMatch(/^text\/html/);
          expect(endsSession(result, 'plain')).toBe(false);
          expect(result.location).toBeUndefined();
          // The page links back to the logout URL on the same origin: following it is a same-origin navigation.
          expect(result.body).toContain(`href="${APP}/logout"`);
          expect(result.headers['x-frame-options']).toBe('DENY');
          await expectStillSignedIn('plain', jar);

          const confirmed = await logout('plain', jar, { ...NAVIGATION_HEADERS, 'sec-fetch-site': 'same-origin' });
          expect(confirmed.status).toBe(302);
          expect(confirmed.location).toBe(`${APP}/bye`);
          expect(jar.get('plain-session')).toBeUndefined();
        });
      }
    }
  });

  describe('same-site navigations and typed URLs', () => {
    const allowed: [string, Record<string, string>][] = [
      ['no Fetch Metadata (typed URL in an old browser, curl)', { accept: 'text/html' }],
      ['Sec-Fetch-Site: none (typed URL, bookmark)', { ...NAVIGATION_HEADERS, 'sec-fetch-site': 'none' }],
      ['Sec-Fetch-Site: same-origin', { ...NAVIGATION_HEADERS, 'sec-fetch-site': 'same-origin' }],
      ['Sec-Fetch-Site: same-site', { ...NAVIGATION_HEADERS, 'sec-fetch-site': 'same-site' }],
      ['a same-origin Origin', { accept: 'text/html', origin: APP }],
    ];
    for (const [what, headers] of allowed) {
      it(`log out as before (${what})`, async () => {
        const jar = await signedIn('plain');
        const result = await logout('plain', jar, headers);
        expect(result.status).toBe(302);
        expect(result.location).toBe(`${APP}/bye`);
        expect(jar.get('plain-session')).toBeUndefined();
      });
    }
  });
});
