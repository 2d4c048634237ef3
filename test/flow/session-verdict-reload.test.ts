/**
 * The claims rule's answer and the forwarded header values are worked out once per session and
 * reused while its cookie comes back: a configuration reload must still change them at once,
 * for the same cookie, in both directions.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Config, MiddlewareConfig } from '../../src/config/types.js';
import { type CookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS, type ForwardAuthOptions } from '../support/forward-auth-client.js';
import { TEST_APP_ORIGIN, type DevProvider } from '../support/op.js';
import type { TestService } from '../support/service.js';
import { useStack } from '../support/stack.js';

const TRAEFIK: ForwardAuthOptions = { addAuthCookiesToResponse: ['verdict-session'], authResponseHeaders: ['X-User', 'X-Subject'] };
const API = { accept: 'application/json', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' };

describe('a signed-in session across configuration reloads', () => {
  const stack = useStack({
    service: {
      middlewares: ({ issuer }) => [
        {
          name: 'verdict',
          issuer,
          claims: 'Equals(`sub`, `alice`)',
          forwardHeaders: { 'X-User': 'sub' },
          session: { name: 'verdict-session', path: '/', domain: undefined, sameSite: 'lax', httpOnly: true, secure: false, expiry: 86400, sliding: false, refresh: true, maxLifetime: undefined, store: undefined },
        },
      ],
    },
  });
  let op: DevProvider;
  let service: TestService;
  beforeAll(() => {
    ({ op, service } = stack());
  });

  function reloadWith(change: Partial<MiddlewareConfig>): Promise<void> {
    const current = service.app.middlewares.get('verdict')?.config as MiddlewareConfig;
    const next: Config = { ...service.config, middlewares: { verdict: { ...current, ...change } } };
    return service.app.reload(next).retired;
  }

  const check = (jar: CookieJar) => forwardAuth(service.authAddress('verdict'), { url: `${TEST_APP_ORIGIN}/api/data`, headers: API }, jar, TRAEFIK);

  it('answers with the rule and headers of the configuration serving now, for the same cookie', async () => {
    const login = await browserLogin({ authAddress: service.authAddress('verdict'), url: `${TEST_APP_ORIGIN}/`, user: 'alice', ...TRAEFIK });
    expect(login.callback.status).toBe(302);
    const { jar } = login;

    for (let round = 0; round < 2; round++) {
      const allowed = await check(jar);
      expect(allowed.status).toBe(200);
      expect(allowed.headers['x-user']).toBe('alice');
    }

    await reloadWith({ claims: 'Equals(`sub`, `bob`)' });
    expect((await check(jar)).status).toBe(403);
    expect((await check(jar)).status).toBe(403);

    await reloadWith({ claims: 'Equals(`sub`, `alice`)', forwardHeaders: { 'X-Subject': 'sub' } });
    const changed = await check(jar);
    expect(changed.status).toBe(200);
    expect(changed.headers['x-user']).toBeUndefined();
    // The session keeps only the claims its login's configuration referenced: `sub` is always among them.
    expect(changed.headers['x-subject']).toBe('alice');
  });

  it('renews a session that lacks a claim the reloaded configuration reads, never answering 200 without it', async () => {
    await reloadWith({ claims: 'Equals(`sub`, `alice`)', forwardHeaders: { 'X-User': 'sub' } });
    const login = await browserLogin({ authAddress: service.authAddress('verdict'), url: `${TEST_APP_ORIGIN}/`, user: 'alice', ...TRAEFIK });
    const { jar, providerJar } = login;
    expect((await check(jar)).status).toBe(200);
    const seeing = (headers: string[]): ForwardAuthOptions => ({ ...TRAEFIK, authResponseHeaders: headers });

    // The session kept `sub` only. With a refresh token, a refresh brings the claim now read.
    await reloadWith({ forwardHeaders: { 'X-User': 'sub', 'X-Email': 'email' } });
    const refreshed = await forwardAuth(service.authAddress('verdict'), { url: `${TEST_APP_ORIGIN}/api/data`, headers: API }, jar, seeing(['X-User', 'X-Email']));
    expect(refreshed.status).toBe(200);
    expect(refreshed.headers['x-email']).toBe('alice@example.com');

    // Without refresh, a background call is refused and a page load signs in again.
    await reloadWith({ forwardHeaders: { 'X-User': 'sub', 'X-Name': 'name' }, session: { ...(service.app.middlewares.get('verdict')?.config as MiddlewareConfig).session, refresh: false } });
    const named = seeing(['X-User', 'X-Name']);
    const api = await forwardAuth(service.authAddress('verdict'), { url: `${TEST_APP_ORIGIN}/api/data`, headers: API }, jar, named);
    expect(api.status).toBe(401);
    const page = await forwardAuth(service.authAddress('verdict'), { url: `${TEST_APP_ORIGIN}/page`, headers: NAVIGATION_HEADERS }, jar, named);
    expect(page.status).toBe(302);
    expect(page.location?.startsWith(`${op.issuer}/auth?`)).toBe(true);
    const again = await browserLogin({ authAddress: service.authAddress('verdict'), url: `${TEST_APP_ORIGIN}/page`, jar, providerJar, ...named });
    expect(again.final.status).toBe(200);
    expect(again.final.headers['x-name']).toBe('Alice Admin');
  });
});
