import { beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import { completeLogin, TEST_APP_ORIGIN, type DevProvider } from '../support/op.js';
import type { TestService } from '../support/service.js';
import { useStack } from '../support/stack.js';

const APP = TEST_APP_ORIGIN;
const SESSION_COOKIES = ['test-session', 'pkce-session'];

describe('an unauthenticated request', () => {
  const stack = useStack({
    service: {
      middlewares: ({ issuer }) => [
        { name: 'test', issuer, authParams: { prompt: '', ui_locales: 'en' }, scopes: ['openid', 'email'] },
        { name: 'pkce', issuer, pkce: true },
        { name: 'api', issuer, disableLogin: true },
        { name: 'gated', issuer, loginUrl: '/login', postLoginRedirectUrl: '/welcome' },
      ],
    },
  });
  let op: DevProvider;
  let service: TestService;
  beforeAll(() => {
    ({ op, service } = stack());
  });

  it('is answered 401 when login is disabled', async () => {
    const result = await forwardAuth(service.authAddress('api'), { url: `${APP}/data`, headers: NAVIGATION_HEADERS }, createCookieJar());
    expect(result.status).toBe(401);
    expect(result.setCookies.filter((c) => c.includes('state'))).toEqual([]);
  });

  it('is answered 401 when loginUrl is set and this is another URL', async () => {
    const result = await forwardAuth(service.authAddress('gated'), { url: `${APP}/private`, headers: NAVIGATION_HEADERS }, createCookieJar());
    expect(result.status).toBe(401);
  });

  it('is answered 401 when it is a background request (fetch, image, XHR)', async () => {
    const cases: Record<string, string>[] = [
      { accept: '*/*', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' },
      { accept: 'image/avif,image/webp,*/*', 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' },
      { accept: 'application/json', 'x-requested-with': 'XMLHttpRequest' },
      { accept: 'text/html', 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document', method: 'POST' },
    ];
    for (const headers of cases) {
      const { method, ...rest } = headers;
      const jar = createCookieJar();
      const result = await forwardAuth(service.authAddress(), { method: method ?? 'GET', url: `${APP}/private`, headers: rest }, jar, { preserveRequestMethod: true });
      expect(result.status, JSON.stringify(headers)).toBe(401);
      expect(jar.all()).toEqual([]);
    }
  });

  it('is redirected to the provider with every authorization parameter when it is a page load', async () => {
    const jar = createCookieJar();
    const result = await forwardAuth(service.authAddress(), { url: `${APP}/private?x=1`, headers: NAVIGATION_HEADERS }, jar);
    expect(result.status).toBe(302);
    const location = new URL(result.location ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(new URL('/auth', op.issuer.endsWith('/') ? op.issuer : `${op.issuer}/`).href.replace(/\/$/, ''));
    const params = location.searchParams;
    expect(params.get('response_type')).toBe('code');
    expect(params.get('client_id')).toBe('forward-auth');
    expect(params.get('redirect_uri')).toBe(`${APP}/callback`);
    expect(params.get('scope')).toBe('openid email');
    expect(params.get('state')).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(params.get('nonce')).toMatch(/^[A-Za-z0-9_-]{40,}$/);
    expect(params.get('ui_locales')).toBe('en');
    expect(params.has('prompt')).toBe(false);
    expect(params.has('code_challenge')).toBe(false);
    const [stateCookie] = result.setCookies;
    expect(stateCookie).toMatch(/^test-state\.[A-Za-z0-9_-]{16}=v1\./);
    expect(stateCookie).toContain('Max-Age=600');
    expect(stateCookie).toContain('HttpOnly');
    expect(stateCookie).toContain('SameSite=Lax');
    expect(stateCookie).toContain('Path=/');
    expect(stateCookie).not.toContain('Secure');
  });

  it('sends a PKCE S256 challenge when pkce is on', async () => {
    const result = await forwardAuth(service.authAddress('pkce'), { url: `${APP}/`, headers: NAVIGATION_HEADERS }, createCookieJar());
    const params = new URL(result.location ?? '').searchParams;
    expect(params.get('code_challenge_method')).toBe('S256');
    expect(params.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.get('scope')).toBe('openid');
  });

  it('answers a login through nginx as 401 with X-Auth-Location, since nginx turns a 3xx into 500', async () => {
    const result = await forwardAuth(
      service.authAddress(),
      { url: `${APP}/private`, headers: { ...NAVIGATION_HEADERS, 'x-forward-auth-proxy': 'nginx' } },
      createCookieJar(),
    );
    expect(result.status).toBe(401);
    expect(result.headers['x-auth-location']).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/.*auth\?/);
    expect(result.setCookies).toHaveLength(1);
  });

  it('sends nginx no body, the refusal\'s code in X-Auth-Error instead, so nginx keeps the connection', async () => {
    const api = { accept: 'application/json', 'x-forward-auth-proxy': 'nginx' };
    const refused = await forwardAuth(service.authAddress(), { url: `${APP}/api`, headers: api }, createCookieJar());
    expect(refused.status).toBe(401);
    expect(refused.body).toBe('');
    expect(refused.headers['content-length']).toBe('0');
    expect(refused.headers['x-auth-error']).toBe('OFA_LOGIN_REQUIRED');
    expect(refused.headers['x-auth-error-message']).toBe('You need to sign in.');
    const login = await forwardAuth(service.authAddress(), { url: `${APP}/private`, headers: { ...NAVIGATION_HEADERS, 'x-forward-auth-proxy': 'nginx' } }, createCookieJar());
    expect(login.body).toBe('');
    // Without the nginx marker the same refusal carries the JSON body for the client.
    const direct = await forwardAuth(service.authAddress(), { url: `${APP}/api`, headers: { accept: 'application/json' } }, createCookieJar());
    expect(JSON.parse(direct.body)).toMatchObject({ error: 'OFA_LOGIN_REQUIRED' });
    expect(direct.headers['x-auth-error']).toBeUndefined();
  });

  describe('logging in', () => {
    for (const name of ['test', 'pkce']) {
      it(`completes the whole flow and returns to the original URL (${name === 'pkce' ? 'with' : 'without'} PKCE)`, async () => {
        const login = await browserLogin({ authAddress: service.authAddress(name), url: `${APP}/private/page?q=1#frag`, user: 'alice', addAuthCookiesToResponse: SESSION_COOKIES });
        expect(login.callback.location).toBe(`${APP}/private/page?q=1`);
        expect(login.final.status).toBe(200);
        const cookieNames = login.jar.all().map((c) => c.name);
        expect(cookieNames).toEqual([`${name}-session`]);
        expect(login.callback.setCookies.some((c) => c.startsWith(`${name}-state.`) && c.includes('Max-Age=0'))).toBe(true);
      });
    }

    it('completes three logins started at once in three tabs', async () => {
      const jar = createCookieJar();
      const providerJar = createCookieJar();
      const tabs = ['/one', '/two', '/three'];
      const starts = [];
      for (const path of tabs) {
        starts.push(await forwardAuth(service.authAddress(), { url: `${APP}${path}`, headers: NAVIGATION_HEADERS }, jar));
      }
      expect(jar.all().filter((c) => c.name.startsWith('test-state.'))).toHaveLength(3);
      const callbacks = [];
      for (const start of starts) callbacks.push(await completeLogin(start.location ?? '', { user: 'alice', jar: providerJar }));
      // Finish in reverse order: each tab's callback finds its own flow.
      const returned = [];
      for (const callback of callbacks.reverse()) {
        const result = await forwardAuth(service.authAddress(), { url: callback, headers: NAVIGATION_HEADERS }, jar);
        expect(result.status).toBe(302);
        returned.push(result.location);
      }
      expect(returned).toEqual(tabs.reverse().map((path) => `${APP}${path}`));
      expect(jar.all().filter((c) => c.name.startsWith('test-state.'))).toEqual([]);
    });

    it('keeps at most four login flows per browser, evicting the oldest', async () => {
      const jar = createCookieJar();
      for (let index = 0; index < 6; index += 1) {
        await forwardAuth(service.authAddress(), { url: `${APP}/tab${index}`, headers: NAVIGATION_HEADERS }, jar);
      }
      expect(jar.all().filter((c) => c.name.startsWith('test-state.'))).toHaveLength(4);
    });

    it('sends the user to postLoginRedirectUrl when the login started at loginUrl', async () => {
      const login = await browserLogin({ authAddress: service.authAddress('gated'), url: `${APP}/login`, user: 'alice', addAuthCookiesToResponse: ['gated-session'] });
      expect(login.callback.location).toBe(`${APP}/welcome`);
      // Coming back to loginUrl while signed in lands there again instead of on a login page.
      const again = await forwardAuth(service.authAddress('gated'), { url: `${APP}/login`, headers: NAVIGATION_HEADERS }, login.jar);
      expect(again.status).toBe(302);
      expect(again.location).toBe(`${APP}/welcome`);
      const elsewhere = await forwardAuth(service.authAddress('gated'), { url: `${APP}/private`, headers: NAVIGATION_HEADERS }, login.jar);
      expect(elsewhere.status).toBe(200);
    });
  });
});
