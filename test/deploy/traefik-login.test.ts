/**
 * Real Traefik, v3 and v2.11 (the pinned builds of deploy/peers/), running the shipped
 * traefik/dynamic.yml with only its addresses replaced (plus the additions its comments describe:
 * the v2.11 change, the Authorization line for bearer tokens, a back-channel logout route), over
 * HTTPS, in front of our service configured from the shipped traefik/oidc-forward-auth.yaml, the
 * real oidc-provider and the demo's echo application. One provider, service and Traefik per
 * version; the same tests for both, where the versions differ the test says how.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent, getGlobalDispatcher, request, setGlobalDispatcher, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEV_USERS } from '../../deploy/demo/dev-provider.js';
import { startEchoUpstream, type EchoedRequest, type EchoUpstream } from '../../deploy/demo/echo-upstream.js';
import { loadConfig } from '../../src/config/index.js';
import type { MiddlewareConfig } from '../../src/config/types.js';
import {
  countGrants,
  recordBackchannelDeliveries,
  startTestProvider,
  TEST_CLIENT_ID,
  TEST_CLIENT_SECRET,
  type BackchannelDelivery,
  type DevProvider,
  type GrantCounter,
} from '../support/op.js';
import { obtainScriptTokens } from '../support/script-tokens.js';
import { findFreePort } from '../support/scripted-server.js';
import { startService, type TestService } from '../support/service.js';
import { createTestPki, type TestPki } from '../support/tls.js';
import {
  createHttpBrowser,
  expectAliceSignsInThroughProxy,
  expectSignOutAtProviderEndsSessionThroughProxy,
  expectSignOutThroughProxy,
  loginThroughProxy,
  type HttpAnswer,
} from './http-browser.js';
import { readShippedDynamic, renderDynamic, type DynamicAddition } from './traefik-dynamic.js';
import { startTraefik, traefikVersion, type RunningTraefik, type TraefikPeer } from './traefik-process.js';

const SERVICE_CONFIG_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../traefik/oidc-forward-auth.yaml');
const MIDDLEWARE = 'app';
const SESSION_COOKIE = `${MIDDLEWARE}-session`;
const SESSION_EXPIRY_SECONDS = 600;
/** Longer than the share of the session after which it slides (a tenth), so the two tests part. */
const ACCESS_TOKEN_TTL = 300;
/** carol signs in but is not in the dev group the claims rule asks for. */
const CLAIMS = 'Contains(`groups`, `dev`)';
const USERS = { ...DEV_USERS, carol: { password: 'carol', claims: { email: 'carol@example.com', email_verified: true, groups: ['sales'] } } };
const API_HEADERS = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' };

interface Version {
  readonly peer: TraefikPeer;
  readonly line: RegExp;
  readonly additions: readonly DynamicAddition[];
  /** Whether a 2xx auth answer's session cookie reaches the browser (addAuthCookiesToResponse). */
  readonly passesCookiesOn2xx: boolean;
}

const VERSIONS: readonly Version[] = [
  { peer: 'traefik-v3', line: /^3\.6\./, additions: ['bearer-tokens', 'backchannel-forward-body'], passesCookiesOn2xx: true },
  { peer: 'traefik-v2', line: /^2\.11\./, additions: ['traefik-v2', 'bearer-tokens', 'backchannel-direct-route'], passesCookiesOn2xx: false },
];

/** The middleware of the shipped service configuration, as our loader reads it. */
async function shippedMiddleware(): Promise<MiddlewareConfig> {
  const result = await loadConfig(SERVICE_CONFIG_PATH, {
    env: { OFA_SESSION_SECRET: 's'.repeat(43) },
    readFile: async (path) => (path === SERVICE_CONFIG_PATH ? readFileSync(path, 'utf8') : 'client-secret-from-file'),
  });
  if (!result.ok) throw new Error(`traefik/oidc-forward-auth.yaml is invalid:\n${result.problems.join('\n')}`);
  const middleware = result.config.middlewares[MIDDLEWARE];
  if (middleware === undefined) throw new Error('traefik/oidc-forward-auth.yaml has no middleware app');
  return middleware;
}

let pki: TestPki;
let upstream: EchoUpstream;
let shipped: MiddlewareConfig;
let previousDispatcher: Dispatcher;

beforeAll(async () => {
  [pki, upstream, shipped] = await Promise.all([createTestPki(), startEchoUpstream(), shippedMiddleware()]);
  // Every HTTPS request of this file goes to Traefik, whose certificate the test CA signed.
  previousDispatcher = getGlobalDispatcher();
  setGlobalDispatcher(new Agent({ connect: { ca: pki.ca } }));
});

afterAll(async () => {
  setGlobalDispatcher(previousDispatcher);
  await upstream?.close();
  await pki?.cleanup();
});

describe.each(VERSIONS)('$peer running the shipped dynamic.yml', (version) => {
  let op: DevProvider;
  let service: TestService;
  let traefik: RunningTraefik;
  /** The same, its entry point without underscoreHeadersStrategy (Traefik's default, keep). */
  let keeping: RunningTraefik;
  let site: string;
  let deliveries: readonly BackchannelDelivery[];
  let grants: GrantCounter;

  beforeAll(async () => {
    // The provider must know Traefik's URLs before the service can discover it, and Traefik needs
    // the service's address: ports are chosen first, Traefik started last.
    const [servicePort, traefikPort, keepingPort] = [await findFreePort(), await findFreePort(), await findFreePort()];
    site = `https://127.0.0.1:${traefikPort}`;
    op = await startTestProvider({
      users: USERS,
      jwtAccessTokens: true,
      rotateRefreshToken: true,
      ttl: { AccessToken: ACCESS_TOKEN_TTL, IdToken: 86_400 },
      clients: [
        {
          client_id: TEST_CLIENT_ID,
          client_secret: TEST_CLIENT_SECRET,
          redirect_uris: [`${site}/callback`, `https://127.0.0.1:${keepingPort}/callback`],
          post_logout_redirect_uris: [`${site}/`],
          backchannel_logout_uri: `${site}/backchannel-logout`,
          backchannel_logout_session_required: true,
        },
      ],
    });
    deliveries = recordBackchannelDeliveries(op);
    grants = countGrants(op);
    service = await startService({
      port: servicePort,
      trustedProxies: ['127.0.0.1/32'],
      middlewares: [
        {
          ...shipped,
          issuer: op.issuer,
          clientID: TEST_CLIENT_ID,
          clientSecret: TEST_CLIENT_SECRET,
          postLogoutRedirectUrl: '/',
          claims: CLAIMS,
          backchannelLogoutUrl: '/backchannel-logout',
          backchannelLogoutSessionsRequired: true,
          bearerTokens: { audiences: [op.resource ?? ''], allowPlainJwt: false, introspection: undefined, passToApplication: false },
          session: { ...shipped.session, expiry: SESSION_EXPIRY_SECONDS },
        },
      ],
    });
    const dynamic = renderDynamic(
      readShippedDynamic(),
      { authAddress: `127.0.0.1:${servicePort}`, appAddress: `127.0.0.1:${upstream.port}`, host: '127.0.0.1' },
      version.additions,
    );
    const certificate = { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca };
    traefik = await startTraefik({ peer: version.peer, dynamic, certificate, underscoreHeadersStrategy: 'delete', port: traefikPort });
    keeping = await startTraefik({ peer: version.peer, dynamic, certificate, port: keepingPort });
  });

  afterAll(async () => {
    await keeping?.stop();
    await traefik?.stop();
    await service?.stop();
    await op?.stop();
  });

  /** What the service answers the same request asked directly, as Traefik would ask it. */
  async function serviceAnswer(path: string, headers: Readonly<Record<string, string>>, cookie?: string): Promise<{ status: number; json: unknown }> {
    const response = await request(service.authAddress(MIDDLEWARE), {
      headers: {
        ...headers,
        ...(cookie === undefined ? {} : { Cookie: cookie }),
        ...(version.peer === 'traefik-v2' ? { 'X-Forward-Auth-Proxy': 'traefik-v2' } : {}),
        'X-Forwarded-Proto': 'https',
        'X-Forwarded-Host': new URL(site).host,
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

  it('is the version line it stands for, and builds the shipped middlewares without an error or a warning about them', () => {
    expect(traefikVersion(version.peer)).toMatch(version.line);
    // Traefik names the middleware in what it logs about one (maxResponseBodySize or
    // trustForwardHeader unset, maxBodySize missing beside forwardBody, ...).
    const complaints = traefik
      .log()
      .split('\n')
      .filter((line) => /"level":"(error|fatal|panic)"/i.test(line) || (/"level":"warn/i.test(line) && line.includes('"middlewareName"')));
    expect(complaints).toEqual([]);
  });

  it('sends a browser to the provider, back through /callback, and on to the application as alice, not as the identity the client sent', async () => {
    await expectAliceSignsInThroughProxy({ site, issuer: op.issuer, clientID: TEST_CLIENT_ID, middleware: MIDDLEWARE });
  });

  it("drops a client's X-Forwarded-Host, -Proto and -Uri at the entry point although trustForwardHeader is on: the login returns to the real site", async () => {
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
    const forged = { ...API_HEADERS, X_Forwarded_User: 'mallory@example.com', 'X-Forwarded-User': 'mallory@example.com' };
    const deleting = await loginThroughProxy(`${site}/`, 'alice');
    const cleaned = echoed(await deleting.browser.send(`${site}/api`, { headers: forged }));
    expect(cleaned.headers['x-forwarded-user']).toBe('alice@example.com');
    expect(cleaned.headers['x_forwarded_user']).toBeUndefined();

    const kept = await loginThroughProxy(`${keeping.url}/`, 'alice');
    const passed = echoed(await kept.browser.send(`${keeping.url}/api`, { headers: forged }));
    expect(passed.headers['x-forwarded-user']).toBe('alice@example.com');
    expect(passed.headers['x_forwarded_user']).toBe('mallory@example.com');
  });

  it("answers an API client without a session 401 with the service's JSON and WWW-Authenticate, no redirect, no cookie", async () => {
    const answer = await createHttpBrowser().send(`${site}/api/items`, { headers: API_HEADERS });
    expect(answer.status).toBe(401);
    expect(answer.location).toBeUndefined();
    expect(answer.setCookies).toEqual([]);
    expect(answer.headers['www-authenticate']).toBe('Bearer realm="oidc-forward-auth"');
    const direct = await serviceAnswer('/api/items', API_HEADERS);
    expect(answer.status).toBe(direct.status);
    expect(JSON.parse(answer.body)).toEqual(direct.json);
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'OFA_LOGIN_REQUIRED' });
  });

  it("refuses carol, whom the claims rule leaves out, 403: the service's JSON to an API client, its page to a browser", async () => {
    const { browser } = await loginThroughProxy(`${site}/`, 'carol');
    const api = await browser.send(`${site}/api/items`, { headers: API_HEADERS });
    const direct = await serviceAnswer('/api/items', API_HEADERS, browser.jar.cookieHeader(`${site}/`));
    expect(api.status).toBe(403);
    expect(direct.status).toBe(403);
    expect(api.headers['content-type']).toContain('application/json');
    expect(JSON.parse(api.body)).toEqual(direct.json);
    expect(JSON.parse(api.body)).toMatchObject({ error: 'OFA_CLAIMS_DENIED' });

    const page = await browser.navigate(`${site}/reports`);
    expect(page.status).toBe(403);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.body).not.toContain('"headers"');
  });

  it('lets a valid bearer token in with the identity headers and keeps it from the application (Authorization in authResponseHeaders); a bad one gets 401 invalid_token', async () => {
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

  it('signs out at /logout: the session cookie is cleared and the browser goes to the end_session endpoint', async () => {
    await expectSignOutThroughProxy({ site, issuer: op.issuer, clientID: TEST_CLIENT_ID, middleware: MIDDLEWARE });
  });

  it('answers a cross-site logout navigation with a page to confirm on, whose link signs out', async () => {
    const { browser } = await loginThroughProxy(`${site}/`, 'alice');
    const forced = await browser.navigate(`${site}/logout`, { 'sec-fetch-site': 'cross-site' });
    expect(forced.status).toBe(403);
    expect(forced.setCookies).toEqual([]);
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
    const text = service.logger.text();
    expect(text).not.toContain(session);
    expect(text).not.toContain(code);
    expect(text).not.toContain(TEST_CLIENT_SECRET);
  });

  it(`ends alice's session when she signs out at the provider: its logout token reaches the service through the ${
    version.peer === 'traefik-v3' ? 'forwardBody + preserveRequestMethod route' : 'direct route'
  }; bob stays`, async () => {
    await expectSignOutAtProviderEndsSessionThroughProxy({ site, issuer: op.issuer, deliveries, serviceLogger: service.logger });
  });

  // Last: these move the service's clock.
  it(
    version.passesCookiesOn2xx
      ? 'renews a sliding session on a background request: the new cookie rides its 200, through addAuthCookiesToResponse'
      : 'renews a sliding session on the next page load, with a 302 back to the same URL (a 2xx loses its cookie)',
    async () => {
      const { browser } = await loginThroughProxy(`${site}/`, 'alice');
      const before = browser.jar.get(SESSION_COOKIE)?.value;
      const refreshesBefore = grants.refreshGrants;
      service.advance(SESSION_EXPIRY_SECONDS / 10 + 1);

      const background = await browser.send(`${site}/api/items`, { headers: API_HEADERS });
      expect(echoed(background).headers['x-forwarded-user']).toBe('alice@example.com');
      const page = `${site}/reports?month=5`;
      if (version.passesCookiesOn2xx) {
        const renewed = background.setCookies.find((cookie) => cookie.startsWith(`${SESSION_COOKIE}=`));
        // Traefik writes the cookie again from its parsed form: every attribute must survive that.
        expect(renewed).toMatch(/; Path=\/(;|$)/);
        expect(renewed).toContain(`Max-Age=${SESSION_EXPIRY_SECONDS}`);
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
        expect(renewal.setCookies.find((cookie) => cookie.startsWith(`${SESSION_COOKIE}=`))).toContain(`Max-Age=${SESSION_EXPIRY_SECONDS}`);
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
      const { browser } = await loginThroughProxy(`${site}/`, 'alice');
      const signedIn = browser.jar.get(SESSION_COOKIE)?.value;
      const refreshesBefore = grants.refreshGrants;
      const errorsBefore = grants.grantErrors;
      service.advance(ACCESS_TOKEN_TTL + 10);

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
      service.advance(ACCESS_TOKEN_TTL + 10);
      const again = version.passesCookiesOn2xx
        ? await browser.send(`${site}/api/items`, { headers: API_HEADERS })
        : await browser.navigate(page);
      expect(again.status).toBe(version.passesCookiesOn2xx ? 200 : 302);
      expect(grants.refreshGrants).toBe(refreshesBefore + 2);
      expect(echoed(await browser.navigate(page, { Accept: 'application/json' })).headers['x-forwarded-user']).toBe('alice@example.com');
      expect(grants.grantErrors).toBe(errorsBefore);
    },
  );
});
