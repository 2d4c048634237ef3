/**
 * A refresh token is spent only when its successor can reach the browser. Behind Traefik v2.11
 * (which passes no Set-Cookie of a 2xx auth answer, and says so with `X-Forward-Auth-Proxy:
 * traefik-v2`), a background request with an expired access token does not refresh a cookie
 * session; a page load does, on a 302. With sessions in Redis the refresh happens as before.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { CookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS, type ForwardAuthOptions } from '../support/forward-auth-client.js';
import { TEST_APP_ORIGIN, countGrants, type GrantCounter } from '../support/op.js';
import { makeRedisMiddlewareConfig, makeRedisStoreConfig } from '../support/redis-service.js';
import type { TestService } from '../support/service.js';
import { useStack } from '../support/stack.js';

const APP = TEST_APP_ORIGIN;
const ACCESS_TOKEN_TTL = 60;
const TRAEFIK_V2: ForwardAuthOptions = { version: 'v2.11', authResponseHeaders: ['X-User'] };
const V2_HEADER = { 'x-forward-auth-proxy': 'traefik-v2' };
const API_HEADERS = { accept: 'application/json', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty', ...V2_HEADER };

describe('an expired access token behind Traefik v2.11', () => {
  const stack = useStack({
    provider: { ttl: { AccessToken: ACCESS_TOKEN_TTL, IdToken: 86_400 }, rotateRefreshToken: true },
    redis: true,
    service: {
      middlewares: ({ issuer, redis }) => [
        makeRedisMiddlewareConfig(makeRedisStoreConfig({ endpoints: [redis?.address ?? ''] }), { name: 'redis', issuer, forwardHeaders: { 'X-User': 'sub' } }),
        { name: 'cookie', issuer, forwardHeaders: { 'X-User': 'sub' } },
      ],
    },
  });
  let service: TestService;
  let grants: GrantCounter;
  beforeAll(() => {
    ({ service } = stack());
    grants = countGrants(stack().op);
  });

  async function login(name: string): Promise<CookieJar> {
    const result = await browserLogin({ authAddress: service.authAddress(name), url: `${APP}/`, user: 'alice', ...TRAEFIK_V2 });
    expect(result.final.status).toBe(200);
    return result.jar;
  }

  function api(name: string, jar: CookieJar) {
    return forwardAuth(service.authAddress(name), { url: `${APP}/api/items`, headers: API_HEADERS }, jar, TRAEFIK_V2);
  }

  it('with a cookie session: a background request goes on as the user without a refresh; a page load refreshes on a 302', async () => {
    const jar = await login('cookie');
    const before = grants.refreshGrants;
    const errors = grants.grantErrors;
    service.advance(ACCESS_TOKEN_TTL + 10);
    const background = await api('cookie', jar);
    expect(background.status).toBe(200);
    expect(background.upstreamHeaders['x-user']).toBe('alice');
    expect(grants.refreshGrants).toBe(before);

    const page = await forwardAuth(service.authAddress('cookie'), { url: `${APP}/reports`, headers: { ...NAVIGATION_HEADERS, ...V2_HEADER } }, jar, TRAEFIK_V2);
    expect(page.status).toBe(302);
    expect(page.location).toBe(`${APP}/reports`);
    expect(page.setCookies.some((c) => c.startsWith('cookie-session=v'))).toBe(true);
    expect(grants.refreshGrants).toBe(before + 1);
    expect((await api('cookie', jar)).status).toBe(200);
    expect(grants.refreshGrants).toBe(before + 1);
    expect(grants.grantErrors).toBe(errors);
  });

  it('with sessions in Redis: a background request refreshes server-side, as before', async () => {
    const jar = await login('redis');
    const before = grants.refreshGrants;
    service.advance(ACCESS_TOKEN_TTL + 10);
    const background = await api('redis', jar);
    expect(background.status).toBe(200);
    expect(background.upstreamHeaders['x-user']).toBe('alice');
    expect(grants.refreshGrants).toBe(before + 1);
    expect((await api('redis', jar)).status).toBe(200);
    expect(grants.refreshGrants).toBe(before + 1);
  });
});
