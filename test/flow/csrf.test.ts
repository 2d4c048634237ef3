import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_BROWSER_COOKIE_AGE_SECONDS } from '../../src/session/session-cookies.js';
import { createCookieJar, type CookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, type ForwardAuthOptions, type ForwardAuthResult } from '../support/forward-auth-client.js';
import { TEST_APP_ORIGIN, TEST_CLIENT } from '../support/op.js';
import type { TestService } from '../support/service.js';
import { useStack } from '../support/stack.js';

const APP = TEST_APP_ORIGIN;
const SECURE_APP = APP.replace(/^http:/, 'https:');
const CSRF_COOKIE = 'traefikee-csrf-token';
const HEADER = 'TraefikHub-Csrf-Token';
const ACCESS_TOKEN_TTL = 600;
const SESSION_EXPIRY = 1000;
const TOKEN = /^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/;

/**
 * Traefik passes a 2xx answer's Set-Cookie to the browser only for listed names: the CSRF cookie
 * must be listed, or a renewed token never reaches the page.
 */
const TRAEFIK: ForwardAuthOptions = {
  addAuthCookiesToResponse: ['csrf-session', 'custom-session', 'norefresh-session', 'fixed-session', 'off-session', CSRF_COOKIE],
  authResponseHeaders: ['X-User'],
};

const UNSAFE_METHODS = ['POST', 'PUT', 'PATCH', 'DELETE', 'PROPFIND', 'CONNECT'];
const SAFE_METHODS = ['GET', 'HEAD', 'OPTIONS', 'TRACE'];

function apiHeaders(extra: Record<string, string> = {}): Record<string, string> {
  return { accept: 'application/json', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty', ...extra };
}

function csrfSetCookie(result: ForwardAuthResult): string | undefined {
  return result.authSetCookies.find((c) => c.startsWith(`${CSRF_COOKIE}=`));
}

function csrfValue(jar: CookieJar): string {
  const value = jar.get(CSRF_COOKIE)?.value;
  if (value === undefined) throw new Error('the browser holds no CSRF cookie');
  return value;
}

describe('CSRF protection (signed double submit cookie)', () => {
  const session = (name: string, overrides: Record<string, unknown> = {}) => ({
    name: `${name}-session`, path: '/', domain: undefined, sameSite: 'lax' as const, httpOnly: true, secure: false,
    expiry: SESSION_EXPIRY, maxLifetime: undefined, sliding: true, refresh: true, store: undefined, ...overrides,
  });
  const csrf = { secure: false, headerName: HEADER };
  const stack = useStack({
    provider: {
      ttl: { AccessToken: ACCESS_TOKEN_TTL, IdToken: 86400 },
      rotateRefreshToken: false,
      clients: [{ ...TEST_CLIENT, redirect_uris: [...TEST_CLIENT.redirect_uris, `${SECURE_APP}/callback`] }],
    },
    service: {
      middlewares: ({ issuer }) => [
        { name: 'csrf', issuer, csrf, logoutUrl: '/logout', forwardHeaders: { 'X-User': 'sub' }, session: session('csrf') },
        { name: 'custom', issuer, csrf: { secure: true, headerName: 'X-My-Csrf' }, forwardHeaders: { 'X-User': 'sub' }, session: session('custom', { secure: true }) },
        { name: 'norefresh', issuer, csrf, session: session('norefresh', { refresh: false }) },
        { name: 'fixed', issuer, csrf, session: session('fixed', { expiry: 200, sliding: false }) },
        { name: 'off', issuer, forwardHeaders: { 'X-User': 'sub' }, session: session('off') },
      ],
    },
  });
  let service: TestService;
  beforeAll(() => {
    ({ service } = stack());
  });

  async function login(name = 'csrf', user = 'alice', app = APP) {
    const result = await browserLogin({ authAddress: service.authAddress(name), url: `${app}/`, user, ...TRAEFIK });
    expect(result.final.status).toBe(200);
    return result;
  }

  function call(name: string, jar: CookieJar, method: string, headers: Record<string, string> = {}, app = APP, options: ForwardAuthOptions = {}) {
    return forwardAuth(service.authAddress(name), { method, url: `${app}/api/items`, headers: apiHeaders(headers) }, jar, { ...TRAEFIK, ...options });
  }

  function expectRefused(result: ForwardAuthResult, secrets: readonly string[] = []): void {
    expect(result.status).toBe(403);
    expect(result.forwardedHeaders).toEqual({});
    expect(result.upstreamHeaders).toEqual({});
    for (const secret of secrets) expect(result.body).not.toContain(secret);
  }

  describe('the cookie', () => {
    it('comes with the session at the callback: readable by scripts, not Secure when csrf.secure is false, outliving every renewal of a sliding session', async () => {
      const { callback, jar } = await login();
      const setCookie = csrfSetCookie(callback);
      expect(setCookie).toBeDefined();
      expect(setCookie).not.toMatch(/;\s*HttpOnly/i);
      expect(setCookie).not.toMatch(/;\s*Secure/i);
      expect(setCookie).toContain('Path=/');
      expect(setCookie).toContain('SameSite=Lax');
      // Renewals of a sliding session may not reach the browser with it (nginx passes one cookie on a 2xx).
      expect(setCookie).toContain(`Max-Age=${MAX_BROWSER_COOKIE_AGE_SECONDS}`);
      const stored = jar.get(CSRF_COOKIE);
      expect(stored?.httpOnly).toBe(false);
      expect(stored?.value).toMatch(TOKEN);
      // The session cookie itself stays out of reach of scripts.
      expect(jar.get('csrf-session')?.httpOnly).toBe(true);
    });

    it('carries the Secure attribute when csrf.secure is true', async () => {
      const { callback, jar } = await login('custom', 'alice', SECURE_APP);
      expect(csrfSetCookie(callback)).toMatch(/;\s*Secure/);
      expect(csrfSetCookie(callback)).not.toMatch(/;\s*HttpOnly/i);
      expect(jar.get(CSRF_COOKIE)?.secure).toBe(true);
    });

    it('is not set when csrf is off, and unsafe methods then pass without a header', async () => {
      const { callback, jar } = await login('off');
      expect(csrfSetCookie(callback)).toBeUndefined();
      const result = await call('off', jar, 'POST');
      expect(result.status).toBe(200);
      expect(result.upstreamHeaders['x-user']).toBe('alice');
    });

    it('holds a different token for each new session', async () => {
      const first = csrfValue((await login()).jar);
      const second = csrfValue((await login()).jar);
      expect(first).not.toBe(second);
    });
  });

  describe('requests', () => {
    it('lets safe methods (GET, HEAD, OPTIONS, TRACE) through without the header', async () => {
      const { jar } = await login();
      for (const method of SAFE_METHODS) {
        const result = await call('csrf', jar, method);
        expect(result.status, method).toBe(200);
        expect(result.upstreamHeaders['x-user'], method).toBe('alice');
      }
    });

    it('lets an unsafe method through when the header equals the cookie', async () => {
      const { jar } = await login();
      const token = csrfValue(jar);
      for (const method of UNSAFE_METHODS) {
        const result = await call('csrf', jar, method, { [HEADER]: token });
        expect(result.status, method).toBe(200);
        expect(result.upstreamHeaders['x-user'], method).toBe('alice');
      }
    });

    it('reads the method from X-Forwarded-Method and from the request itself (preserveRequestMethod)', async () => {
      const { jar } = await login();
      const token = csrfValue(jar);
      expectRefused(await call('csrf', jar, 'DELETE', {}, APP, { preserveRequestMethod: true }));
      expect((await call('csrf', jar, 'DELETE', { [HEADER]: token }, APP, { preserveRequestMethod: true })).status).toBe(200);
    });

    it('refuses every unsafe method with 403 when the header is missing, though the cookie is there', async () => {
      const { jar } = await login();
      const token = csrfValue(jar);
      for (const method of UNSAFE_METHODS) {
        const result = await call('csrf', jar, method);
        expect(result.status, method).toBe(403);
        expectRefused(result, [token]);
      }
    });

    it('refuses a token from another user’s session (a cookie planted by a sibling subdomain or an attacker)', async () => {
      const alice = await login('csrf', 'alice');
      const bob = await login('csrf', 'bob');
      const bobsToken = csrfValue(bob.jar);
      expectRefused(await call('csrf', alice.jar, 'POST', { [HEADER]: bobsToken }), [bobsToken]);
      // Even when the attacker also overwrites the cookie, so cookie and header agree.
      const aliceCookie = alice.jar.cookieHeader(`${APP}/api/items`) ?? '';
      const withPlanted = aliceCookie.replace(/traefikee-csrf-token=[^;]+/, `${CSRF_COOKIE}=${bobsToken}`);
      const result = await forwardAuth(
        service.authAddress('csrf'),
        { method: 'POST', url: `${APP}/api/items`, headers: apiHeaders({ cookie: withPlanted, [HEADER]: bobsToken }) },
        createCookieJar(),
        TRAEFIK,
      );
      expectRefused(result, [bobsToken]);
    });

    it('refuses a token from the same user’s previous session', async () => {
      const first = await login();
      const oldToken = csrfValue(first.jar);
      const second = await login();
      expectRefused(await call('csrf', second.jar, 'POST', { [HEADER]: oldToken }));
    });

    it('refuses tampered, truncated, padded, doubled and malformed tokens', async () => {
      const { jar } = await login();
      const token = csrfValue(jar);
      const [random = '', signature = ''] = token.split('.');
      // Flips a bit that carries data: the top bit of a base64url character. The last character of
      // the random part (16 bytes) has 4 spare low bits, that of the signature (32 bytes) 2; a
      // respelling of those must fail as well, since only our own spelling of the bytes verifies.
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const xor = (text: string, index: number, bits: number): string =>
        text.slice(0, index) + alphabet[alphabet.indexOf(text[index] ?? 'A') ^ bits] + text.slice(index + 1);
      const bad = [
        `${xor(random, 0, 0b100000)}.${signature}`,
        `${xor(random, 21, 0b100000)}.${signature}`,
        `${xor(random, 21, 0b000001)}.${signature}`,
        `${random}.${xor(signature, 0, 0b100000)}`,
        `${random}.${xor(signature, 42, 0b100000)}`,
        `${random}.${xor(signature, 42, 0b000001)}`,
        `${random}.${xor(signature, 42, 0b000010)}`,
        `${random}.${signature.slice(0, -1)}`,
        token.slice(0, -4),
        `${token}A`,
        `${token}.${signature}`,
        `${signature}.${random}`,
        `${random}`,
        `.${signature}`,
        `${random}.`,
        '',
        ' ',
        `${token}, ${token}`,
        `"${token}"`,
        `${random}=.${signature}`,
        `${random}.${signature.slice(0, 42)}=`,
        'A'.repeat(22) + '.' + 'A'.repeat(43),
        'x'.repeat(4096),
        encodeURIComponent(`${random}+.${signature}`),
      ];
      for (const value of bad) {
        const result = await call('csrf', jar, 'POST', { [HEADER]: value });
        expect(result.status, JSON.stringify(value.slice(0, 80))).toBe(403);
        expectRefused(result, [token]);
      }
      // The good token still works afterwards: nothing was locked or spent.
      expect((await call('csrf', jar, 'POST', { [HEADER]: token })).status).toBe(200);
    });

    it('refuses a token sent twice in two header fields, even when both are right', async () => {
      const { jar } = await login();
      const token = csrfValue(jar);
      // Node joins repeated fields with ", ": the joined value is no token.
      const result = await call('csrf', jar, 'POST', { [HEADER]: `${token}, ${token}` });
      expectRefused(result);
    });

    it('verifies the header against the session id, not the cookie: a valid header without the cookie passes, a valid cookie without the header does not', async () => {
      const { jar } = await login();
      const token = csrfValue(jar);
      const withoutCsrfCookie = createCookieJar();
      const session = jar.get('csrf-session');
      withoutCsrfCookie.setCookie(`csrf-session=${session?.value ?? ''}; Path=/`, `${APP}/`);
      expect(withoutCsrfCookie.get(CSRF_COOKIE)).toBeUndefined();
      const passed = await call('csrf', withoutCsrfCookie, 'POST', { [HEADER]: token });
      expect(passed.status).toBe(200);
      expect(passed.upstreamHeaders['x-user']).toBe('alice');
      // A header that does not match the cookie is judged by the session too: bound to it, it passes.
      const other = createCookieJar();
      other.setCookie(`csrf-session=${session?.value ?? ''}; Path=/`, `${APP}/`);
      other.setCookie(`${CSRF_COOKIE}=garbage; Path=/`, `${APP}/`);
      expect((await call('csrf', other, 'POST', { [HEADER]: token })).status).toBe(200);
    });

    it('answers an unsafe request without a session 401 (not signed in), not 403', async () => {
      const result = await call('csrf', createCookieJar(), 'POST', { [HEADER]: 'A'.repeat(22) + '.' + 'A'.repeat(43) });
      expect(result.status).toBe(401);
    });

    it('uses csrf.headerName: the default name means nothing to a middleware configured with another', async () => {
      const { jar } = await login('custom', 'alice', SECURE_APP);
      const token = csrfValue(jar);
      expectRefused(await call('custom', jar, 'POST', { [HEADER]: token }, SECURE_APP));
      expectRefused(await call('custom', jar, 'POST', { 'X-Csrf-Token': token }, SECURE_APP));
      for (const name of ['X-My-Csrf', 'x-my-csrf', 'X-MY-CSRF']) {
        const result = await call('custom', jar, 'PUT', { [name]: token }, SECURE_APP);
        expect(result.status, name).toBe(200);
        expect(result.upstreamHeaders['x-user']).toBe('alice');
      }
    });

    it('does not accept a token of one middleware’s session in another middleware', async () => {
      const csrfLogin = await login('csrf');
      const offLogin = await login('norefresh');
      const token = csrfValue(csrfLogin.jar);
      expectRefused(await call('norefresh', offLogin.jar, 'POST', { [HEADER]: token }));
    });
  });

  describe('the token’s lifetime', () => {
    it('is renewed with the session (sliding): a new cookie, and both the old and new token verify for this session', async () => {
      const { jar } = await login();
      const before = csrfValue(jar);
      service.advance(150);
      try {
        const renewal = await call('csrf', jar, 'GET');
        expect(renewal.status).toBe(200);
        const setCookie = csrfSetCookie(renewal);
        expect(setCookie).toBeDefined();
        expect(renewal.setCookies).toContain(setCookie);
        const after = csrfValue(jar);
        expect(after).not.toBe(before);
        expect((await call('csrf', jar, 'POST', { [HEADER]: after })).status).toBe(200);
        // A page that read the cookie a moment ago still holds the previous token: same session, still valid.
        expect((await call('csrf', jar, 'POST', { [HEADER]: before })).status).toBe(200);
      } finally {
        service.advance(-150);
      }
    });

    it('never reaches the browser on a 2xx through Traefik unless listed in addAuthCookiesToResponse', async () => {
      const { jar } = await login();
      const before = csrfValue(jar);
      service.advance(150);
      try {
        const renewal = await call('csrf', jar, 'GET', {}, APP, { addAuthCookiesToResponse: ['csrf-session'] });
        expect(renewal.status).toBe(200);
        expect(csrfSetCookie(renewal)).toBeDefined();
        expect(renewal.setCookies.some((c) => c.startsWith(`${CSRF_COOKIE}=`))).toBe(false);
        expect(csrfValue(jar)).toBe(before);
      } finally {
        service.advance(-150);
      }
    });

    it('is renewed when the session is refreshed with the provider', async () => {
      const { jar } = await login();
      const before = csrfValue(jar);
      service.advance(ACCESS_TOKEN_TTL + 10);
      try {
        const refreshed = await call('csrf', jar, 'POST', { [HEADER]: before });
        expect(refreshed.status).toBe(200);
        expect(refreshed.setCookies.some((c) => c.startsWith('csrf-session='))).toBe(true);
        const after = csrfValue(jar);
        expect(after).not.toBe(before);
        expect((await call('csrf', jar, 'PATCH', { [HEADER]: after })).status).toBe(200);
      } finally {
        service.advance(-(ACCESS_TOKEN_TTL + 10));
      }
    });

    it('is renewed with the refreshed session even on a 403, so a refresh spent on a refused request is not lost', async () => {
      const { jar } = await login();
      const before = csrfValue(jar);
      const beforeSession = jar.get('csrf-session')?.value;
      service.advance(ACCESS_TOKEN_TTL + 10);
      try {
        const refused = await call('csrf', jar, 'POST');
        expectRefused(refused, [before]);
        expect(refused.setCookies.some((c) => c.startsWith('csrf-session=v1.'))).toBe(true);
        expect(jar.get('csrf-session')?.value).not.toBe(beforeSession);
        const after = csrfValue(jar);
        expect(after).not.toBe(before);
        expect((await call('csrf', jar, 'POST', { [HEADER]: after })).status).toBe(200);
      } finally {
        service.advance(-(ACCESS_TOKEN_TTL + 10));
      }
    });

    it('is deleted at logout, and the old token is worthless afterwards', async () => {
      const { jar } = await login();
      const token = csrfValue(jar);
      const sessionCookie = jar.cookieHeader(`${APP}/`) ?? '';
      const logout = await forwardAuth(service.authAddress('csrf'), { url: `${APP}/logout`, headers: { accept: 'text/html' } }, jar, TRAEFIK);
      expect(logout.status).toBe(302);
      expect(csrfSetCookie(logout)).toMatch(/^traefikee-csrf-token=;.*Max-Age=0/);
      expect(jar.get(CSRF_COOKIE)).toBeUndefined();
      expect(jar.get('csrf-session')).toBeUndefined();
      const replay = await forwardAuth(
        service.authAddress('csrf'),
        { method: 'POST', url: `${APP}/api/items`, headers: apiHeaders({ cookie: sessionCookie, [HEADER]: token }) },
        createCookieJar(),
        TRAEFIK,
      );
      expect(replay.status).toBe(401);
      expect(replay.upstreamHeaders).toEqual({});
    });

    it('is deleted when the refresh fails and the session ends', async () => {
      const { jar } = await login('norefresh');
      const token = csrfValue(jar);
      service.advance(ACCESS_TOKEN_TTL + 10);
      try {
        const ended = await call('norefresh', jar, 'POST', { [HEADER]: token });
        expect(ended.status).toBe(401);
        expect(csrfSetCookie(ended)).toMatch(/Max-Age=0/);
        expect(jar.get(CSRF_COOKIE)).toBeUndefined();
        expect(jar.get('norefresh-session')).toBeUndefined();
      } finally {
        service.advance(-(ACCESS_TOKEN_TTL + 10));
      }
    });

    it('is deleted when the session has expired', async () => {
      const { jar } = await login('fixed');
      const token = csrfValue(jar);
      service.advance(201);
      try {
        const expired = await call('fixed', jar, 'POST', { [HEADER]: token });
        expect(expired.status).toBe(401);
        expect(csrfSetCookie(expired)).toMatch(/Max-Age=0/);
        expect(jar.get(CSRF_COOKIE)).toBeUndefined();
        expect(expired.upstreamHeaders).toEqual({});
      } finally {
        service.advance(-201);
      }
    });
  });
});
