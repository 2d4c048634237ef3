/**
 * The whole login through real nginx running the shipped snippet, in front of our real service,
 * the real oidc-provider and the demo's echo application, with an HTTP client that behaves like a
 * browser (manual redirects, cookie jar); and what nginx itself answers when the service refuses
 * (401, 403, 503), compared with the service's own answer. Headless Chromium signs in through the
 * same recipe in test/browser/.
 */
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream, type EchoedRequest } from '../../deploy/demo/echo-upstream.js';
import { NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import { createCookieJar } from '../support/cookie-jar.js';
import { completeLogin, startTestProvider, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type DevProvider } from '../support/op.js';
import { findFreePort } from '../support/scripted-server.js';
import { startService, type TestService } from '../support/service.js';
import { createHttpBrowser, expectAliceSignsInThroughProxy, expectSignOutThroughProxy, loginThroughProxy, type HttpAnswer } from './http-browser.js';
import { startNginx, type RunningNginx } from './nginx-process.js';

const MIDDLEWARE = 'app';
/** Lets in the admin group only: bob signs in and is refused. */
const ADMINS = 'admins';
/** Its provider never answers: a page load cannot start a login. */
const DOWN = 'down';
const SESSION_COOKIE = `${MIDDLEWARE}-session`;
const STATE_COOKIE_PREFIX = `${MIDDLEWARE}-state.`;
const FORWARD_HEADERS = { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups' };
const API_HEADERS = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' };

let upstream: EchoUpstream;
let nginx: RunningNginx;
let adminsNginx: RunningNginx;
let downNginx: RunningNginx;
let op: DevProvider;
let service: TestService;
let site: string;

beforeAll(async () => {
  // nginx must know the service's address before the provider can register nginx's callback URL,
  // and the service needs the provider's issuer: the service's port is chosen first, bound last.
  const servicePort = await findFreePort();
  upstream = await startEchoUpstream();
  const upstreams = (middleware: string) => ({ authAddress: `127.0.0.1:${servicePort}`, appAddress: `127.0.0.1:${upstream.port}`, middleware });
  nginx = await startNginx(upstreams(MIDDLEWARE));
  adminsNginx = await startNginx(upstreams(ADMINS));
  downNginx = await startNginx(upstreams(DOWN));
  site = nginx.url;
  op = await startTestProvider({
    clients: [
      {
        client_id: TEST_CLIENT_ID,
        client_secret: TEST_CLIENT_SECRET,
        redirect_uris: [`${site}/callback`, `${adminsNginx.url}/callback`],
        post_logout_redirect_uris: [`${site}/`],
      },
    ],
  });
  service = await startService({
    port: servicePort,
    trustedProxies: ['127.0.0.1/32'],
    awaitProviders: false,
    middlewares: [
      { name: MIDDLEWARE, issuer: op.issuer, redirectUrl: '/callback', logoutUrl: '/logout', postLogoutRedirectUrl: '/', forwardHeaders: FORWARD_HEADERS },
      { name: ADMINS, issuer: op.issuer, redirectUrl: '/callback', claims: 'Contains(`groups`, `admin`)', forwardHeaders: FORWARD_HEADERS },
      { name: DOWN, issuer: `http://127.0.0.1:${await findFreePort()}`, redirectUrl: '/callback', clientConfig: { maxRetries: 0, timeoutSeconds: 1 } },
    ],
  });
  await Promise.all([MIDDLEWARE, ADMINS].map((name) => service.app.middlewares.get(name)?.provider.ready()));
});

afterAll(async () => {
  await downNginx?.stop();
  await adminsNginx?.stop();
  await nginx?.stop();
  await service?.stop();
  await op?.stop();
  await upstream?.close();
});

interface DirectAnswer {
  readonly status: number;
  readonly json: unknown;
}

/**
 * What the service itself answers the same request, asked directly rather than as nginx's
 * subrequest (undici's request, since fetch would replace the Sec-Fetch-* headers with its own).
 */
async function serviceAnswer(
  middleware: string,
  proxy: RunningNginx,
  path: string,
  headers: Readonly<Record<string, string>>,
  cookie?: string,
): Promise<DirectAnswer> {
  const response = await request(service.authAddress(middleware), {
    headers: {
      ...headers,
      ...(cookie === undefined ? {} : { Cookie: cookie }),
      'X-Forwarded-Proto': 'http',
      'X-Forwarded-Host': `127.0.0.1:${proxy.port}`,
      'X-Forwarded-Uri': path,
      'X-Forwarded-Method': 'GET',
    },
  });
  expect(response.headers['content-type']).toContain('application/json');
  return { status: response.statusCode, json: await response.body.json() };
}

/** nginx wrote the refusal as JSON, the same status and body as the service's own answer. */
function expectSameJson(answer: HttpAnswer, direct: DirectAnswer): void {
  expect(answer.status).toBe(direct.status);
  expect(answer.headers['content-type']).toBe('application/json');
  expect(JSON.parse(answer.body)).toEqual(direct.json);
}

describe('a browser signing in through nginx', () => {
  it('is sent to the provider, comes back through /callback, and reaches the application as alice', async () => {
    await expectAliceSignsInThroughProxy({ site, issuer: op.issuer, clientID: TEST_CLIENT_ID, middleware: MIDDLEWARE });
  });


  it("gets 401 (not a redirect, not 500) with the service's JSON for a background request without a session, and no state cookie", async () => {
    const browser = createHttpBrowser();
    const answer = await browser.send(`${site}/api/items`, { headers: API_HEADERS });
    expect(answer.status).toBe(401);
    expect(answer.location).toBeUndefined();
    expect(answer.setCookies).toEqual([]);
    expect(answer.headers['www-authenticate']).toBe('Bearer realm="oidc-forward-auth"');
    expectSameJson(answer, await serviceAnswer(MIDDLEWARE, nginx, '/api/items', API_HEADERS));
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'OFA_LOGIN_REQUIRED' });
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


  it('signs in again on the first try while the browser holds an expired session cookie', async () => {
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

  it('never writes a cookie value or token into the service log', async () => {
    const { browser } = await loginThroughProxy(`${site}/logged`, 'alice');
    const session = browser.jar.get(SESSION_COOKIE)?.value ?? '';
    expect(session.length).toBeGreaterThan(20);
    const text = service.logger.text();
    expect(text).not.toContain(session);
    expect(text).not.toContain(TEST_CLIENT_SECRET);
  });
});

describe('a refusal through nginx', () => {
  it("reaches a signed-in API client whose claims say no as 403 with the service's JSON; a page load gets nginx's 403 page", async () => {
    const { browser } = await loginThroughProxy(`${adminsNginx.url}/`, 'bob');
    expect(browser.jar.get(`${ADMINS}-session`)).toBeDefined();
    const cookie = browser.jar.cookieHeader(`${adminsNginx.url}/`);

    const api = await browser.send(`${adminsNginx.url}/api/items`, { headers: API_HEADERS });
    expectSameJson(api, await serviceAnswer(ADMINS, adminsNginx, '/api/items', API_HEADERS, cookie));
    expect(JSON.parse(api.body)).toMatchObject({ error: 'OFA_CLAIMS_DENIED' });
    expect(api.body).not.toContain('"headers"');

    const page = await browser.navigate(`${adminsNginx.url}/reports`);
    expect(page.status).toBe(403);
    expect(page.headers['content-type']).toBe('text/html');
    expect(page.body).not.toContain('"headers"');
  });

  it("answers 503 with the service's Retry-After, not 500, while the provider cannot be reached: JSON to a client asking for it, nginx's page to a browser", async () => {
    const asJson = { ...NAVIGATION_HEADERS, accept: 'application/json' };
    const json = await createHttpBrowser().send(`${downNginx.url}/reports`, { headers: asJson });
    expectSameJson(json, await serviceAnswer(DOWN, downNginx, '/reports', asJson));
    expect(JSON.parse(json.body)).toMatchObject({ error: 'OFA_PROVIDER_UNAVAILABLE' });
    expect(json.headers['retry-after']).toMatch(/^[1-9]\d*$/);

    const page = await createHttpBrowser().navigate(`${downNginx.url}/reports`);
    expect(page.status).toBe(503);
    expect(page.headers['content-type']).toBe('text/html');
    expect(page.headers['retry-after']).toBe(json.headers['retry-after']);
    expect(page.location).toBeUndefined();
  });
});
