/**
 * The identity provider side of integration tests: a real oidc-provider (deploy/demo/dev-provider.ts)
 * and a user signing in at it over plain HTTP, the way a browser does.
 */
import { request, type Dispatcher } from 'undici';
import { expect } from 'vitest';
import {
  DEV_USERS,
  startDevProvider,
  type DevClient,
  type DevProvider,
  type DevProviderOptions,
} from '../../deploy/demo/dev-provider.js';
import { createCookieJar, type CookieJar } from './cookie-jar.js';

export { DEV_USERS, type DevClient, type DevProvider };

/** The application host the forward-auth tests pretend to protect (never resolved: requests go through the harness). */
export const TEST_APP_ORIGIN = 'http://app.example.test';
export const TEST_CLIENT_ID = 'forward-auth';
export const TEST_CLIENT_SECRET = 'test-client-secret-0123456789abcdef';

export const TEST_CLIENT: DevClient = Object.freeze({
  client_id: TEST_CLIENT_ID,
  client_secret: TEST_CLIENT_SECRET,
  redirect_uris: [`${TEST_APP_ORIGIN}/callback`],
  post_logout_redirect_uris: [`${TEST_APP_ORIGIN}/`, `${TEST_APP_ORIGIN}/logged-out`],
});

export type TestProviderOptions = Partial<DevProviderOptions>;

/** A provider on 127.0.0.1:0 with TEST_CLIENT unless `clients` says otherwise; errors go to stderr. */
export function startTestProvider(options: TestProviderOptions = {}): Promise<DevProvider> {
  return startDevProvider({ host: '127.0.0.1', port: 0, clients: [TEST_CLIENT], ...options });
}

export interface CompleteLoginOptions {
  /** A DEV_USERS key (or of the provider's `users`). Default alice. */
  readonly user?: string;
  /** Default: the user name, as the dev provider expects. */
  readonly password?: string;
  /** The provider's cookies (its session); pass the same jar to sign in again without the form. */
  readonly jar?: CookieJar;
  /** Press "Cancel" on the login page: the provider answers the client with error=access_denied. */
  readonly deny?: boolean;
  /** For a provider on HTTPS with a private CA. */
  readonly dispatcher?: Dispatcher;
  readonly headers?: Record<string, string>;
}

export class LoginFlowError extends Error {
  override readonly name = 'LoginFlowError';
}

const MAX_HOPS = 20;

/**
 * Starts at the authorization URL our service redirected the browser to, follows the provider's
 * redirects, fills its login form (consent is automatic in the dev provider), and returns the URL
 * the provider finally sends the browser to, i.e. our callback with code, state and iss (or error).
 * Any redirect leaving the provider's origin ends the walk.
 */
export async function completeLogin(authorizationUrl: string, options: CompleteLoginOptions = {}): Promise<string> {
  const jar = options.jar ?? createCookieJar();
  const user = options.user ?? 'alice';
  const password = options.password ?? user;
  const providerOrigin = new URL(authorizationUrl).origin;
  let url = authorizationUrl;
  let method: 'GET' | 'POST' = 'GET';
  let body: string | undefined;
  let submitted = false;

  for (let hop = 0; hop < MAX_HOPS; hop += 1) {
    const cookie = jar.cookieHeader(url);
    const response = await request(url, {
      method,
      headers: {
        accept: 'text/html',
        ...options.headers,
        ...(cookie === undefined ? {} : { cookie }),
        ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      body,
      ...(options.dispatcher === undefined ? {} : { dispatcher: options.dispatcher }),
    });
    const setCookie = response.headers['set-cookie'];
    jar.setCookies(setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie], url);
    const text = await response.body.text();
    method = 'GET';
    body = undefined;

    if (response.statusCode >= 300 && response.statusCode < 400) {
      const location = response.headers.location;
      if (typeof location !== 'string') throw new LoginFlowError(`provider answered ${response.statusCode} without Location at ${url}`);
      const next = new URL(location, url);
      if (next.origin !== providerOrigin) return next.href;
      url = next.href;
      continue;
    }
    if (response.statusCode === 200 && /<form[^>]*action="([^"]*\/login)"/.test(text)) {
      const action = /<form[^>]*action="([^"]*\/login)"/.exec(text)?.[1] ?? '';
      if (options.deny === true) {
        url = new URL(action.replace(/\/login$/, '/abort').replace(/&#38;/g, '&'), url).href;
        continue;
      }
      if (submitted) throw new LoginFlowError(`the provider refused the login of "${user}"`);
      submitted = true;
      url = new URL(action.replace(/&#38;/g, '&'), url).href;
      method = 'POST';
      body = new URLSearchParams({ login: user, password }).toString();
      continue;
    }
    throw new LoginFlowError(`unexpected provider answer ${response.statusCode} at ${new URL(url).pathname}: ${text.slice(0, 300)}`);
  }
  throw new LoginFlowError(`more than ${MAX_HOPS} redirects at the provider`);
}

/**
 * The user signs out at the provider itself, as she would in its own UI: the end-session page,
 * then "Yes, sign me out". oidc-provider sends back-channel logout tokens before it answers the
 * confirmation, so they have been delivered (or failed) when this resolves.
 */
export async function signOutAtProvider(issuer: string, providerJar: CookieJar): Promise<void> {
  const endSession = `${issuer}/session/end`;
  const page = await request(endSession, { headers: { cookie: providerJar.cookieHeader(endSession) ?? '' } });
  const html = await page.body.text();
  expect(page.statusCode).toBe(200);
  const action = /<form id="op.logoutForm" method="post" action="([^"]+)">/.exec(html)?.[1];
  const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1];
  if (action === undefined || xsrf === undefined) throw new LoginFlowError(`no logout form at the provider: ${html.slice(0, 300)}`);
  const confirmed = await request(action, {
    method: 'POST',
    headers: { cookie: providerJar.cookieHeader(action) ?? '', 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
  });
  await confirmed.body.text();
  expect(confirmed.statusCode).toBe(303);
  expect(confirmed.headers.location).toBe(`${issuer}/session/end/success`);
  const setCookie = confirmed.headers['set-cookie'];
  providerJar.setCookies(setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie], action);
  // Her session at the provider is over.
  expect(providerJar.get('_session')).toBeUndefined();
}

/** Live counts of what the provider's token endpoint did, for tests that must see a refresh token spent once. */
export interface GrantCounter {
  /** refresh_token grants answered with tokens. */
  readonly refreshGrants: number;
  /** Token requests refused (a reused, rotated refresh token among them: the provider then revokes the grant). */
  readonly grantErrors: number;
}

export function countGrants(provider: DevProvider): GrantCounter {
  let refreshGrants = 0;
  let grantErrors = 0;
  provider.provider.on('grant.success', (...args: unknown[]) => {
    const ctx = args[0] as { oidc?: { params?: { grant_type?: unknown } } };
    if (ctx.oidc?.params?.grant_type === 'refresh_token') refreshGrants += 1;
  });
  provider.provider.on('grant.error', () => {
    grantErrors += 1;
  });
  return {
    get refreshGrants() {
      return refreshGrants;
    },
    get grantErrors() {
      return grantErrors;
    },
  };
}

/** One back-channel logout token the provider tried to deliver, and how it went. */
export interface BackchannelDelivery {
  readonly outcome: 'success' | 'error';
  readonly detail: string;
}

/** Every back-channel logout delivery the provider attempts from now on, in order. */
export function recordBackchannelDeliveries(provider: DevProvider): readonly BackchannelDelivery[] {
  const deliveries: BackchannelDelivery[] = [];
  provider.provider.on('backchannel.success', () => deliveries.push({ outcome: 'success', detail: '' }));
  provider.provider.on('backchannel.error', (_ctx: unknown, error: unknown) => deliveries.push({ outcome: 'error', detail: String(error) }));
  return deliveries;
}
