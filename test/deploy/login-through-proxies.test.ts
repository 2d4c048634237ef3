/**
 * The whole login through each real proxy running its shipped recipe — nginx, Caddy (Debian's
 * 2.6.2 and the current v2 release), Traefik v3 and v2.11 over HTTPS — in front of our real
 * service, the real oidc-provider and the demo's echo application, with an HTTP client that
 * behaves like a browser (manual redirects, cookie jar). What every proxy must give is written
 * once; what one proxy does its own way (nginx's own refusal pages, Caddy dropping Set-Cookie on a
 * 2xx auth answer, Traefik's header handling, bearer tokens, back-channel routes and refresh) is in
 * that proxy's block. Headless Chromium signs in through the same recipes in test/browser/.
 */
import { Agent, getGlobalDispatcher, request, setGlobalDispatcher, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EchoedRequest } from '../../deploy/demo/echo-upstream.js';
import { createCookieJar } from '../support/cookie-jar.js';
import { NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import { completeLogin, countGrants, recordBackchannelDeliveries, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type BackchannelDelivery, type GrantCounter } from '../support/op.js';
import { obtainScriptTokens } from '../support/script-tokens.js';
import { useStack, type Stack, type StackOptions } from '../support/stack.js';
import { createTestPki, type TestPki } from '../support/tls.js';
import { CADDY_BUILDS } from './caddy-process.js';
import {
  createHttpBrowser,
  expectAliceSignsInThroughProxy,
  expectSignOutAtProviderEndsSessionThroughProxy,
  expectSignOutThroughProxy,
  loginThroughProxy,
  type HttpAnswer,
} from './http-browser.js';
import {
  ADMINS,
  API_HEADERS,
  CADDY_SESSION_EXPIRY_SECONDS,
  caddyLoginStack,
  DOWN,
  MIDDLEWARE,
  nginxLoginStack,
  SESSION_COOKIE,
  TRAEFIK_ACCESS_TOKEN_TTL,
  TRAEFIK_SESSION_EXPIRY_SECONDS,
  TRAEFIK_VERSIONS,
  traefikLoginStack,
  type TraefikVersion,
} from './login-stacks.js';
import type { RunningProxy } from './proxy.js';
import { traefikVersion } from './traefik-process.js';

const STATE_COOKIE_PREFIX = `${MIDDLEWARE}-state.`;

interface DirectAnswer {
  readonly status: number;
  readonly json: unknown;
}

/**
 * What the service itself answers the request a proxy asks it, asked directly (undici's request,
 * since fetch would replace the Sec-Fetch-* headers with its own).
 */
async function serviceAnswer(
  stack: Stack,
  middleware: string,
  forwarded: { readonly proto: 'http' | 'https'; readonly host: string; readonly extra?: Readonly<Record<string, string>> },
  path: string,
  headers: Readonly<Record<string, string>>,
  cookie?: string,
): Promise<DirectAnswer> {
  const response = await request(stack.service.authAddress(middleware), {
    headers: {
      ...headers,
      ...(cookie === undefined ? {} : { Cookie: cookie }),
      ...forwarded.extra,
      'X-Forwarded-Proto': forwarded.proto,
      'X-Forwarded-Host': forwarded.host,
      'X-Forwarded-Uri': path,
      'X-Forwarded-Method': 'GET',
    },
  });
  expect(response.headers['content-type']).toContain('application/json');
  return { status: response.statusCode, json: await response.body.json() };
}

function echoed(answer: HttpAnswer): EchoedRequest {
  expect(answer.status, answer.body.slice(0, 200)).toBe(200);
  return JSON.parse(answer.body) as EchoedRequest;
}

interface CommonLogin {
  /** How the test names say the proxy. */
  readonly name: string;
  /** The service's confirmation page for a cross-site logout reaches the browser (not nginx's own 403 page). */
  readonly passesLogoutConfirmation: boolean;
}

interface LoginCase extends CommonLogin {
  readonly title: string;
  readonly stack: () => StackOptions | Promise<StackOptions>;
  /** Registers what only this proxy is tested for. */
  readonly own: (stack: () => Stack) => void;
}

const CASES: readonly LoginCase[] = [
  { name: 'nginx', title: 'nginx', stack: nginxLoginStack, passesLogoutConfirmation: false, own: describeNginxOwn },
  ...CADDY_BUILDS.map(
    (build): LoginCase => ({
      name: 'Caddy',
      title: `Caddy (${build} build)`,
      stack: () => caddyLoginStack(build),
      passesLogoutConfirmation: true,
      own: (stack) => describeCaddyOwn(stack, build),
    }),
  ),
];

for (const loginCase of CASES) {
  describe(loginCase.title, () => {
    const stack = useStack(loginCase.stack);
    describeCommonLogin(loginCase, stack);
    loginCase.own(stack);
  });
}

for (const version of TRAEFIK_VERSIONS) {
  describe(`${version.peer} running the shipped dynamic.yml`, () => {
    let pki: TestPki;
    let previousDispatcher: Dispatcher;
    beforeAll(async () => {
      pki = await createTestPki();
      // Every HTTPS request of this block goes to Traefik, whose certificate the test CA signed.
      previousDispatcher = getGlobalDispatcher();
      setGlobalDispatcher(new Agent({ connect: { ca: pki.ca } }));
    });
    afterAll(async () => {
      setGlobalDispatcher(previousDispatcher);
      await pki?.cleanup();
    });
    const stack = useStack(() => traefikLoginStack(version, pki));
    describeCommonLogin({ name: version.peer, passesLogoutConfirmation: true }, stack);
    describeTraefikOwn(stack, version);
  });
}

/** What a browser must get through every proxy's recipe. */
function describeCommonLogin(loginCase: CommonLogin, stack: () => Stack): void {
  describe(`a browser signing in through ${loginCase.name}`, () => {
    it('is sent to the provider, comes back through /callback, and reaches the application as alice', async () => {
      const { site, op } = stack();
      await expectAliceSignsInThroughProxy({ site, issuer: op.issuer, clientID: TEST_CLIENT_ID, middleware: MIDDLEWARE });
    });

    it('gets 401 (no redirect, no state cookie) for a background request without a session', async () => {
      const answer = await createHttpBrowser().send(`${stack().site}/api/items`, { headers: API_HEADERS });
      expect(answer.status).toBe(401);
      expect(answer.location).toBeUndefined();
      expect(answer.setCookies).toEqual([]);
      expect(answer.body).not.toContain('"headers"');
    });

    it('lets the same background request through once signed in', async () => {
      const { site } = stack();
      const { browser } = await loginThroughProxy(`${site}/`, 'bob');
      const answer = await browser.send(`${site}/api/items`, { headers: API_HEADERS });
      expect(answer.status).toBe(200);
      expect((JSON.parse(answer.body) as EchoedRequest).headers['x-forwarded-user']).toBe('bob@example.com');
    });

    it('signs out at /logout: the session cookie is cleared and the browser goes to the end_session endpoint', async () => {
      const { site, op } = stack();
      await expectSignOutThroughProxy({ site, issuer: op.issuer, clientID: TEST_CLIENT_ID, middleware: MIDDLEWARE });
    });

    if (loginCase.passesLogoutConfirmation) {
      it('answers a cross-site logout navigation with a page to confirm on (not 2xx, so the proxy does not pass it on), whose link signs out', async () => {
        const { site, op } = stack();
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
    }

    it('never writes a cookie value, the code or a secret into the service log', async () => {
      const { site, service } = stack();
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
}

/** nginx: its own 403 and 503 pages for a browser, the service's JSON for an API client. */
function describeNginxOwn(stack: () => Stack): void {
  const proxyFor = (middleware: string): RunningProxy => {
    const proxies = stack().proxies;
    const proxy = [MIDDLEWARE, ADMINS, DOWN].indexOf(middleware);
    const found = proxies[proxy];
    if (found === undefined) throw new Error(`no nginx for middleware ${middleware}`);
    return found;
  };
  const direct = (middleware: string, path: string, headers: Readonly<Record<string, string>>, cookie?: string): Promise<DirectAnswer> =>
    serviceAnswer(stack(), middleware, { proto: 'http', host: `127.0.0.1:${proxyFor(middleware).port}` }, path, headers, cookie);

  /** nginx wrote the refusal as JSON, the same status and body as the service's own answer. */
  function expectSameJson(answer: HttpAnswer, service: DirectAnswer): void {
    expect(answer.status).toBe(service.status);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(JSON.parse(answer.body)).toEqual(service.json);
  }

  beforeAll(async () => {
    const { service } = stack();
    await Promise.all([MIDDLEWARE, ADMINS].map((name) => service.app.middlewares.get(name)?.provider.ready()));
  });

  describe('a browser signing in through nginx, as nginx alone is tested', () => {
    it("gets the service's JSON and WWW-Authenticate with its 401 (not a redirect, not 500) for a background request without a session", async () => {
      const answer = await createHttpBrowser().send(`${stack().site}/api/items`, { headers: API_HEADERS });
      expect(answer.headers['www-authenticate']).toBe('Bearer realm="oidc-forward-auth"');
      expectSameJson(answer, await direct(MIDDLEWARE, '/api/items', API_HEADERS));
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'OFA_LOGIN_REQUIRED' });
    });

    it('signs in again on the first try while the browser holds an expired session cookie', async () => {
      const { site } = stack();
      const { browser } = await loginThroughProxy(`${site}/expired`, 'alice');
      // The cookie the browser still sends after the server-side end of its session (expired, or sealed before a change).
      const url = new URL(site);
      browser.jar.setCookie(`${SESSION_COOKIE}=v1.${'A'.repeat(120)}; Path=/; HttpOnly`, url);
      const again = await loginThroughProxy(`${site}/expired?again=1`, 'alice', browser);
      expect(again.start.setCookies).toHaveLength(1);
      expect(again.start.setCookies[0]?.startsWith(STATE_COOKIE_PREFIX)).toBe(true);
      expect(again.callback.location).toBe(`${site}/expired?again=1`);
      const page = await browser.send(`${site}/expired?again=1`, { headers: { Accept: 'application/json', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' } });
      expect(page.status).toBe(200);
      expect((JSON.parse(page.body) as EchoedRequest).headers['x-forwarded-user']).toBe('alice@example.com');
    });

    it('keeps the Cookie header small after four page loads of 3–6 KB URLs, and the last login still completes', async () => {
      const { site } = stack();
      const browser = createHttpBrowser();
      let last;
      for (const [index, kilobytes] of [3, 4, 5, 6].entries()) {
        last = await browser.navigate(`${site}/long/${index}?q=${'x'.repeat(kilobytes * 1024)}`);
        expect(last.status).toBe(302);
        expect(last.setCookies).toHaveLength(1);
        expect((browser.jar.cookieHeader(site) ?? '').length).toBeLessThan(4096);
      }
      const callbackUrl = await completeLogin(last?.location ?? '', { user: 'alice', jar: createCookieJar() });
      const back = await browser.navigate(callbackUrl);
      expect(back.status, back.body.slice(0, 200)).toBe(302);
      expect(back.location).toBe(`${site}/long/3`);
      expect((await browser.navigate(`${site}/long/3`)).status).toBe(200);
    });
  });

  describe('a refusal through nginx', () => {
    it("reaches a signed-in API client whose claims say no as 403 with the service's JSON; a page load gets nginx's 403 page", async () => {
      const admins = proxyFor(ADMINS).url;
      const { browser } = await loginThroughProxy(`${admins}/`, 'bob');
      expect(browser.jar.get(`${ADMINS}-session`)).toBeDefined();
      const cookie = browser.jar.cookieHeader(`${admins}/`);

      const api = await browser.send(`${admins}/api/items`, { headers: API_HEADERS });
      expectSameJson(api, await direct(ADMINS, '/api/items', API_HEADERS, cookie));
      expect(JSON.parse(api.body)).toMatchObject({ error: 'OFA_CLAIMS_DENIED' });
      expect(api.body).not.toContain('"headers"');

      const page = await browser.navigate(`${admins}/reports`);
      expect(page.status).toBe(403);
      expect(page.headers['content-type']).toBe('text/html');
      expect(page.body).not.toContain('"headers"');
    });

    it("answers 503 with the service's Retry-After, not 500, while the provider cannot be reached: JSON to a client asking for it, nginx's page to a browser", async () => {
      const down = proxyFor(DOWN).url;
      const asJson = { ...NAVIGATION_HEADERS, accept: 'application/json' };
      const json = await createHttpBrowser().send(`${down}/reports`, { headers: asJson });
      expectSameJson(json, await direct(DOWN, '/reports', asJson));
      expect(JSON.parse(json.body)).toMatchObject({ error: 'OFA_PROVIDER_UNAVAILABLE' });
      expect(json.headers['retry-after']).toMatch(/^[1-9]\d*$/);

      const page = await createHttpBrowser().navigate(`${down}/reports`);
      expect(page.status).toBe(503);
      expect(page.headers['content-type']).toBe('text/html');
      expect(page.headers['retry-after']).toBe(json.headers['retry-after']);
      expect(page.location).toBeUndefined();
    });
  });
}

/** Caddy: a missing claim's header, and a sliding renewal that must ride a 302 (Caddy drops Set-Cookie on a 2xx auth answer). */
function describeCaddyOwn(stack: () => Stack, build: (typeof CADDY_BUILDS)[number]): void {
  describe('a browser signing in through Caddy, as Caddy alone is tested', () => {
    it("hands the application neither placeholder text nor the client's copy for a missing claim: an empty header on 2.6, none on the current release", async () => {
      const { site } = stack();
      const { browser } = await loginThroughProxy(`${site}/`, 'bob');
      const answer = await browser.send(`${site}/profile`, { headers: { ...API_HEADERS, 'X-Forwarded-Nickname': 'root' } });
      expect(answer.status).toBe(200);
      const echoedRequest = JSON.parse(answer.body) as EchoedRequest;
      expect(echoedRequest.headers['x-forwarded-user']).toBe('bob@example.com');
      expect(echoedRequest.headers['x-forwarded-nickname']).toBe(build === 'debian' ? '' : undefined);
      expect(answer.body).not.toContain('{http.reverse_proxy');
    });
  });

  // Last in the block: it moves the stack's service clock.
  describe('sliding renewal through Caddy', () => {
    it('keeps background requests going without a cookie, then renews on a page load with a 302 back to the same URL', async () => {
      const { site, service } = stack();
      const { browser } = await loginThroughProxy(`${site}/`, 'alice');
      const before = browser.jar.get(SESSION_COOKIE)?.value;
      expect(before).toBeDefined();
      service.advance(Math.floor(CADDY_SESSION_EXPIRY_SECONDS / 10) + 1);

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
      expect(renewed).toContain(`Max-Age=${CADDY_SESSION_EXPIRY_SECONDS}`);
      const after = browser.jar.get(SESSION_COOKIE)?.value;
      expect(after).toBeDefined();
      expect(after).not.toBe(before);

      const landed = await browser.navigate(page, { Accept: 'application/json' });
      expect(landed.status).toBe(200);
      expect(landed.setCookies).toEqual([]);
      const echoedRequest = JSON.parse(landed.body) as EchoedRequest;
      expect(echoedRequest.url).toBe('/reports?month=5');
      expect(echoedRequest.headers['x-forwarded-user']).toBe('alice@example.com');
    });
  });
}

/**
 * Traefik, v3 and v2.11, running the shipped dynamic.yml with only its addresses replaced (plus
 * the additions its comments describe: the v2.11 change, the Authorization line for bearer
 * tokens, a back-channel logout route), over HTTPS, in front of the service configured from the
 * shipped traefik/oidc-forward-auth.yaml. Where the versions differ the test says how.
 */
function describeTraefikOwn(stack: () => Stack, version: TraefikVersion): void {
  let deliveries: readonly BackchannelDelivery[];
  let grants: GrantCounter;
  beforeAll(() => {
    // From the start, before any login: every delivery and grant of the block counts.
    deliveries = recordBackchannelDeliveries(stack().op);
    grants = countGrants(stack().op);
  });

  const direct = (path: string, headers: Readonly<Record<string, string>>, cookie?: string): Promise<DirectAnswer> =>
    serviceAnswer(
      stack(),
      MIDDLEWARE,
      { proto: 'https', host: new URL(stack().site).host, ...(version.peer === 'traefik-v2' ? { extra: { 'X-Forward-Auth-Proxy': 'traefik-v2' } } : {}) },
      path,
      headers,
      cookie,
    );

  describe(`what ${version.peer} alone is tested for`, () => {
    it('is the version line it stands for, and builds the shipped middlewares without an error or a warning about them', () => {
      expect(traefikVersion(version.peer)).toMatch(version.line);
      // Traefik names the middleware in what it logs about one (maxResponseBodySize or
      // trustForwardHeader unset, maxBodySize missing beside forwardBody, ...).
      const complaints = stack()
        .proxy.log()
        .split('\n')
        .filter((line) => /"level":"(error|fatal|panic)"/i.test(line) || (/"level":"warn/i.test(line) && line.includes('"middlewareName"')));
      expect(complaints).toEqual([]);
    });

    it("drops a client's X-Forwarded-Host, -Proto and -Uri at the entry point although trustForwardHeader is on: the login returns to the real site", async () => {
      const { site, service } = stack();
      const answer = await createHttpBrowser().navigate(`${site}/private`, {
        'X-Forwarded-Host': 'evil.example',
        'X-Forwarded-Proto': 'http',
        'X-Forwarded-Uri': '/public',
      });
      expect(answer.status).toBe(302);
      const redirectUri = new URL(answer.location ?? '').searchParams.get('redirect_uri');
      expect(redirectUri).toBe(`${site}/callback`);
      const line = service.logger.records.filter((record) => record.msg === 'forward-auth').at(-1);
      expect(line).toMatchObject({ path: '/private' });
    });

    it("keeps a client's X_Forwarded_User from the application with underscoreHeadersStrategy: delete; Traefik's default lets it through", async () => {
      const { site, proxies } = stack();
      const keeping = proxies[1]?.url ?? '';
      const forged = { ...API_HEADERS, X_Forwarded_User: 'mallory@example.com', 'X-Forwarded-User': 'mallory@example.com' };
      const deleting = await loginThroughProxy(`${site}/`, 'alice');
      const cleaned = echoed(await deleting.browser.send(`${site}/api`, { headers: forged }));
      expect(cleaned.headers['x-forwarded-user']).toBe('alice@example.com');
      expect(cleaned.headers['x_forwarded_user']).toBeUndefined();

      const kept = await loginThroughProxy(`${keeping}/`, 'alice');
      const passed = echoed(await kept.browser.send(`${keeping}/api`, { headers: forged }));
      expect(passed.headers['x-forwarded-user']).toBe('alice@example.com');
      expect(passed.headers['x_forwarded_user']).toBe('mallory@example.com');
    });

    it("answers an API client without a session 401 with the service's JSON and WWW-Authenticate, no redirect, no cookie", async () => {
      const answer = await createHttpBrowser().send(`${stack().site}/api/items`, { headers: API_HEADERS });
      expect(answer.status).toBe(401);
      expect(answer.location).toBeUndefined();
      expect(answer.setCookies).toEqual([]);
      expect(answer.headers['www-authenticate']).toBe('Bearer realm="oidc-forward-auth"');
      const service = await direct('/api/items', API_HEADERS);
      expect(answer.status).toBe(service.status);
      expect(JSON.parse(answer.body)).toEqual(service.json);
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'OFA_LOGIN_REQUIRED' });
    });

    it("refuses carol, whom the claims rule leaves out, 403: the service's JSON to an API client, its page to a browser", async () => {
      const { site } = stack();
      const { browser } = await loginThroughProxy(`${site}/`, 'carol');
      const api = await browser.send(`${site}/api/items`, { headers: API_HEADERS });
      const service = await direct('/api/items', API_HEADERS, browser.jar.cookieHeader(`${site}/`));
      expect(api.status).toBe(403);
      expect(service.status).toBe(403);
      expect(api.headers['content-type']).toContain('application/json');
      expect(JSON.parse(api.body)).toEqual(service.json);
      expect(JSON.parse(api.body)).toMatchObject({ error: 'OFA_CLAIMS_DENIED' });

      const page = await browser.navigate(`${site}/reports`);
      expect(page.status).toBe(403);
      expect(page.headers['content-type']).toContain('text/html');
      expect(page.body).not.toContain('"headers"');
    });

    it('lets a valid bearer token in with the identity headers and keeps it from the application (Authorization in authResponseHeaders); a bad one gets 401 invalid_token', async () => {
      const { site, op } = stack();
      const { accessToken } = await obtainScriptTokens(op, 'alice', { clientId: TEST_CLIENT_ID, clientSecret: TEST_CLIENT_SECRET, redirectUri: `${site}/callback` });
      const app = echoed(await createHttpBrowser().send(`${site}/api/items`, { headers: { accept: 'application/json', authorization: `Bearer ${accessToken}` } }));
      expect(app.headers['x-forwarded-user']).toBe('alice@example.com');
      expect(app.headers['x-forwarded-groups']).toBe('admin,dev');
      expect(app.headers.authorization).toBeUndefined();

      const bad = await createHttpBrowser().send(`${site}/api/items`, { headers: { accept: 'application/json', authorization: 'Bearer not-a-token' } });
      expect(bad.status).toBe(401);
      expect(bad.headers['www-authenticate']).toBe('Bearer realm="oidc-forward-auth", error="invalid_token"');
      expect(bad.location).toBeUndefined();
      expect(JSON.parse(bad.body)).toMatchObject({ error: 'OFA_BEARER_TOKEN_INVALID' });
    });

    it(`ends alice's session when she signs out at the provider: its logout token reaches the service through the ${
      version.peer === 'traefik-v3' ? 'forwardBody + preserveRequestMethod route' : 'direct route'
    }; bob stays`, async () => {
      const { site, op, service } = stack();
      await expectSignOutAtProviderEndsSessionThroughProxy({ site, issuer: op.issuer, deliveries, serviceLogger: service.logger });
    });

    // Last: these move the service's clock.
    it(
      version.passesCookiesOn2xx
        ? 'renews a sliding session on a background request: the new cookie rides its 200, through addAuthCookiesToResponse'
        : 'renews a sliding session on the next page load, with a 302 back to the same URL (a 2xx loses its cookie)',
      async () => {
        const { site, service } = stack();
        const { browser } = await loginThroughProxy(`${site}/`, 'alice');
        const before = browser.jar.get(SESSION_COOKIE)?.value;
        const refreshesBefore = grants.refreshGrants;
        service.advance(TRAEFIK_SESSION_EXPIRY_SECONDS / 10 + 1);

        const background = await browser.send(`${site}/api/items`, { headers: API_HEADERS });
        expect(echoed(background).headers['x-forwarded-user']).toBe('alice@example.com');
        const page = `${site}/reports?month=5`;
        if (version.passesCookiesOn2xx) {
          const renewed = background.setCookies.find((cookie) => cookie.startsWith(`${SESSION_COOKIE}=`));
          // Traefik writes the cookie again from its parsed form: every attribute must survive that.
          expect(renewed).toMatch(/; Path=\/(;|$)/);
          expect(renewed).toContain(`Max-Age=${TRAEFIK_SESSION_EXPIRY_SECONDS}`);
          expect(renewed).toMatch(/; HttpOnly(;|$)/);
          expect(renewed).toMatch(/; Secure(;|$)/);
          expect(renewed).toMatch(/; SameSite=Lax(;|$)/);
          expect(browser.jar.get(SESSION_COOKIE)?.value).not.toBe(before);
          expect(echoed(await browser.navigate(page, { Accept: 'application/json' })).url).toBe('/reports?month=5');
        } else {
          expect(background.setCookies).toEqual([]);
          expect(browser.jar.get(SESSION_COOKIE)?.value).toBe(before);
          const renewal = await browser.navigate(page);
          expect(renewal.status).toBe(302);
          expect(renewal.location).toBe(page);
          expect(renewal.setCookies.find((cookie) => cookie.startsWith(`${SESSION_COOKIE}=`))).toContain(`Max-Age=${TRAEFIK_SESSION_EXPIRY_SECONDS}`);
          expect(browser.jar.get(SESSION_COOKIE)?.value).not.toBe(before);
          expect(echoed(await browser.navigate(page, { Accept: 'application/json' })).url).toBe('/reports?month=5');
        }
        expect(grants.refreshGrants).toBe(refreshesBefore);
      },
    );

    it(
      version.passesCookiesOn2xx
        ? 'refreshes an expired access token on a background request once, the rotated refresh token in the cookie of its 200'
        : 'spends no refresh token on a background request; the next page load refreshes once, on a 302 that carries the new cookie',
      async () => {
        const { site, service } = stack();
        const { browser } = await loginThroughProxy(`${site}/`, 'alice');
        const signedIn = browser.jar.get(SESSION_COOKIE)?.value;
        const refreshesBefore = grants.refreshGrants;
        const errorsBefore = grants.grantErrors;
        service.advance(TRAEFIK_ACCESS_TOKEN_TTL + 10);

        const background = await browser.send(`${site}/api/items`, { headers: API_HEADERS });
        expect(echoed(background).headers['x-forwarded-user']).toBe('alice@example.com');
        const page = `${site}/reports`;
        if (version.passesCookiesOn2xx) {
          expect(grants.refreshGrants).toBe(refreshesBefore + 1);
          expect(background.setCookies.some((cookie) => cookie.startsWith(`${SESSION_COOKIE}=`))).toBe(true);
          expect(browser.jar.get(SESSION_COOKIE)?.value).not.toBe(signedIn);
        } else {
          expect(grants.refreshGrants).toBe(refreshesBefore);
          expect(background.setCookies).toEqual([]);
          const renewal = await browser.navigate(page);
          expect(renewal.status).toBe(302);
          expect(renewal.location).toBe(page);
          expect(grants.refreshGrants).toBe(refreshesBefore + 1);
          expect(browser.jar.get(SESSION_COOKIE)?.value).not.toBe(signedIn);
        }
        expect(echoed(await browser.navigate(page, { Accept: 'application/json' })).headers['x-forwarded-user']).toBe('alice@example.com');

        // The browser holds the rotated refresh token: the next expiry refreshes again, no reuse.
        service.advance(TRAEFIK_ACCESS_TOKEN_TTL + 10);
        const again = version.passesCookiesOn2xx ? await browser.send(`${site}/api/items`, { headers: API_HEADERS }) : await browser.navigate(page);
        expect(again.status).toBe(version.passesCookiesOn2xx ? 200 : 302);
        expect(grants.refreshGrants).toBe(refreshesBefore + 2);
        expect(echoed(await browser.navigate(page, { Accept: 'application/json' })).headers['x-forwarded-user']).toBe('alice@example.com');
        expect(grants.grantErrors).toBe(errorsBefore);
      },
    );
  });
}
