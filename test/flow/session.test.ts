import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar, type CookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS, type ForwardAuthOptions } from '../support/forward-auth-client.js';
import { DEV_USERS, startTestProvider, TEST_APP_ORIGIN, type DevProvider } from '../support/op.js';
import { startService, type TestService } from '../support/service.js';

const APP = TEST_APP_ORIGIN;
const ACCESS_TOKEN_TTL = 60;
const TRAEFIK: ForwardAuthOptions = {
  addAuthCookiesToResponse: ['test-session', 'fixed-session', 'rotating-session', 'claims-session', 'norefresh-session'],
  authResponseHeaders: ['X-User', 'X-Groups', 'X-Email', 'X-Missing', 'X-Name', 'X-Access-Sub'],
};

function apiHeaders(): Record<string, string> {
  return { accept: 'application/json', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' };
}

describe('an authenticated session', () => {
  let op: DevProvider;
  let rotatingOp: DevProvider;
  let service: TestService;

  beforeAll(async () => {
    // The ID token outlives the clock jumps below; the access token does not.
    op = await startTestProvider({ ttl: { AccessToken: ACCESS_TOKEN_TTL, IdToken: 86400 }, rotateRefreshToken: false, jwtAccessTokens: true });
    rotatingOp = await startTestProvider({ ttl: { AccessToken: ACCESS_TOKEN_TTL, IdToken: 86400 }, rotateRefreshToken: true });
    const forwardHeaders = { 'X-User': 'sub', 'X-Groups': 'groups', 'X-Email': 'id_token.email', 'X-Missing': 'no_such_claim', 'X-Name': 'name', 'X-Access-Sub': 'access_token.sub' };
    service = await startService({
      middlewares: [
        { name: 'test', issuer: op.issuer, forwardHeaders, usernameClaim: 'preferred_username', session: sessionOptions('test', { expiry: 1000 }) },
        { name: 'fixed', issuer: op.issuer, session: sessionOptions('fixed', { expiry: 200, sliding: false }) },
        { name: 'norefresh', issuer: op.issuer, session: sessionOptions('norefresh', { refresh: false }) },
        { name: 'rotating', issuer: rotatingOp.issuer, session: sessionOptions('rotating', {}) },
        { name: 'claims', issuer: op.issuer, claims: 'Contains(`groups`, `admin`) && !Equals(`preferred_username`, `mallory`)' },
      ],
    });
  });
  afterAll(async () => {
    await service?.stop();
    await op?.stop();
    await rotatingOp?.stop();
  });

  function sessionOptions(name: string, overrides: Record<string, unknown>) {
    return { name: `${name}-session`, path: '/', domain: undefined, sameSite: 'lax' as const, httpOnly: true, secure: false, expiry: 86400, sliding: true, refresh: true, maxLifetime: undefined, store: undefined, ...overrides };
  }

  async function login(name: string, user = 'alice'): Promise<CookieJar> {
    const result = await browserLogin({ authAddress: service.authAddress(name), url: `${APP}/`, user, ...TRAEFIK });
    expect(result.callback.status).toBe(302);
    return result.jar;
  }

  function check(name: string, jar: CookieJar, headers: Record<string, string> = apiHeaders(), method = 'GET') {
    return forwardAuth(service.authAddress(name), { method, url: `${APP}/api/data`, headers }, jar, { ...TRAEFIK, preserveRequestMethod: true });
  }

  it('forwards the configured claims as headers, the client’s own copies never surviving', async () => {
    const jar = await login('test');
    const result = await forwardAuth(
      service.authAddress(),
      { url: `${APP}/api`, headers: { ...apiHeaders(), 'X-User': 'mallory', 'x-missing': 'spoofed', 'X-Groups': 'admin' } },
      jar,
      TRAEFIK,
    );
    expect(result.status).toBe(200);
    expect(result.upstreamHeaders['x-user']).toBe('alice');
    expect(result.upstreamHeaders['x-groups']).toBe('admin,dev');
    expect(result.upstreamHeaders['x-email']).toBe(DEV_USERS.alice?.claims.email);
    expect(result.upstreamHeaders['x-missing']).toBe('');
    expect(result.upstreamHeaders['x-access-sub']).toBe('alice');
    expect(result.headers['x-missing']).toBe('');
  });

  it('names the user in the access log line (usernameClaim) and never logs the cookie, codes or tokens', async () => {
    const jar = await login('test');
    await check('test', jar);
    const lines = service.logger.records.filter((r) => r.msg === 'forward-auth' && r.middleware === 'test' && r.decision === 'allow');
    expect(lines.at(-1)?.clientusername).toBe('alice');
    const text = service.logger.text();
    const sessionValue = jar.get('test-session')?.value ?? '';
    expect(sessionValue.length).toBeGreaterThan(100);
    expect(text).not.toContain(sessionValue.slice(3, 60));
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
    expect(text).not.toContain('code=');
  });

  it('answers 403 when the claims expression says no, and 200 when it says yes', async () => {
    expect((await check('claims', await login('claims', 'alice'))).status).toBe(200);
    const denied = await check('claims', await login('claims', 'bob'));
    expect(denied.status).toBe(403);
    expect(denied.forwardedHeaders).toEqual({});
    expect(service.logger.records.some((r) => r.msg === 'claims expression denied the request')).toBe(true);
  });

  it('ends when session.expiry has passed without activity', async () => {
    const jar = await login('fixed');
    service.advance(201);
    try {
      const result = await check('fixed', jar);
      expect(result.status).toBe(401);
      expect(result.forwardedHeaders).toEqual({});
      const page = await check('fixed', jar, NAVIGATION_HEADERS);
      expect(page.status).toBe(302);
    } finally {
      service.advance(-201);
    }
  });

  it('slides: a request after a tenth of the lifetime renews the cookie, and activity keeps it alive past expiry', async () => {
    const jar = await login('test');
    const first = await check('test', jar);
    expect(first.authSetCookies).toEqual([]);
    let moved = 0;
    try {
      for (let step = 0; step < 3; step += 1) {
        service.advance(40);
        moved += 40;
        // Keep the access token fresh for this test: sliding is about the session lifetime.
        const renewed = await check('test', jar);
        expect(renewed.status).toBe(200);
      }
      service.advance(600);
      moved += 600;
      const renewal = await check('test', jar);
      expect(renewal.status).toBe(200);
      expect(renewal.setCookies.some((c) => c.startsWith('test-session=') && c.includes('Max-Age=1000'))).toBe(true);
      service.advance(900);
      moved += 900;
      // 1660 s after login, but only 900 s after the last renewal.
      expect((await check('test', jar)).status).toBe(200);
    } finally {
      service.advance(-moved);
    }
  });

  it('renews through a proxy that drops 2xx cookies (Caddy) with a 302 back to the same page, and not on background requests', async () => {
    const jar = await login('test');
    service.advance(150);
    try {
      const api = await forwardAuth(service.authAddress(), { url: `${APP}/api`, headers: { ...apiHeaders(), 'x-forward-auth-proxy': 'caddy' } }, jar);
      expect(api.status).toBe(200);
      const page = await forwardAuth(service.authAddress(), { url: `${APP}/page?a=1`, headers: { ...NAVIGATION_HEADERS, 'x-forward-auth-proxy': 'caddy' } }, jar);
      expect(page.status).toBe(302);
      expect(page.location).toBe(`${APP}/page?a=1`);
      expect(page.setCookies.some((c) => c.startsWith('test-session=') && c.includes('Max-Age=1000'))).toBe(true);
      // With the renewed cookie the page loads: no second hop.
      const again = await forwardAuth(service.authAddress(), { url: `${APP}/page?a=1`, headers: { ...NAVIGATION_HEADERS, 'x-forward-auth-proxy': 'caddy' } }, jar);
      expect(again.status).toBe(200);
    } finally {
      service.advance(-150);
    }
  });

  it('does not slide when session.sliding is false', async () => {
    const jar = await login('fixed');
    // Past a tenth of the 200 s lifetime, before the access token needs a refresh.
    service.advance(45);
    try {
      const result = await check('fixed', jar);
      expect(result.status).toBe(200);
      expect(result.authSetCookies.filter((c) => c.startsWith('fixed-session='))).toEqual([]);
      const sliding = await login('test');
      const slid = await check('test', sliding);
      expect(slid.authSetCookies).toEqual([]);
    } finally {
      service.advance(-45);
    }
  });

  it('refreshes an expired access token once and keeps the user signed in', async () => {
    const jar = await login('test');
    service.advance(ACCESS_TOKEN_TTL + 10);
    try {
      const result = await check('test', jar);
      expect(result.status).toBe(200);
      expect(result.setCookies.some((c) => c.startsWith('test-session='))).toBe(true);
      const again = await check('test', jar);
      expect(again.status).toBe(200);
      expect(again.authSetCookies).toEqual([]);
    } finally {
      service.advance(-(ACCESS_TOKEN_TTL + 10));
    }
  });

  it('ends the session when the access token expires and refresh is off', async () => {
    const jar = await login('norefresh');
    service.advance(ACCESS_TOKEN_TTL + 10);
    try {
      const result = await check('norefresh', jar);
      expect(result.status).toBe(401);
      expect(result.authSetCookies.some((c) => c.startsWith('norefresh-session=;') && c.includes('Max-Age=0'))).toBe(true);
    } finally {
      service.advance(-(ACCESS_TOKEN_TTL + 10));
    }
  });

  it('spends a rotating refresh token once when ten requests arrive at the moment of expiry', async () => {
    const jar = await login('rotating');
    let grants = 0;
    rotatingOp.provider.on('grant.success', (...args: unknown[]) => {
      const ctx = args[0] as { oidc?: { params?: { grant_type?: string } } };
      if (ctx.oidc?.params?.grant_type === 'refresh_token') grants += 1;
    });
    service.advance(ACCESS_TOKEN_TTL + 10);
    try {
      // Every request carries the old cookie: none of the answers reach the jar before the others leave.
      const cookie = jar.cookieHeader(`${APP}/api/data`) ?? '';
      const results = await Promise.all(
        Array.from({ length: 10 }, () =>
          forwardAuth(service.authAddress('rotating'), { url: `${APP}/api/data`, headers: { ...apiHeaders(), cookie } }, createCookieJar()),
        ),
      );
      expect(results.map((r) => r.status)).toEqual(Array(10).fill(200));
      expect(grants).toBe(1);
      // A late request with the old cookie gets the shared result, not a second refresh.
      const late = await forwardAuth(service.authAddress('rotating'), { url: `${APP}/api/data`, headers: { ...apiHeaders(), cookie } }, createCookieJar());
      expect(late.status).toBe(200);
      expect(grants).toBe(1);
      // The renewed cookie works and carries the rotated refresh token.
      const renewed = createCookieJar();
      renewed.setCookies(results[0]?.authSetCookies ?? [], `${APP}/api/data`);
      service.advance(ACCESS_TOKEN_TTL + 10);
      const next = await forwardAuth(service.authAddress('rotating'), { url: `${APP}/api/data`, headers: apiHeaders() }, renewed);
      expect(next.status).toBe(200);
      expect(grants).toBe(2);
      service.advance(-(ACCESS_TOKEN_TTL + 10));
    } finally {
      service.advance(-(ACCESS_TOKEN_TTL + 10));
    }
  });

  it('ends the session without a loop when the provider refuses the refresh (invalid_grant)', async () => {
    const jar = await login('rotating');
    const cookie = jar.cookieHeader(`${APP}/`) ?? '';
    service.advance(ACCESS_TOKEN_TTL + 10);
    // A second replica with the same secrets but its own memory: it cannot know the token was spent.
    const replica = await startService({ middlewares: [{ name: 'rotating', issuer: rotatingOp.issuer }] });
    replica.advance(ACCESS_TOKEN_TTL + 10);
    try {
      const first = await forwardAuth(service.authAddress('rotating'), { url: `${APP}/a`, headers: { ...apiHeaders(), cookie } }, createCookieJar());
      expect(first.status).toBe(200);
      const refused = await forwardAuth(replica.authAddress('rotating'), { url: `${APP}/a`, headers: { ...apiHeaders(), cookie } }, createCookieJar());
      expect(refused.status).toBe(401);
      expect(refused.authSetCookies.some((c) => c.startsWith('rotating-session=;') && c.includes('Max-Age=0'))).toBe(true);
      const browser = createCookieJar();
      browser.setCookies(refused.authSetCookies, `${APP}/a`);
      expect(browser.get('rotating-session')).toBeUndefined();
      // A page load now starts one fresh login instead of retrying the dead token.
      const page = await forwardAuth(replica.authAddress('rotating'), { url: `${APP}/a`, headers: { ...NAVIGATION_HEADERS, cookie } }, browser);
      expect(page.status).toBe(302);
      expect(page.location).toContain('/auth?');
    } finally {
      service.advance(-(ACCESS_TOKEN_TTL + 10));
      await replica.stop();
    }
  });
});
