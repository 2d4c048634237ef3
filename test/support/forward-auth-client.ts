/**
 * Traefik's ForwardAuth middleware, reproduced for tests because the Traefik binary cannot be
 * installed here. The rules follow pkg/middlewares/auth/forward.go (v3.x; v2.11 where noted) as
 * summarised in /work/shared/design/proxies.md:
 * - the auth request is a GET to `address` as configured (no path appended, no body), carrying all
 *   the original headers minus hop-by-hop ones, plus X-Forwarded-Method/-Proto/-Host/-Uri/-For
 *   (and X-Forwarded-Port, which Traefik's entry point has already set on the request);
 *   `preserveRequestMethod` (v3.4+) keeps the original method instead of GET, and `forwardBody`
 *   (v3.3+) sends the original body along with its length (`maxBodySize` is not modelled: its
 *   default, -1, reads any size);
 * - redirects are never followed;
 * - non-2xx: status, body and all headers (every Set-Cookie) go to the client, and a relative
 *   Location is resolved against the auth address unless preserveLocationHeader;
 * - 2xx: for each authResponseHeaders name, the request header is deleted then copied from the
 *   auth response if present; authResponseHeadersRegex likewise (unanchored match); Set-Cookie
 *   reaches the client only for names in addAuthCookiesToResponse (v3.0+; v2.11 drops them all).
 * The client is a browser with a cookie jar: what reaches "the client" is stored in the jar.
 */
import { request, type Dispatcher } from 'undici';
import { createCookieJar, type CookieJar } from './cookie-jar.js';
import { completeLogin, type CompleteLoginOptions } from './op.js';

/** Hop-by-hop headers Traefik removes (forward.go `hopHeaders`), plus those named in Connection. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'trailers', 'transfer-encoding', 'upgrade'];

export interface OriginalRequest {
  readonly method?: string;
  /** Absolute URL the browser asked for, e.g. http://app.example.test/private?x=1. */
  readonly url: string;
  /** Headers as the browser sent them (no Host: it comes from the URL; Cookie comes from the jar). */
  readonly headers?: Readonly<Record<string, string>>;
  /** The client's address as Traefik's entry point sees it. */
  readonly remoteAddress?: string;
  /** What the client sent as body; reaches the auth server only with `forwardBody`. */
  readonly body?: string | Uint8Array;
}

export interface ForwardAuthOptions {
  readonly authResponseHeaders?: readonly string[];
  readonly authResponseHeadersRegex?: string;
  readonly addAuthCookiesToResponse?: readonly string[];
  /** Only these original headers go to the auth server (Traefik `authRequestHeaders`); default all. */
  readonly authRequestHeaders?: readonly string[];
  readonly preserveLocationHeader?: boolean;
  readonly preserveRequestMethod?: boolean;
  /** Send the original body to the auth server (v3.3+). */
  readonly forwardBody?: boolean;
  /** Traefik v2.11 drops every Set-Cookie of a 2xx auth response. */
  readonly version?: 'v3' | 'v2.11';
}

export interface ForwardAuthResult {
  readonly status: number;
  /** Headers of the auth response (lower-case names); for non-2xx, what the client receives. */
  readonly headers: Readonly<Record<string, string | string[]>>;
  /** Location as the client sees it (resolved per Traefik's rule), if any. */
  readonly location: string | undefined;
  /** The Set-Cookie headers that reach the browser (and were stored in the jar). */
  readonly setCookies: readonly string[];
  /** Every Set-Cookie of the auth response, reaching the browser or not. */
  readonly authSetCookies: readonly string[];
  readonly body: string;
  /** The headers sent to the auth server. */
  readonly sentHeaders: Readonly<Record<string, string>>;
  /** 2xx: the headers Traefik would set on the upstream request from the auth response. */
  readonly forwardedHeaders: Readonly<Record<string, string>>;
  /** 2xx: the full header set the upstream would receive (lower-case names). */
  readonly upstreamHeaders: Readonly<Record<string, string>>;
}

function toArray(value: string | string[] | undefined): string[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function cookieName(setCookie: string): string {
  return setCookie.slice(0, Math.max(0, setCookie.indexOf('='))).trim();
}

function lowerCaseKeys(headers: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}

/** Plays one request through Traefik's ForwardAuth, updating the browser's jar as Traefik would. */
export async function forwardAuth(
  authAddress: string,
  original: OriginalRequest,
  jar: CookieJar,
  options: ForwardAuthOptions = {},
): Promise<ForwardAuthResult> {
  const url = new URL(original.url);
  const method = (original.method ?? 'GET').toUpperCase();
  const browserHeaders = lowerCaseKeys(original.headers ?? {});
  const cookie = jar.cookieHeader(url);
  if (cookie !== undefined) browserHeaders.cookie = cookie;
  delete browserHeaders.host;

  // Traefik's entry point: X-Forwarded-* from an untrusted client are dropped, its own are set.
  for (const name of Object.keys(browserHeaders)) {
    if (name.startsWith('x-forwarded-') || name === 'x-real-ip') delete browserHeaders[name];
  }
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  const remote = original.remoteAddress ?? '127.0.0.1';
  const request_: Record<string, string> = {
    ...browserHeaders,
    'x-forwarded-port': port,
    'x-forwarded-server': 'traefik-harness',
    'x-real-ip': remote,
  };

  // forward.go writeHeader(): copy, strip hop-by-hop, then the X-Forwarded-* of the original request.
  let sent: Record<string, string> = { ...request_ };
  const connectionListed = (sent.connection ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  for (const name of [...HOP_BY_HOP, ...connectionListed]) delete sent[name];
  if (options.authRequestHeaders !== undefined) {
    const allowed = new Set(options.authRequestHeaders.map((h) => h.toLowerCase()));
    sent = Object.fromEntries(Object.entries(sent).filter(([k]) => allowed.has(k)));
  }
  sent['x-forwarded-for'] = remote;
  sent['x-forwarded-method'] = method;
  sent['x-forwarded-proto'] = url.protocol.slice(0, -1);
  sent['x-forwarded-host'] = url.host;
  sent['x-forwarded-uri'] = `${url.pathname}${url.search}`;
  sent['x-forwarded-port'] = port;
  // Go's client writes Content-Length from the request it builds, never from the copied headers.
  delete sent['content-length'];

  // readBodyBytes() leaves an empty body out altogether.
  const forwardedBody =
    options.forwardBody === true && original.body !== undefined && original.body.length > 0
      ? typeof original.body === 'string' ? Buffer.from(original.body, 'utf8') : original.body
      : undefined;

  const response = await request(authAddress, {
    method: (options.preserveRequestMethod === true ? method : 'GET') as Dispatcher.HttpMethod,
    headers: sent,
    ...(forwardedBody === undefined ? {} : { body: forwardedBody }),
    maxRedirections: 0,
  });
  const body = await response.body.text();
  const headers = response.headers as Record<string, string | string[]>;
  const authSetCookies = toArray(headers['set-cookie']);
  const status = response.statusCode;

  if (status < 200 || status >= 300) {
    const raw = headers.location;
    const location =
      typeof raw !== 'string' ? undefined : options.preserveLocationHeader === true ? raw : new URL(raw, authAddress).href;
    // All cookies of a non-2xx answer reach the browser, for the URL it asked for.
    jar.setCookies(authSetCookies, url);
    return { status, headers, location, setCookies: authSetCookies, authSetCookies, body, sentHeaders: sent, forwardedHeaders: {}, upstreamHeaders: {} };
  }

  const upstream: Record<string, string> = { ...request_ };
  const forwarded: Record<string, string> = {};
  for (const name of options.authResponseHeaders ?? []) {
    const key = name.toLowerCase();
    delete upstream[key];
    const values = toArray(headers[key]);
    if (values.length > 0) {
      upstream[key] = values.join(', ');
      forwarded[key] = values.join(', ');
    }
  }
  if (options.authResponseHeadersRegex !== undefined) {
    // Go's regexp.MatchString against the canonical header name; unanchored, case-sensitive.
    const pattern = new RegExp(options.authResponseHeadersRegex);
    const canonical = (name: string): string => name.replace(/(^|-)([a-z])/g, (_m, dash: string, c: string) => dash + c.toUpperCase());
    for (const key of Object.keys(upstream)) if (pattern.test(canonical(key))) delete upstream[key];
    for (const [key, value] of Object.entries(headers)) {
      if (pattern.test(canonical(key))) {
        upstream[key] = toArray(value).join(', ');
        forwarded[key] = toArray(value).join(', ');
      }
    }
  }
  const allowedCookies = new Set(options.version === 'v2.11' ? [] : (options.addAuthCookiesToResponse ?? []));
  const setCookies = authSetCookies.filter((c) => allowedCookies.has(cookieName(c)));
  jar.setCookies(setCookies, url);
  return { status, headers, location: undefined, setCookies, authSetCookies, body, sentHeaders: sent, forwardedHeaders: forwarded, upstreamHeaders: upstream };
}

/** What a browser sends on a top-level navigation (our service tells navigations from API calls). */
export const NAVIGATION_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8',
  'sec-fetch-mode': 'navigate',
  'sec-fetch-dest': 'document',
  'sec-fetch-site': 'none',
  'user-agent': 'Mozilla/5.0 (forward-auth test harness)',
});

export interface BrowserLoginOptions extends ForwardAuthOptions {
  /** Our service's auth address, e.g. http://127.0.0.1:PORT/auth/NAME. */
  readonly authAddress: string;
  /** The protected URL the user opens. */
  readonly url: string;
  readonly user?: string;
  /** The browser's jar (application cookies); a new one by default. */
  readonly jar?: CookieJar;
  /** The provider-side cookies (its login session); a new one by default. */
  readonly providerJar?: CookieJar;
  readonly headers?: Readonly<Record<string, string>>;
  readonly login?: Omit<CompleteLoginOptions, 'jar' | 'user'>;
}

export interface BrowserLoginResult {
  readonly jar: CookieJar;
  readonly providerJar: CookieJar;
  /** The provider URL our service redirected to. */
  readonly authorizationUrl: string;
  /** Our callback URL as the provider sent the browser back. */
  readonly callbackUrl: string;
  /** ForwardAuth's answer to the callback (the redirect to the original URL). */
  readonly callback: ForwardAuthResult;
  /** ForwardAuth's answer when the browser comes back to the original URL (2xx when signed in). */
  readonly final: ForwardAuthResult;
}

export class BrowserFlowError extends Error {
  override readonly name = 'BrowserFlowError';
}

/**
 * Protected URL → our 302 to the provider → sign-in at the provider → our callback (through
 * ForwardAuth, as the callback path is routed through the same middleware) → back to the original URL.
 */
export async function browserLogin(options: BrowserLoginOptions): Promise<BrowserLoginResult> {
  const jar = options.jar ?? createCookieJar();
  const providerJar = options.providerJar ?? createCookieJar();
  const headers = { ...NAVIGATION_HEADERS, ...options.headers };
  const navigate = (url: string): Promise<ForwardAuthResult> => forwardAuth(options.authAddress, { method: 'GET', url, headers }, jar, options);

  const first = await navigate(options.url);
  if (first.status !== 302 || first.location === undefined) {
    throw new BrowserFlowError(`expected a 302 to the provider for ${options.url}, got ${first.status}`);
  }
  const authorizationUrl = first.location;
  const callbackUrl = await completeLogin(authorizationUrl, { ...options.login, user: options.user ?? 'alice', jar: providerJar });
  const callback = await navigate(callbackUrl);
  if (callback.status !== 302 || callback.location === undefined) {
    throw new BrowserFlowError(`expected the callback to redirect back, got ${callback.status}: ${callback.body.slice(0, 200)}`);
  }
  const final = await navigate(callback.location);
  return { jar, providerJar, authorizationUrl, callbackUrl, callback, final };
}
