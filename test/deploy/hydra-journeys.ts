/**
 * What every proxy must carry in front of our service when the provider is Ory Hydra, an
 * OpenID-certified server operators run: sign-in, refresh with Hydra's rotating refresh tokens,
 * RP-initiated logout, the back-channel logout Hydra sends itself (which the service refuses today:
 * Hydra's logout token has no exp, accepted within its iat bound), opaque bearer tokens checked by introspection, and
 * private_key_jwt (with clientAssertionAudience: tokenEndpoint). The hydra-*.test.ts files start a real proxy, Hydra and the
 * service, and run these steps.
 */
import { request } from 'undici';
import { expect } from 'vitest';
import type { EchoedRequest } from '../../deploy/demo/echo-upstream.js';
import { sessionPurpose } from '../../src/session/sealed-session.js';
import { createSealer } from '../../src/session/seal.js';
import { openSession } from '../../src/session/sealed-session.js';
import type { Session } from '../../src/session/session.js';
import { createCookieJar, type CookieJar } from '../support/cookie-jar.js';
import { completeHydraLogin, signOutAtHydra, walkHydra, type RunningHydra } from '../support/hydra.js';
import type { LogRecord } from '../support/log.js';
import type { TestService } from '../support/service.js';
import { TEST_SECRET } from '../support/service.js';
import { createHttpBrowser, type HttpAnswer, type HttpBrowser } from './http-browser.js';

export const FORWARD_HEADERS = { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups' };
export const API_AUDIENCE = 'https://api.example.test';
/** Hydra's access tokens live this long; the service refreshes once its clock passes it. */
export const ACCESS_TOKEN_TTL_SECONDS = 300;
const API_HEADERS = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' };

export interface HydraSite {
  /** The proxy's origin in front of the middleware. */
  readonly site: string;
  readonly middleware: string;
  readonly clientID: string;
  readonly clientSecret?: string;
}

export interface HydraBed {
  readonly hydra: RunningHydra;
  readonly service: TestService;
}

export interface HydraLogin {
  readonly browser: HttpBrowser;
  readonly providerJar: CookieJar;
  readonly start: HttpAnswer;
  readonly callbackUrl: string;
  readonly callback: HttpAnswer;
}

/** A page load through the proxy, the login at Hydra as `user`, and the callback through the proxy. */
export async function signInAtHydra(bed: HydraBed, pageUrl: string, user = 'alice', providerJar = createCookieJar()): Promise<HydraLogin> {
  const browser = createHttpBrowser();
  const start = await browser.navigate(pageUrl);
  expect(start.status, start.body.slice(0, 300)).toBe(302);
  const callbackUrl = await completeHydraLogin(bed.hydra, start.location ?? '', { user, jar: providerJar });
  const callback = await browser.navigate(callbackUrl);
  const hydraErrors = (): string => bed.hydra.output().split('\n').filter((line) => /level=(error|warn)/.test(line)).slice(-2).join('\n');
  expect(callback.status, `${callback.body.slice(0, 200)}\nthe service's warnings: ${JSON.stringify(bed.service.logger.warnings().slice(-3))}\nHydra: ${hydraErrors()}`).toBe(302);
  return { browser, providerJar, start, callbackUrl, callback };
}

/** The session the service sealed into the browser's cookie, opened with the service's own codec. */
export function sessionIn(bed: HydraBed, site: HydraSite, browser: HttpBrowser): Session {
  const value = browser.jar.get(`${site.middleware}-session`)?.value;
  if (value === undefined) throw new Error(`no ${site.middleware}-session cookie in the browser`);
  const purpose = sessionPurpose({ name: site.middleware, issuer: bed.hydra.issuer, clientID: site.clientID });
  const opened = openSession(createSealer([TEST_SECRET]), value, purpose);
  if (opened === undefined) throw new Error('the session cookie does not open with the test secret');
  return opened.session;
}

async function apiCall(browser: HttpBrowser, url: string, headers: Readonly<Record<string, string>> = {}): Promise<HttpAnswer> {
  return browser.send(url, { headers: { ...API_HEADERS, ...headers } });
}

/** Hydra's token endpoint, authenticated with the client's secret (client_secret_basic). */
export async function tokenRequest(bed: HydraBed, clientID: string, clientSecret: string, form: Readonly<Record<string, string>>): Promise<{ status: number; json: Record<string, unknown> }> {
  const response = await request(`${bed.hydra.publicUrl}/oauth2/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientID)}:${encodeURIComponent(clientSecret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(form).toString(),
  });
  return { status: response.statusCode, json: (await response.body.json()) as Record<string, unknown> };
}

/** Sign-in: the proxy sends the browser to Hydra, Hydra's login and consent, back through /callback, the application sees alice. */
export async function expectAliceSignsInAtHydra(bed: HydraBed, site: HydraSite): Promise<void> {
  const page = `${site.site}/private/page?x=1`;
  const login = await signInAtHydra(bed, page);
  const authorization = new URL(login.start.location ?? '');
  expect(`${authorization.origin}${authorization.pathname}`).toBe(`${bed.hydra.publicUrl}/oauth2/auth`);
  expect(authorization.searchParams.get('client_id')).toBe(site.clientID);
  expect(authorization.searchParams.get('redirect_uri')).toBe(`${site.site}/callback`);
  expect(authorization.searchParams.get('scope')?.split(' ')).toContain('offline_access');
  expect(login.callbackUrl.startsWith(`${site.site}/callback?`)).toBe(true);
  expect(login.callback.location).toBe(page);
  expect(login.browser.jar.all().map((cookie) => cookie.name)).toEqual([`${site.middleware}-session`]);

  const landed = await login.browser.navigate(page, { Accept: 'application/json', 'X-Forwarded-User': 'mallory@example.com', 'X-Forwarded-Groups': 'root' });
  expect(landed.status).toBe(200);
  const echoed = JSON.parse(landed.body) as EchoedRequest;
  expect(echoed.url).toBe('/private/page?x=1');
  expect(echoed.headers['x-forwarded-user']).toBe('alice@example.com');
  expect(echoed.headers['x-forwarded-groups']).toBe('admin,dev');
  // Hydra's ID token carried what the session keeps: its issuer, her subject, the login session's sid.
  const session = sessionIn(bed, site, login.browser);
  expect(session).toMatchObject({ issuer: bed.hydra.issuer, subject: 'alice' });
  expect(session.providerSid).toMatch(/\S/);
  expect(session.refreshToken).toMatch(/\S/);
  // Neither Hydra's tokens nor the cookie reach the service's log.
  const logged = bed.service.logger.text();
  for (const secret of [session.refreshToken ?? '', session.idToken ?? '', login.browser.jar.get(`${site.middleware}-session`)?.value ?? '']) {
    if (secret !== '') expect(logged).not.toContain(secret);
  }
}

/**
 * Refresh with rotation: once the access token has expired (the service's clock moves), the next
 * request spends the refresh token at Hydra; the renewed cookie carries Hydra's new refresh
 * token, the old one is dead at Hydra, and the session keeps working through a second refresh.
 */
export async function expectRefreshRotatesAtHydra(bed: HydraBed, site: HydraSite): Promise<void> {
  const { browser } = await signInAtHydra(bed, `${site.site}/refresh`);
  const first = sessionIn(bed, site, browser).refreshToken ?? '';
  expect(await bed.hydra.introspect(first)).toMatchObject({ active: true, token_use: 'refresh_token' });

  const moved: number[] = [];
  const advance = (seconds: number): void => {
    bed.service.advance(seconds);
    moved.push(seconds);
  };
  try {
    advance(ACCESS_TOKEN_TTL_SECONDS + 30);
    const refreshed = await apiCall(browser, `${site.site}/api/one`);
    expect(refreshed.status, refreshed.body.slice(0, 300)).toBe(200);
    expect(refreshed.setCookies.some((cookie) => cookie.startsWith(`${site.middleware}-session=`))).toBe(true);
    const second = sessionIn(bed, site, browser).refreshToken ?? '';
    expect(second).toMatch(/\S/);
    expect(second).not.toBe(first);
    // Hydra rotated: the spent token is dead there, the new one alive.
    expect(await bed.hydra.introspect(first)).toMatchObject({ active: false });
    expect(await bed.hydra.introspect(second)).toMatchObject({ active: true, token_use: 'refresh_token' });

    const again = await apiCall(browser, `${site.site}/api/two`);
    expect(again.status).toBe(200);
    expect((JSON.parse(again.body) as EchoedRequest).headers['x-forwarded-user']).toBe('alice@example.com');

    advance(ACCESS_TOKEN_TTL_SECONDS + 30);
    const secondRefresh = await apiCall(browser, `${site.site}/api/three`);
    expect(secondRefresh.status).toBe(200);
    const third = sessionIn(bed, site, browser).refreshToken ?? '';
    expect(third).not.toBe(second);
    expect(await bed.hydra.introspect(second)).toMatchObject({ active: false });
  } finally {
    for (const seconds of moved) bed.service.advance(-seconds);
  }
}

/**
 * RP-initiated logout: /logout through the proxy clears the cookie and sends the browser to
 * Hydra's end_session_endpoint with the ID token hint; Hydra's logout app accepts, Hydra sends her
 * back to the site, and her login session at Hydra is over (the next sign-in asks for the password).
 */
export async function expectRpInitiatedLogoutAtHydra(bed: HydraBed, site: HydraSite): Promise<void> {
  const { browser, providerJar } = await signInAtHydra(bed, `${site.site}/`);
  const metadata = (await (await fetch(`${bed.hydra.publicUrl}/.well-known/openid-configuration`)).json()) as { end_session_endpoint: string };

  const answer = await browser.navigate(`${site.site}/logout`);
  expect(answer.status).toBe(302);
  const location = new URL(answer.location ?? '');
  expect(`${location.origin}${location.pathname}`).toBe(metadata.end_session_endpoint);
  expect(location.searchParams.get('post_logout_redirect_uri')).toBe(`${site.site}/`);
  expect(location.searchParams.get('id_token_hint')).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
  expect(browser.jar.get(`${site.middleware}-session`)).toBeUndefined();

  const landed = await walkHydra(bed.hydra, location.href, providerJar, undefined);
  expect(`${new URL(landed.url).origin}${new URL(landed.url).pathname}`).toBe(`${site.site}/`);

  // Hydra forgot her: a new sign-in with the same Hydra cookies shows the login form again.
  const restart = await browser.navigate(`${site.site}/`);
  expect(restart.status).toBe(302);
  const relogin = await walkHydra(bed.hydra, restart.location ?? '', providerJar, { login: 'alice', password: 'alice' });
  expect(relogin.submittedForm).toBe(true);
}

/** Hydra sends back-channel logout tokens from a goroutine after it has answered the browser: waits for the service's line. */
async function untilLogged(bed: HydraBed, from: number, predicate: (record: LogRecord) => boolean): Promise<LogRecord | undefined> {
  for (let i = 0; i < 200; i += 1) {
    const found = bed.service.logger.records.slice(from).find(predicate);
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return undefined;
}

/**
 * Back-channel logout sent by Hydra itself: alice and bob are signed in, alice signs out at Hydra,
 * and Hydra POSTs a logout token through the proxy to the service. Hydra v2.3.0's logout token
 * carries no `exp` (Back-Channel Logout 1.0 final asks for one); the service accepts it within its
 * `iat` bound, ends alice's session here, and leaves bob's alone.
 */
export async function expectHydraBackchannelLogoutEndsHerSession(bed: HydraBed, site: HydraSite): Promise<void> {
  const alice = await signInAtHydra(bed, `${site.site}/`, 'alice');
  const bob = await signInAtHydra(bed, `${site.site}/`, 'bob');
  const aliceSid = sessionIn(bed, site, alice.browser).providerSid;
  const stolen = alice.browser.jar.cookieHeader(`${site.site}/`) ?? '';
  const thief = createHttpBrowser();
  expect((await apiCall(thief, `${site.site}/api`, { Cookie: stolen })).status).toBe(200);
  const before = bed.service.logger.records.length;

  expect(await signOutAtHydra(bed.hydra, alice.providerJar)).toBe(`${bed.hydra.loginApp.url}/logged-out`);
  const delivered = await untilLogged(bed, before, (record) => record.msg === 'forward-auth' && record.path === '/backchannel-logout');
  // Hydra's POST went through the proxy to the service, which accepted the exp-less token.
  expect(delivered, `Hydra's log:\n${bed.hydra.output().slice(-1500)}`).toMatchObject({ method: 'POST', status: 200, decision: 'backchannel-logout', outcome: 'backchannel_logout' });
  expect(bed.hydra.output()).not.toMatch(/Unable to execute OpenID Connect Back-Channel Logout Request/);
  expect(aliceSid).toMatch(/\S/);

  // Her login at Hydra is over, and so is her session here: a copy of her cookie opens nothing.
  expect((await apiCall(thief, `${site.site}/api`, { Cookie: stolen })).status).toBe(401);
  expect((await apiCall(bob.browser, `${site.site}/api`)).status).toBe(200);
}

/**
 * Hydra's access tokens are opaque: a client_credentials token for our API's audience is checked
 * by introspection at Hydra and let through; once revoked at Hydra it is refused; a refresh token
 * presented as a bearer token is refused although Hydra calls it active.
 */
export async function expectOpaqueBearerTokensByIntrospection(bed: HydraBed, site: HydraSite, caller: { clientID: string; clientSecret: string }): Promise<void> {
  const issued = await tokenRequest(bed, caller.clientID, caller.clientSecret, { grant_type: 'client_credentials', audience: API_AUDIENCE });
  expect(issued.status, JSON.stringify(issued.json)).toBe(200);
  const token = String(issued.json.access_token);
  expect(token.split('.')).not.toHaveLength(3);
  expect(await bed.hydra.introspect(token)).toMatchObject({ active: true, aud: [API_AUDIENCE] });

  const browser = createHttpBrowser();
  const allowed = await apiCall(browser, `${site.site}/api/items`, { Authorization: `Bearer ${token}` });
  expect(allowed.status, allowed.body.slice(0, 300)).toBe(200);
  expect(allowed.setCookies).toEqual([]);

  const forged = await apiCall(browser, `${site.site}/api/items`, { Authorization: `Bearer ory_at_${'x'.repeat(43)}.${'y'.repeat(43)}` });
  expect(forged.status).toBe(401);

  const revoked = await request(`${bed.hydra.publicUrl}/oauth2/revoke`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${caller.clientID}:${caller.clientSecret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }).toString(),
  });
  await revoked.body.dump();
  expect(revoked.statusCode).toBe(200);
  expect((await apiCall(browser, `${site.site}/api/items`, { Authorization: `Bearer ${token}` })).status).toBe(401);

  // A signed-in user's refresh token: Hydra's introspection says active, token_type Bearer, token_use refresh_token.
  const login = await signInAtHydra(bed, `${site.site}/`);
  const refreshToken = sessionIn(bed, site, login.browser).refreshToken ?? '';
  expect(await bed.hydra.introspect(refreshToken)).toMatchObject({ active: true, token_type: 'Bearer', token_use: 'refresh_token' });
  expect((await apiCall(createHttpBrowser(), `${site.site}/api/items`, { Authorization: `Bearer ${refreshToken}` })).status).toBe(401);
}
