/**
 * Logouts belong to the middleware, not to one generation of its cookie store: a reload that
 * builds a new store (the secrets rotated with the old one kept, as the README says to do, or
 * another session.expiry) must not open a cookie that was logged out before it.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { Config, MiddlewareConfig } from '../../src/config/types.js';
import { createCookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import { TEST_APP_ORIGIN } from '../support/op.js';
import { TEST_SECRET, type TestService } from '../support/service.js';
import { useStack } from '../support/stack.js';

const NAME = 'reloaded';
const COOKIES = { addAuthCookiesToResponse: [`${NAME}-session`] };
const API = { accept: 'application/json', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' };
const NEW_SECRET = 'a-rotated-secret-that-is-long-enough-987654';

describe('a logged-out cookie across configuration reloads', () => {
  const stack = useStack({
    service: {
      middlewares: ({ issuer }) => [
        {
          name: NAME,
          issuer,
          logoutUrl: '/logout',
          session: { name: `${NAME}-session`, path: '/', domain: undefined, sameSite: 'lax', httpOnly: true, secure: false, expiry: 86400, sliding: false, refresh: true, maxLifetime: undefined, store: undefined },
        },
      ],
    },
  });
  let service: TestService;
  beforeAll(() => {
    ({ service } = stack());
  });

  async function reload(server: Partial<Config['server']>, session: Partial<MiddlewareConfig['session']> = {}): Promise<void> {
    const current = service.app.middlewares.get(NAME)?.config as MiddlewareConfig;
    const next: Config = {
      ...service.config,
      server: { ...service.config.server, ...server },
      middlewares: { [NAME]: { ...current, session: { ...current.session, ...session } } },
    };
    await service.app.reload(next).retired;
  }

  /** An API call carrying exactly this Cookie header. */
  const status = async (cookie: string): Promise<number> =>
    (await forwardAuth(service.authAddress(NAME), { url: `${TEST_APP_ORIGIN}/api/data`, headers: { ...API, cookie } }, createCookieJar())).status;

  it('stays refused after the secrets rotate and after session.expiry changes', async () => {
    const loggedOut = await browserLogin({ authAddress: service.authAddress(NAME), url: `${TEST_APP_ORIGIN}/`, ...COOKIES });
    const kept = await browserLogin({ authAddress: service.authAddress(NAME), url: `${TEST_APP_ORIGIN}/`, ...COOKIES });
    const copied = loggedOut.jar.cookieHeader(`${TEST_APP_ORIGIN}/`) ?? '';
    const other = kept.jar.cookieHeader(`${TEST_APP_ORIGIN}/`) ?? '';
    expect(await status(copied)).toBe(200);

    const logout = await forwardAuth(service.authAddress(NAME), { url: `${TEST_APP_ORIGIN}/logout`, headers: NAVIGATION_HEADERS }, loggedOut.jar, COOKIES);
    expect(logout.status).toBe(302);
    expect(await status(copied)).toBe(401);

    // The new secret seals, the old one still opens: the other user stays signed in.
    await reload({ secrets: [NEW_SECRET, TEST_SECRET] });
    expect(await status(other)).toBe(200);
    expect(await status(copied)).toBe(401);

    await reload({}, { expiry: 3600 });
    expect(await status(other)).toBe(200);
    expect(await status(copied)).toBe(401);

    await reload({}, { expiry: 7 * 86400 });
    expect(await status(other)).toBe(200);
    expect(await status(copied)).toBe(401);
  });
});
