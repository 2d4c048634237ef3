/**
 * The whole login through real Caddy (Debian's 2.6.2 and the current v2 release) running the
 * shipped example, in front of our real service, the real oidc-provider and the demo's echo
 * application: sign-in, identity headers, API refusals, sliding renewal riding a 302 (Caddy drops
 * Set-Cookie on a 2xx auth answer) and logout.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream, type EchoedRequest } from '../../deploy/demo/echo-upstream.js';
import { startTestProvider, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type DevProvider } from '../support/op.js';
import { startService, type TestService } from '../support/service.js';
import { CADDY_BUILDS, startCaddy, type RunningCaddy } from './caddy-process.js';
import { createHttpBrowser, expectAliceSignsInThroughProxy, expectSignOutThroughProxy, loginThroughProxy } from './http-browser.js';
import { findFreePort } from '../support/scripted-server.js';

const MIDDLEWARE = 'app';
const SESSION_COOKIE = `${MIDDLEWARE}-session`;
const SESSION_EXPIRY_SECONDS = 600;
/** `nickname` is a claim the provider never releases: its header must arrive empty. */
const FORWARD_HEADERS = { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups', 'X-Forwarded-Nickname': 'nickname' };
const API_HEADERS = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' };

describe.each(CADDY_BUILDS)('Caddy (%s build)', (build) => {
  let upstream: EchoUpstream;
  let op: DevProvider;
  let service: TestService;
  let caddy: RunningCaddy;
  let site: string;

  beforeAll(async () => {
    // The provider must know Caddy's origin (redirect_uris) before the service can discover it,
    // and Caddy needs the service's address: Caddy's port is chosen first and started last.
    const caddyPort = await findFreePort();
    site = `http://127.0.0.1:${caddyPort}`;
    upstream = await startEchoUpstream();
    op = await startTestProvider({
      clients: [
        {
          client_id: TEST_CLIENT_ID,
          client_secret: TEST_CLIENT_SECRET,
          redirect_uris: [`${site}/callback`],
          post_logout_redirect_uris: [`${site}/`],
        },
      ],
    });
    service = await startService({
      trustedProxies: ['127.0.0.1/32'],
      middlewares: [
        {
          name: MIDDLEWARE,
          issuer: op.issuer,
          redirectUrl: '/callback',
          logoutUrl: '/logout',
          postLogoutRedirectUrl: '/',
          forwardHeaders: FORWARD_HEADERS,
          session: {
            name: SESSION_COOKIE,
            path: '/',
            domain: undefined,
            sameSite: 'lax',
            httpOnly: true,
            secure: false,
            expiry: SESSION_EXPIRY_SECONDS,
            sliding: true,
            refresh: true,
            maxLifetime: undefined,
            store: undefined,
          },
        },
      ],
    });
    caddy = await startCaddy(
      {
        authAddress: new URL(service.origin).host,
        appAddress: `127.0.0.1:${upstream.port}`,
        middleware: MIDDLEWARE,
        copyHeaders: Object.keys(FORWARD_HEADERS),
      },
      caddyPort,
      build,
    );
  });

  afterAll(async () => {
    await caddy?.stop();
    await service?.stop();
    await op?.stop();
    await upstream?.close();
  });

  describe('a browser signing in through Caddy', () => {
    it('is sent to the provider, comes back through /callback, and reaches the application as alice', async () => {
      await expectAliceSignsInThroughProxy({ site, issuer: op.issuer, clientID: TEST_CLIENT_ID, middleware: MIDDLEWARE });
    });


    it('hands the application neither placeholder text nor the client\'s copy for a missing claim: an empty header on 2.6, none on the current release', async () => {
      const { browser } = await loginThroughProxy(`${site}/`, 'bob');
      const answer = await browser.send(`${site}/profile`, { headers: { ...API_HEADERS, 'X-Forwarded-Nickname': 'root' } });
      expect(answer.status).toBe(200);
      const echoed = JSON.parse(answer.body) as EchoedRequest;
      expect(echoed.headers['x-forwarded-user']).toBe('bob@example.com');
      expect(echoed.headers['x-forwarded-nickname']).toBe(build === 'debian' ? '' : undefined);
      expect(answer.body).not.toContain('{http.reverse_proxy');
    });

    it('gets 401 (no redirect, no state cookie) for a background request without a session', async () => {
      const answer = await createHttpBrowser().send(`${site}/api/items`, { headers: API_HEADERS });
      expect(answer.status).toBe(401);
      expect(answer.location).toBeUndefined();
      expect(answer.setCookies).toEqual([]);
      expect(answer.body).not.toContain('"headers"');
    });

    it('lets the same background request through once signed in', async () => {
      const { browser } = await loginThroughProxy(`${site}/`, 'bob');
      const answer = await browser.send(`${site}/api/items`, { headers: API_HEADERS });
      expect(answer.status).toBe(200);
      expect((JSON.parse(answer.body) as EchoedRequest).headers['x-forwarded-user']).toBe('bob@example.com');
    });

    it('signs out at /logout: the session cookie is cleared and the browser goes to the end_session endpoint', async () => {
      await expectSignOutThroughProxy({ site, issuer: op.issuer, clientID: TEST_CLIENT_ID, middleware: MIDDLEWARE });
    });


    it('answers a cross-site logout navigation with a page to confirm on (not 2xx, so Caddy does not pass it on), whose link signs out', async () => {
      const { browser } = await loginThroughProxy(`${site}/`, 'alice');
      const forced = await browser.navigate(`${site}/logout`, { 'sec-fetch-site': 'cross-site' });
      expect(forced.status).toBe(403);
      expect(forced.setCookies).toEqual([]);
      expect(forced.body).not.toContain('"headers"');
      expect(forced.body).toContain(`href="${site}/logout"`);
      expect(browser.jar.get(SESSION_COOKIE)).toBeDefined();
      expect((await browser.send(`${site}/api/items`, { headers: API_HEADERS })).status).toBe(200);

      const confirmed = await browser.navigate(`${site}/logout`, { 'sec-fetch-site': 'same-origin' });
      expect(confirmed.status).toBe(302);
      expect(confirmed.location?.startsWith(op.issuer)).toBe(true);
      expect(browser.jar.get(SESSION_COOKIE)).toBeUndefined();
    });

    it('never writes a cookie value, the code or a secret into the service log', async () => {
      const login = await loginThroughProxy(`${site}/logged`, 'alice');
      const session = login.browser.jar.get(SESSION_COOKIE)?.value ?? '';
      const code = new URL(login.callbackUrl).searchParams.get('code') ?? '';
      expect(session.length).toBeGreaterThan(20);
      expect(code.length).toBeGreaterThan(10);
      const text = service.logger.text();
      expect(text).not.toContain(session);
      expect(text).not.toContain(code);
      expect(text).not.toContain(TEST_CLIENT_SECRET);
    });
  });

  // Last in the file: it moves the shared service's clock.
  describe('sliding renewal through Caddy', () => {
    it('keeps background requests going without a cookie, then renews on a page load with a 302 back to the same URL', async () => {
      const { browser } = await loginThroughProxy(`${site}/`, 'alice');
      const before = browser.jar.get(SESSION_COOKIE)?.value;
      expect(before).toBeDefined();
      service.advance(Math.floor(SESSION_EXPIRY_SECONDS / 10) + 1);

      // A background request cannot carry the renewal through Caddy; the session is still valid.
      const background = await browser.send(`${site}/api/items`, { headers: API_HEADERS });
      expect(background.status).toBe(200);
      expect(background.setCookies).toEqual([]);
      expect(browser.jar.get(SESSION_COOKIE)?.value).toBe(before);

      const page = `${site}/reports?month=5`;
      const renewal = await browser.navigate(page);
      expect(renewal.status).toBe(302);
      expect(renewal.location).toBe(page);
      const renewed = renewal.setCookies.find((cookie) => cookie.startsWith(`${SESSION_COOKIE}=`));
      expect(renewed).toContain(`Max-Age=${SESSION_EXPIRY_SECONDS}`);
      const after = browser.jar.get(SESSION_COOKIE)?.value;
      expect(after).toBeDefined();
      expect(after).not.toBe(before);

      const landed = await browser.navigate(page, { Accept: 'application/json' });
      expect(landed.status).toBe(200);
      expect(landed.setCookies).toEqual([]);
      const echoed = JSON.parse(landed.body) as EchoedRequest;
      expect(echoed.url).toBe('/reports?month=5');
      expect(echoed.headers['x-forwarded-user']).toBe('alice@example.com');
    });
  });
});
