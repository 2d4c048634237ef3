/**
 * A browser reduced to what the login through a real proxy needs: undici requests with manual
 * redirects, a cookie jar, and the headers of a top-level navigation. Shared by the nginx and Caddy login
 * tests and the demo test, which drive a real proxy in front of the real service.
 */
import { request, type Dispatcher } from 'undici';
import { expect } from 'vitest';
import type { EchoedRequest } from '../../deploy/demo/echo-upstream.js';
import { createCookieJar, type CookieJar } from '../support/cookie-jar.js';
import { NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import type { LogRecord, TestLogger } from '../support/log.js';
import { completeLogin, signOutAtProvider, type BackchannelDelivery } from '../support/op.js';

export interface HttpAnswer {
  readonly status: number;
  readonly location: string | undefined;
  /** Every Set-Cookie of the answer (all of them were applied to the jar). */
  readonly setCookies: readonly string[];
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

export interface HttpBrowser {
  readonly jar: CookieJar;
  /** One request, cookies from and into the jar, redirects not followed. */
  send(url: string, init?: { readonly method?: string; readonly headers?: Readonly<Record<string, string>> }): Promise<HttpAnswer>;
  /** A top-level page load (Sec-Fetch-Mode: navigate, Accept: text/html). */
  navigate(url: string, headers?: Readonly<Record<string, string>>): Promise<HttpAnswer>;
}

export function createHttpBrowser(): HttpBrowser {
  const jar = createCookieJar();
  async function send(
    url: string,
    init: { readonly method?: string; readonly headers?: Readonly<Record<string, string>> } = {},
  ): Promise<HttpAnswer> {
    const cookie = jar.cookieHeader(url);
    const response = await request(url, {
      method: (init.method ?? 'GET') as Dispatcher.HttpMethod,
      headers: { ...init.headers, ...(cookie === undefined ? {} : { cookie }) },
      maxRedirections: 0,
    });
    const body = await response.body.text();
    const raw = response.headers['set-cookie'];
    const setCookies = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    jar.setCookies(setCookies, url);
    const location = response.headers.location;
    return {
      status: response.statusCode,
      location: typeof location === 'string' ? new URL(location, url).href : undefined,
      setCookies,
      headers: response.headers,
      body,
    };
  }
  return {
    jar,
    send,
    navigate: (url, headers = {}) => send(url, { headers: { ...NAVIGATION_HEADERS, ...headers } }),
  };
}

export interface ProxiedLogin {
  readonly browser: HttpBrowser;
  /** nginx's answer to the first page load: the 302 to the provider. */
  readonly start: HttpAnswer;
  /** Where the provider sent the browser back: our /callback with code and state. */
  readonly callbackUrl: string;
  /** nginx's answer to the callback: the 302 back to the page, with the session cookie. */
  readonly callback: HttpAnswer;
  /** The user's login session at the provider, e.g. to sign out there. */
  readonly providerJar: CookieJar;
}

export class ProxiedLoginError extends Error {
  override readonly name = 'ProxiedLoginError';
}

/** Opens `pageUrl` through the proxy, signs in at the provider as `user`, and follows the callback. */
export async function loginThroughProxy(
  pageUrl: string,
  user = 'alice',
  browser = createHttpBrowser(),
  providerJar: CookieJar = createCookieJar(),
): Promise<ProxiedLogin> {
  const start = await browser.navigate(pageUrl);
  if (start.status !== 302 || start.location === undefined) {
    throw new ProxiedLoginError(`expected a 302 to the provider for ${pageUrl}, got ${start.status}: ${start.body.slice(0, 200)}`);
  }
  const callbackUrl = await completeLogin(start.location, { user, jar: providerJar });
  const callback = await browser.navigate(callbackUrl);
  if (callback.status !== 302 || callback.location === undefined) {
    throw new ProxiedLoginError(`expected the callback to redirect back, got ${callback.status}: ${callback.body.slice(0, 200)}`);
  }
  return { browser, start, callbackUrl, callback, providerJar };
}

export interface ProxySite {
  /** The proxy's origin, e.g. http://127.0.0.1:PORT. */
  readonly site: string;
  readonly issuer: string;
  readonly clientID: string;
  readonly middleware: string;
}

/**
 * The sign-in every proxy recipe must give, step by step: page load → provider (one state
 * cookie) → /callback → back to the page with only the session cookie → the application sees
 * alice, not the identity the client tried to send.
 */
export async function expectAliceSignsInThroughProxy(proxy: ProxySite): Promise<void> {
  const browser = createHttpBrowser();
  const page = `${proxy.site}/private/page?x=1`;
  const sessionCookie = `${proxy.middleware}-session`;
  const statePrefix = `${proxy.middleware}-state.`;

  const login = await loginThroughProxy(page, 'alice', browser);
  expect(login.start.status).toBe(302);
  expect(login.start.location?.startsWith(`${proxy.issuer}/auth?`)).toBe(true);
  const authorization = new URL(login.start.location ?? '').searchParams;
  expect(authorization.get('redirect_uri')).toBe(`${proxy.site}/callback`);
  expect(authorization.get('client_id')).toBe(proxy.clientID);
  expect(login.start.setCookies).toHaveLength(1);
  expect(login.start.setCookies[0]?.startsWith(statePrefix)).toBe(true);

  expect(login.callbackUrl.startsWith(`${proxy.site}/callback?`)).toBe(true);
  expect(login.callback.location).toBe(page);
  expect(login.callback.setCookies.some((cookie) => cookie.startsWith(`${sessionCookie}=`))).toBe(true);
  expect(login.callback.setCookies.some((cookie) => cookie.startsWith(statePrefix) && cookie.includes('Max-Age=0'))).toBe(true);
  expect(browser.jar.all().map((cookie) => cookie.name)).toEqual([sessionCookie]);

  const landed = await browser.navigate(page, {
    Accept: 'application/json',
    'X-Forwarded-User': 'mallory@example.com',
    'X-Forwarded-Groups': 'root',
  });
  expect(landed.status).toBe(200);
  const echoed = JSON.parse(landed.body) as EchoedRequest;
  expect(echoed.url).toBe('/private/page?x=1');
  expect(echoed.headers['x-forwarded-user']).toBe('alice@example.com');
  expect(echoed.headers['x-forwarded-groups']).toBe('admin,dev');
  expect(echoed.headers.host).toBe(new URL(proxy.site).host);
}

/**
 * Signing out through the proxy: /logout clears the session cookie and sends the browser to the
 * provider's end-session endpoint; the next page load starts a new login.
 */
export async function expectSignOutThroughProxy(proxy: ProxySite): Promise<void> {
  const sessionCookie = `${proxy.middleware}-session`;
  const { browser } = await loginThroughProxy(`${proxy.site}/`, 'alice');
  expect(browser.jar.get(sessionCookie)).toBeDefined();
  const metadata = (await (await fetch(`${proxy.issuer}/.well-known/openid-configuration`)).json()) as { end_session_endpoint: string };

  const answer = await browser.navigate(`${proxy.site}/logout`);
  expect(answer.status).toBe(302);
  const location = new URL(answer.location ?? '');
  expect(`${location.origin}${location.pathname}`).toBe(metadata.end_session_endpoint);
  expect(location.searchParams.get('post_logout_redirect_uri')).toBe(`${proxy.site}/`);
  expect(location.searchParams.get('id_token_hint')).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  expect(answer.setCookies.some((cookie) => cookie.startsWith(`${sessionCookie}=`) && cookie.includes('Max-Age=0'))).toBe(true);
  expect(browser.jar.get(sessionCookie)).toBeUndefined();

  const again = await browser.navigate(`${proxy.site}/`);
  expect(again.status).toBe(302);
  expect(again.location?.startsWith(`${proxy.issuer}/auth?`)).toBe(true);
}

export interface BackchannelProxySite {
  readonly site: string;
  readonly issuer: string;
  /** From recordBackchannelDeliveries, started before any login. */
  readonly deliveries: readonly BackchannelDelivery[];
  readonly serviceLogger: TestLogger;
}

const API_HEADERS = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' };

/**
 * The back-channel logout every proxy recipe must carry: alice and bob sign in, alice signs out at
 * the provider itself, its logout token reaches the service through the proxy's route, and a copy
 * of her cookie opens nothing afterwards; bob stays signed in.
 */
export async function expectSignOutAtProviderEndsSessionThroughProxy(proxy: BackchannelProxySite): Promise<void> {
  const { site } = proxy;
  const alice = await loginThroughProxy(`${site}/`, 'alice');
  const bob = await loginThroughProxy(`${site}/`, 'bob');
  const stolen = alice.browser.jar.cookieHeader(`${site}/`) ?? '';
  expect((await alice.browser.send(`${site}/api`, { headers: API_HEADERS })).status).toBe(200);

  await signOutAtProvider(proxy.issuer, alice.providerJar);

  // The provider got the service's 200 back through the proxy.
  expect(proxy.deliveries).toEqual([{ outcome: 'success', detail: '' }]);
  const line = proxy.serviceLogger.records.find((record: LogRecord) => record.msg === 'forward-auth' && record.path === '/backchannel-logout');
  expect(line).toMatchObject({ method: 'POST', status: 200, decision: 'backchannel-logout' });

  // A copy of her cookie: a page load is sent to sign in again, an API call gets 401.
  const thief = createHttpBrowser();
  const page = await thief.navigate(`${site}/private`, { Cookie: stolen });
  expect(page.status).toBe(302);
  expect(page.location?.startsWith(`${proxy.issuer}/auth?`)).toBe(true);
  expect((await thief.send(`${site}/api`, { headers: { ...API_HEADERS, Cookie: stolen } })).status).toBe(401);
  expect((await alice.browser.send(`${site}/api`, { headers: API_HEADERS })).status).toBe(401);

  const bobs = await bob.browser.send(`${site}/api`, { headers: API_HEADERS });
  expect(bobs.status).toBe(200);
  expect((JSON.parse(bobs.body) as EchoedRequest).headers['x-forwarded-user']).toBe('bob@example.com');
}
