import { beforeAll, describe, expect, it } from 'vitest';
import type { CookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS, type ForwardAuthOptions } from '../support/forward-auth-client.js';
import { TEST_APP_ORIGIN, type DevProvider } from '../support/op.js';
import type { TestService } from '../support/service.js';
import { useStack } from '../support/stack.js';

const APP = TEST_APP_ORIGIN;
const EXPIRY = 1000;
const MAX_LIFETIME = 300;
const TRAEFIK: ForwardAuthOptions = { addAuthCookiesToResponse: ['capped-session', 'open-session'], authResponseHeaders: ['X-User'] };

function sessionOptions(name: string, maxLifetime: number | undefined) {
  return { name: `${name}-session`, path: '/', domain: undefined, sameSite: 'lax' as const, httpOnly: true, secure: false, expiry: EXPIRY, maxLifetime, sliding: true, refresh: true, store: undefined };
}

describe('session.maxLifetime', () => {
  const stack = useStack({
    provider: { ttl: { AccessToken: 86400, IdToken: 86400 } },
    service: {
      middlewares: ({ issuer }) => [
        { name: 'capped', issuer, forwardHeaders: { 'X-User': 'sub' }, session: sessionOptions('capped', MAX_LIFETIME) },
        { name: 'open', issuer, forwardHeaders: { 'X-User': 'sub' }, session: sessionOptions('open', undefined) },
      ],
    },
  });
  let op: DevProvider;
  let service: TestService;
  beforeAll(() => {
    ({ op, service } = stack());
  });

  async function login(name: string): Promise<CookieJar> {
    const result = await browserLogin({ authAddress: service.authAddress(name), url: `${APP}/`, user: 'alice', ...TRAEFIK });
    expect(result.final.status).toBe(200);
    return result.jar;
  }

  function api(name: string, jar: CookieJar) {
    return forwardAuth(service.authAddress(name), { url: `${APP}/api`, headers: { accept: 'application/json', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' } }, jar, TRAEFIK);
  }

  it('ends a sliding session in constant use once maxLifetime has passed since sign-in', async () => {
    const jar = await login('capped');
    // Used every 100 s: sliding keeps it alive well within expiry…
    for (let elapsed = 100; elapsed < MAX_LIFETIME; elapsed += 100) {
      service.advance(100);
      const ok = await api('capped', jar);
      expect(ok.status, `after ${elapsed}s`).toBe(200);
      // …but a renewed cookie never outlives the absolute lifetime.
      for (const cookie of ok.authSetCookies.filter((c) => c.startsWith('capped-session=v'))) {
        const maxAge = Number(/Max-Age=(\d+)/.exec(cookie)?.[1]);
        expect(maxAge, `after ${elapsed}s`).toBeLessThanOrEqual(MAX_LIFETIME - elapsed + 1);
      }
    }
    service.advance(100);
    const ended = await api('capped', jar);
    expect(ended.status).toBe(401);
    expect(ended.upstreamHeaders).toEqual({});
    expect(ended.authSetCookies.some((c) => c.startsWith('capped-session=;') && /Max-Age=0\b/.test(c))).toBe(true);
    const page = await forwardAuth(service.authAddress('capped'), { url: `${APP}/`, headers: NAVIGATION_HEADERS }, jar, TRAEFIK);
    expect(page.status).toBe(302);
    expect(page.location?.startsWith(op.issuer)).toBe(true);
  });

  it('is off by default: the same use keeps a session without it alive', async () => {
    const jar = await login('open');
    for (let step = 0; step < 4; step += 1) {
      service.advance(100);
      expect((await api('open', jar)).status).toBe(200);
    }
  });
});
