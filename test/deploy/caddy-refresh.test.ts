/**
 * A refresh token is spent only when its successor can reach the browser. Caddy passes no
 * Set-Cookie of a 2xx forward-auth answer: with cookie sessions, a background request whose access
 * token has expired goes on with the still-valid session, and the refresh waits for the next page
 * load, whose 302 back to the same URL carries the new cookie. Real Caddy (Debian's 2.6.2 and the
 * current v2 release), the real oidc-provider rotating refresh tokens and revoking the whole grant
 * when a spent one comes back.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { EchoedRequest } from '../../deploy/demo/echo-upstream.js';
import { countGrants, type GrantCounter } from '../support/op.js';
import type { TestService } from '../support/service.js';
import { PROXIED_MIDDLEWARE, useStack } from '../support/stack.js';
import { CADDY_BUILDS } from './caddy-process.js';
import { loginThroughProxy } from './http-browser.js';

const MIDDLEWARE = PROXIED_MIDDLEWARE;
const SESSION_COOKIE = `${MIDDLEWARE}-session`;
const ACCESS_TOKEN_TTL = 60;
/** Long enough that sliding renewal plays no part here. */
const SESSION_EXPIRY_SECONDS = 100_000;
const FORWARD_HEADERS = { 'X-Forwarded-User': 'email' };
const API_HEADERS = { Accept: 'application/json', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty', 'Sec-Fetch-Site': 'same-origin' };

describe.each(CADDY_BUILDS)('Caddy (%s build)', (build) => {
  const stack = useStack({
    proxies: [{ kind: 'caddy', build, copyHeaders: Object.keys(FORWARD_HEADERS) }],
    provider: { ttl: { AccessToken: ACCESS_TOKEN_TTL, IdToken: 86_400 }, rotateRefreshToken: true },
    service: {
      middlewares: ({ issuer }) => [
        {
          name: MIDDLEWARE,
          issuer,
          redirectUrl: '/callback',
          forwardHeaders: FORWARD_HEADERS,
          session: {
            name: SESSION_COOKIE, path: '/', domain: undefined, sameSite: 'lax', httpOnly: true, secure: false,
            expiry: SESSION_EXPIRY_SECONDS, sliding: true, refresh: true, maxLifetime: undefined, store: undefined,
          },
        },
      ],
    },
  });
  let service: TestService;
  let site: string;
  let grants: GrantCounter;

  beforeAll(() => {
    ({ service, site } = stack());
    grants = countGrants(stack().op);
  });

  describe('an expired access token behind Caddy, with cookie sessions and rotating refresh tokens', () => {
    it('is not refreshed by a background request; the next page load refreshes once, on a 302 that carries the new cookie', async () => {
      const { browser } = await loginThroughProxy(`${site}/`, 'alice');
      const signedIn = browser.jar.get(SESSION_COOKIE)?.value;
      expect(signedIn).toBeDefined();
      const grantsBefore = grants.refreshGrants;
      const errorsBefore = grants.grantErrors;
      service.advance(ACCESS_TOKEN_TTL + 10);

      // The session is still valid: the request goes on as alice, and no refresh token is spent for a
      // cookie Caddy would drop.
      for (let i = 0; i < 3; i += 1) {
        const background = await browser.send(`${site}/api/items`, { headers: API_HEADERS });
        expect(background.status).toBe(200);
        expect(background.setCookies).toEqual([]);
        expect((JSON.parse(background.body) as EchoedRequest).headers['x-forwarded-user']).toBe('alice@example.com');
      }
      expect(grants.refreshGrants).toBe(grantsBefore);
      expect(browser.jar.get(SESSION_COOKIE)?.value).toBe(signedIn);

      const page = `${site}/reports?month=5`;
      const renewal = await browser.navigate(page);
      expect(renewal.status).toBe(302);
      expect(renewal.location).toBe(page);
      expect(grants.refreshGrants).toBe(grantsBefore + 1);
      const refreshed = browser.jar.get(SESSION_COOKIE)?.value;
      expect(refreshed).toBeDefined();
      expect(refreshed).not.toBe(signedIn);

      const landed = await browser.navigate(page, { Accept: 'application/json' });
      expect(landed.status).toBe(200);
      expect((JSON.parse(landed.body) as EchoedRequest).headers['x-forwarded-user']).toBe('alice@example.com');
      expect(grants.refreshGrants).toBe(grantsBefore + 1);

      // The browser holds the rotated refresh token: the next expiry refreshes again, with no reuse
      // at the provider and the grant intact.
      service.advance(ACCESS_TOKEN_TTL + 10);
      expect((await browser.send(`${site}/api/items`, { headers: API_HEADERS })).status).toBe(200);
      const again = await browser.navigate(page);
      expect(again.status).toBe(302);
      expect(grants.refreshGrants).toBe(grantsBefore + 2);
      expect((await browser.navigate(page, { Accept: 'application/json' })).status).toBe(200);
      expect(grants.grantErrors).toBe(errorsBefore);
    });
  });
});
