/**
 * A real sign-in through a proxy running the recipe, for the benchmark's session cookies: the page
 * load (302 to the provider), the dev provider's login form, and the callback through the proxy.
 *
 * test/support/op.ts and test/deploy/http-browser.ts do the same for the tests but import vitest,
 * which throws outside a vitest run; this is the minimum of them the benchmark needs.
 */
import { request } from 'undici';
import { createCookieJar, type CookieJar } from '../../support/cookie-jar.js';

/** A browser's top-level page load. */
export const PAGE_LOAD_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'Sec-Fetch-Mode': 'navigate',
  'Sec-Fetch-Dest': 'document',
  'Sec-Fetch-Site': 'none',
  'User-Agent': 'Mozilla/5.0 (oidc-forward-auth benchmark)',
});

const MAX_HOPS = 20;
const LOGIN_FORM = /<form[^>]*action="([^"]*\/login)"/;

interface Hop {
  readonly status: number;
  readonly location: string | undefined;
  readonly body: string;
}

async function send(jar: CookieJar, url: string, init: { method?: 'GET' | 'POST'; headers?: Record<string, string>; body?: string } = {}): Promise<Hop> {
  const cookie = jar.cookieHeader(url);
  const response = await request(url, {
    method: init.method ?? 'GET',
    headers: { ...init.headers, ...(cookie === undefined ? {} : { cookie }) },
    body: init.body,
  });
  const raw = response.headers['set-cookie'];
  jar.setCookies(raw === undefined ? [] : Array.isArray(raw) ? raw : [raw], url);
  const location = response.headers.location;
  return {
    status: response.statusCode,
    location: typeof location === 'string' ? new URL(location, url).href : undefined,
    body: await response.body.text(),
  };
}

/** Follows the provider's redirects and fills its form; returns where it sends the browser back. */
async function signInAtProvider(authorizationUrl: string, user: string): Promise<string> {
  const jar = createCookieJar();
  const providerOrigin = new URL(authorizationUrl).origin;
  let url = authorizationUrl;
  let form: string | undefined;
  for (let hop = 0; hop < MAX_HOPS; hop += 1) {
    const answer: Hop = form === undefined
      ? await send(jar, url, { headers: { accept: 'text/html' } })
      : await send(jar, url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form });
    form = undefined;
    if (answer.status >= 300 && answer.status < 400 && answer.location !== undefined) {
      if (new URL(answer.location).origin !== providerOrigin) return answer.location;
      url = answer.location;
      continue;
    }
    const action = LOGIN_FORM.exec(answer.body)?.[1];
    if (answer.status === 200 && action !== undefined) {
      url = new URL(action.replace(/&#38;/g, '&'), url).href;
      // The dev provider takes the user name as password.
      form = new URLSearchParams({ login: user, password: user }).toString();
      continue;
    }
    throw new Error(`unexpected provider answer ${answer.status} at ${new URL(url).pathname}`);
  }
  throw new Error(`more than ${MAX_HOPS} redirects at the provider`);
}

/**
 * Loads `pageUrl` through the proxy as `user`, signs in, and returns the Cookie header the
 * browser then sends to the proxy's site (the session cookie, and the CSRF cookie when on).
 */
export async function signInThroughProxy(pageUrl: string, user = 'alice'): Promise<string> {
  const jar = createCookieJar();
  const start = await send(jar, pageUrl, { headers: { ...PAGE_LOAD_HEADERS } });
  if (start.status !== 302 || start.location === undefined) {
    throw new Error(`expected a 302 to the provider for ${pageUrl}, got ${start.status}`);
  }
  const callbackUrl = await signInAtProvider(start.location, user);
  const callback = await send(jar, callbackUrl, { headers: { ...PAGE_LOAD_HEADERS } });
  if (callback.status !== 302) throw new Error(`expected the callback to redirect back, got ${callback.status}: ${callback.body.slice(0, 200)}`);
  const cookie = jar.cookieHeader(pageUrl);
  if (cookie === undefined) throw new Error('the callback set no cookie');
  return cookie;
}
