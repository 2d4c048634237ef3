/**
 * The whole login through real nginx running the shipped snippet, in front of our real service,
 * the real oidc-provider and the demo's echo application: first with an HTTP client that behaves
 * like a browser (manual redirects, cookie jar), then with headless Chromium filling the form.
 */
import { accessSync, constants } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream, type EchoedRequest } from '../../deploy/demo/echo-upstream.js';
import type { Config, MiddlewareConfig } from '../../src/config/types.js';
import { buildApp, type App } from '../../src/server/app.js';
import { createTestLogger, type TestLogger } from '../support/log.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { createCookieJar } from '../support/cookie-jar.js';
import { completeLogin, startTestProvider, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type DevProvider } from '../support/op.js';
import { TEST_SECRET } from '../support/service.js';
import { createHttpBrowser, expectAliceSignsInThroughProxy, expectSignOutThroughProxy, loginThroughProxy } from './http-browser.js';
import { startNginx, type RunningNginx } from './nginx-process.js';
import { findFreePort } from '../support/scripted-server.js';

const MIDDLEWARE = 'app';
const SESSION_COOKIE = `${MIDDLEWARE}-session`;
const STATE_COOKIE_PREFIX = `${MIDDLEWARE}-state.`;
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

interface ServiceOnPort {
  readonly app: App;
  readonly logger: TestLogger;
  stop(): Promise<void>;
}

/**
 * nginx must know the service's address before the provider can register nginx's callback URL,
 * and the service needs the provider's issuer: the service's port is therefore chosen first.
 */
async function startServiceOn(port: number, middleware: MiddlewareConfig): Promise<ServiceOnPort> {
  const config: Config = {
    server: {
      listen: { host: '127.0.0.1', port },
      secrets: [TEST_SECRET],
      trustedProxies: ['127.0.0.1/32'],
      logLevel: 'debug',
    },
    middlewares: { [middleware.name]: middleware },
    warnings: [],
  };
  const logger = createTestLogger('debug');
  const app = buildApp(config, { log: logger.log });
  await app.fastify.listen({ host: '127.0.0.1', port });
  await Promise.all([...app.middlewares.values()].map((runtime) => runtime.provider.ready()));
  return {
    app,
    logger,
    stop: async () => {
      await app.fastify.close();
      await app.stop();
    },
  };
}

function findChromium(): string {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  for (const candidate of candidates) {
    if (candidate === undefined || candidate === '') continue;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  throw new Error('chromium not found (CHROMIUM_PATH, /usr/bin/chromium): run `bash deploy/install-deps.sh` to install it');
}

let servicePort: number;
let upstream: EchoUpstream;
let nginx: RunningNginx;
let op: DevProvider;
let service: ServiceOnPort;
let site: string;

beforeAll(async () => {
  servicePort = await findFreePort();
  upstream = await startEchoUpstream();
  nginx = await startNginx({ authAddress: `127.0.0.1:${servicePort}`, appAddress: `127.0.0.1:${upstream.port}`, middleware: MIDDLEWARE });
  site = nginx.url;
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
  service = await startServiceOn(
    servicePort,
    makeMiddlewareConfig({
      name: MIDDLEWARE,
      issuer: op.issuer,
      redirectUrl: '/callback',
      logoutUrl: '/logout',
      postLogoutRedirectUrl: '/',
      forwardHeaders: { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups' },
    }),
  );
  expect((service.app.fastify.server.address() as AddressInfo).port).toBe(servicePort);
});

afterAll(async () => {
  await nginx?.stop();
  await service?.stop();
  await op?.stop();
  await upstream?.close();
});

describe('a browser signing in through nginx', () => {
  it('is sent to the provider, comes back through /callback, and reaches the application as alice', async () => {
    await expectAliceSignsInThroughProxy({ site, issuer: op.issuer, clientID: TEST_CLIENT_ID, middleware: MIDDLEWARE });
  });


  it('gets 401 (not a redirect, not 500) for a background request without a session, and no state cookie', async () => {
    const browser = createHttpBrowser();
    const answer = await browser.send(`${site}/api/items`, {
      headers: { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' },
    });
    expect(answer.status).toBe(401);
    expect(answer.location).toBeUndefined();
    expect(answer.setCookies).toEqual([]);
  });

  it('lets the same background request through once signed in', async () => {
    const { browser } = await loginThroughProxy(`${site}/`, 'bob');
    const answer = await browser.send(`${site}/api/items`, {
      headers: { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' },
    });
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

describe('headless Chromium signing in through nginx', () => {
  let browser: Browser | undefined;

  afterAll(async () => {
    await browser?.close();
  });

  it('opens the protected page, fills the provider form as alice, and lands on the echo page with her identity', async () => {
    browser = await chromium.launch({ executablePath: findChromium(), headless: true, args: CHROMIUM_ARGS });
    const context = await browser.newContext();
    const page = await context.newPage();

    await page.goto(`${site}/private/chromium?tab=1`);
    expect(page.url().startsWith(`${op.url}/interaction/`)).toBe(true);
    await page.fill('input[name="login"]', 'alice');
    await page.fill('input[name="password"]', 'alice');
    await Promise.all([page.waitForURL(`${site}/private/chromium?tab=1`), page.click('button[type="submit"]')]);

    expect(await page.textContent('#greeting')).toBe('Signed in as alice@example.com');
    const identity = await page.$$eval('tr.identity', (rows) =>
      rows.map((row) => [row.querySelector('th')?.textContent ?? '', row.querySelector('td')?.textContent ?? '']),
    );
    expect(Object.fromEntries(identity)).toEqual({ 'x-forwarded-user': 'alice@example.com', 'x-forwarded-groups': 'admin,dev' });
    const cookies = await context.cookies(site);
    expect(cookies.map((cookie) => cookie.name)).toContain(SESSION_COOKIE);
    expect(cookies.find((cookie) => cookie.name === SESSION_COOKIE)?.httpOnly).toBe(true);
    expect(cookies.some((cookie) => cookie.name.startsWith(STATE_COOKIE_PREFIX))).toBe(false);

    await context.close();
  });
});
