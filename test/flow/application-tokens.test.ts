/**
 * Issue 20 through the service and the real provider (Traefik's ForwardAuth reproduced in
 * test/support/forward-auth-client.ts; the real nginx and Caddy in
 * test/deploy/application-needs-through-proxies.test.ts): the session's tokens handed to the
 * application, the userinfo URL, and CORS preflights.
 */
import { decodeJwt } from 'jose';
import { request } from 'undici';
import { beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar, type CookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, type ForwardAuthOptions } from '../support/forward-auth-client.js';
import { TEST_APP_ORIGIN, TEST_CLIENT_ID } from '../support/op.js';
import type { TestService } from '../support/service.js';
import { useStack } from '../support/stack.js';

const APP = TEST_APP_ORIGIN;
const ACCESS_TOKEN_TTL = 120;
const FORWARD_HEADERS = { 'X-Forwarded-User': 'email' };
const TOKENS = { accessTokenHeader: 'Authorization', idTokenHeader: 'X-Forwarded-Id-Token' };
const TRAEFIK: ForwardAuthOptions = {
  addAuthCookiesToResponse: ['tokens-session', 'plain-session', 'admins-session'],
  authResponseHeaders: ['X-Forwarded-User', 'Authorization', 'X-Forwarded-Id-Token'],
};
const API = { accept: 'application/json', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' };

const stack = useStack({
  provider: { ttl: { AccessToken: ACCESS_TOKEN_TTL, IdToken: 86400 }, rotateRefreshToken: true, jwtAccessTokens: true },
  service: {
    middlewares: ({ issuer }) => [
      { name: 'tokens', issuer, forwardHeaders: FORWARD_HEADERS, applicationTokens: TOKENS, userinfoUrl: '/oauth2/userinfo', allowCorsPreflight: true },
      { name: 'plain', issuer, forwardHeaders: FORWARD_HEADERS, userinfoUrl: '/oauth2/userinfo' },
      { name: 'admins', issuer, forwardHeaders: FORWARD_HEADERS, applicationTokens: TOKENS, claims: 'Contains(`groups`, `nobody`)' },
    ],
  },
});
let service: TestService;
beforeAll(() => {
  ({ service } = stack());
});

async function login(name: string, user = 'alice'): Promise<CookieJar> {
  const result = await browserLogin({ authAddress: service.authAddress(name), url: `${APP}/`, user, ...TRAEFIK });
  expect(result.callback.status).toBe(302);
  // Neither the callback's 302 nor any answer that goes back to the browser carries a token.
  expect(result.callback.headers.authorization).toBeUndefined();
  expect(result.callback.headers['x-forwarded-id-token']).toBeUndefined();
  return result.jar;
}

function check(name: string, jar: CookieJar | undefined, path = '/api/data', headers: Record<string, string> = API, method = 'GET') {
  return forwardAuth(service.authAddress(name), { method, url: `${APP}${path}`, headers }, jar ?? createCookieJar(), { ...TRAEFIK, preserveRequestMethod: true });
}

function bearerOf(value: string | undefined): string {
  expect(value).toMatch(/^Bearer [A-Za-z0-9._-]+$/);
  return (value ?? '').slice('Bearer '.length);
}

describe('applicationTokens', () => {
  it("hands the application the session's access token as Authorization: Bearer and its ID token, on the 2xx only", async () => {
    const jar = await login('tokens');
    const result = await check('tokens', jar);
    expect(result.status).toBe(200);
    const accessToken = decodeJwt(bearerOf(result.upstreamHeaders.authorization));
    expect(accessToken.sub).toBe('alice');
    expect(accessToken.exp).toBeGreaterThan(service.now());
    const idToken = decodeJwt(result.upstreamHeaders['x-forwarded-id-token'] ?? '');
    expect(idToken.aud).toBe(TEST_CLIENT_ID);
    expect(result.upstreamHeaders['x-forwarded-user']).toBe('alice@example.com');
    // The tokens are never logged.
    expect(service.logger.text()).not.toContain(bearerOf(result.upstreamHeaders.authorization));
    expect(service.logger.text()).not.toContain(result.upstreamHeaders['x-forwarded-id-token']);
  });

  it('passes no token where the option is off', async () => {
    const jar = await login('plain');
    const result = await check('plain', jar);
    expect(result.status).toBe(200);
    expect(result.headers.authorization).toBeUndefined();
    expect(result.headers['x-forwarded-id-token']).toBeUndefined();
  });

  it('refreshes the access token ahead of its expiry, so the application never gets one about to expire', async () => {
    const jar = await login('tokens');
    const first = bearerOf((await check('tokens', jar)).upstreamHeaders.authorization);
    // 20 s before expiry: still valid for the identity (5 s leeway), too close for an application to use.
    const moved = ACCESS_TOKEN_TTL - 20;
    service.advance(moved);
    try {
      const result = await check('tokens', jar);
      expect(result.status).toBe(200);
      const current = bearerOf(result.upstreamHeaders.authorization);
      expect(current).not.toBe(first);
      expect(result.setCookies.some((cookie) => cookie.startsWith('tokens-session='))).toBe(true);
    } finally {
      service.advance(-moved);
    }
  });

  it('refuses (401) a background request whose token expired behind a proxy that cannot take the refreshed cookie', async () => {
    const jar = await login('tokens');
    service.advance(ACCESS_TOKEN_TTL + 10);
    try {
      const result = await forwardAuth(
        service.authAddress('tokens'),
        { url: `${APP}/api/data`, headers: { ...API, 'X-Forward-Auth-Proxy': 'traefik-v2' } },
        jar,
        { ...TRAEFIK, version: 'v2.11' },
      );
      expect(result.status).toBe(401);
      expect(JSON.parse(result.body)).toMatchObject({ error: 'OFA_LOGIN_REQUIRED' });
      expect(result.headers.authorization).toBeUndefined();
    } finally {
      service.advance(-(ACCESS_TOKEN_TTL + 10));
    }
  });

  it('sends no token on a refusal: a 403 of the claims rule carries none', async () => {
    const jar = await login('admins');
    const result = await check('admins', jar);
    expect(result.status).toBe(403);
    expect(result.headers.authorization).toBeUndefined();
    expect(result.headers['x-forwarded-id-token']).toBeUndefined();
    expect(result.body).not.toMatch(/eyJ/);
  });
});

describe('userinfoUrl', () => {
  async function userinfo(name: string, jar: CookieJar | undefined, method = 'GET') {
    // Routed straight to the service (as the recipes do), not as a forward-auth subrequest.
    const cookie = jar?.cookieHeader(`${APP}/oauth2/userinfo`);
    const response = await request(service.authAddress(name), {
      method: method as 'GET',
      headers: {
        accept: 'application/json',
        origin: APP,
        'x-forwarded-proto': 'http',
        'x-forwarded-host': new URL(APP).host,
        'x-forwarded-uri': '/oauth2/userinfo',
        'x-forwarded-method': method,
        ...(cookie === undefined ? {} : { cookie }),
      },
    });
    return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
  }

  it("answers the signed-in user's forwarded identity as JSON, no token, not cacheable, not readable cross-site", async () => {
    const jar = await login('tokens');
    const answer = await userinfo('tokens', jar);
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ 'X-Forwarded-User': 'alice@example.com' });
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(Object.keys(answer.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
    expect(answer.headers.authorization).toBeUndefined();
    expect(answer.headers['x-forwarded-id-token']).toBeUndefined();
  });

  it('answers 401 JSON when signed out, never a login redirect', async () => {
    const answer = await userinfo('plain', undefined);
    expect(answer.status).toBe(401);
    expect(answer.headers.location).toBeUndefined();
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'OFA_LOGIN_REQUIRED' });
  });

  it('answers 405 to a method other than GET and HEAD', async () => {
    const jar = await login('plain');
    const answer = await userinfo('plain', jar, 'POST');
    expect(answer.status).toBe(405);
    expect(answer.headers.allow).toBe('GET, HEAD');
  });
});

describe('allowCorsPreflight', () => {
  const PREFLIGHT = { origin: 'https://spa.example.test', 'access-control-request-method': 'PUT', 'access-control-request-headers': 'content-type' };

  it('lets a preflight through without a session, with every copied header empty', async () => {
    const result = await check('tokens', undefined, '/api/data', { ...PREFLIGHT, 'X-Forwarded-User': 'mallory' }, 'OPTIONS');
    expect(result.status).toBe(200);
    expect(result.upstreamHeaders['x-forwarded-user']).toBe('');
    expect(result.upstreamHeaders.authorization).toBe('');
    expect(result.upstreamHeaders['x-forwarded-id-token']).toBe('');
  });

  it('lets no other OPTIONS, and no other method, through without a session', async () => {
    expect((await check('tokens', undefined, '/api/data', { origin: PREFLIGHT.origin }, 'OPTIONS')).status).toBe(401);
    expect((await check('tokens', undefined, '/api/data', { 'access-control-request-method': 'PUT' }, 'OPTIONS')).status).toBe(401);
    expect((await check('tokens', undefined, '/api/data', PREFLIGHT, 'GET')).status).toBe(401);
    expect((await check('tokens', undefined, '/api/data', PREFLIGHT, 'PUT')).status).toBe(401);
    expect((await check('tokens', undefined, '/api/data', { ...PREFLIGHT, authorization: 'Basic YTpi' }, 'OPTIONS')).status).toBe(401);
  });

  it('is off by default', async () => {
    expect((await check('plain', undefined, '/api/data', PREFLIGHT, 'OPTIONS')).status).toBe(401);
  });
});
