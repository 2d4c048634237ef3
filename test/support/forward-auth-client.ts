/**
 * A REPRODUCTION of Traefik's ForwardAuth middleware in TypeScript, not Traefik: the fast,
 * in-process client that the flow, hostile and observability tests drive our service with.
 * Traefik's behaviour itself is proven against the real binaries (v3 and v2.11, built by
 * deploy/peers/build.sh) in test/deploy/login-through-proxies.test.ts and test/browser/journey-through-proxies.test.ts, and
 * test/deploy/traefik-forward-auth.test.ts sends the same requests through both: this file only
 * has to agree with the binaries. It was read from pkg/middlewares/auth/forward.go,
 * pkg/middlewares/forwardedheaders/forwarded_header.go and pkg/server/server_entrypoint_tcp.go
 * (v3.7.9, and v2.11.53 where `version: 'v2.11'` says so):
 * - the entry point (default settings, the client not in forwardedHeaders.trustedIPs) deletes only
 *   the X-headers it manages — X-Forwarded-Proto, -For, -Host, -Port, -Server, -Uri, -Method,
 *   -Prefix, -Tls-Client-Cert, -Tls-Client-Cert-Info and X-Real-Ip, with their underscore
 *   variants (X_Forwarded_Proto) — then sets X-Real-Ip, X-Forwarded-Proto, -Port, -Host and
 *   -Server, and drops headers named in Connection (never a managed one). Any other header, a
 *   client's X-Forwarded-User or X-Forwarded-Scheme included, goes on to the auth server and to
 *   the application; only authResponseHeaders replace it;
 * - the entry point also rewrites the request target before any middleware: percent-encoded
 *   unreserved characters decoded and other escapes upper-cased (normalizePath), dot segments and
 *   repeated slashes removed (sanitizePath, on by default), and `;` in the query turned into `&`
 *   (http.AllowQuerySemicolons). X-Forwarded-Uri is that rewritten target;
 * - the auth request is a GET to `address` as configured (no path appended, no body), carrying the
 *   request's headers minus those named in Connection and forward.go's hopHeaders (Connection,
 *   Keep-Alive, Te, Trailers, Transfer-Encoding, Upgrade: Proxy-Authorization is kept). Without
 *   `trustForwardHeader` it then sets X-Forwarded-For (the client address), -Proto, -Method, -Host
 *   and -Uri; with it, writeHeader() deletes the managed X-headers first when false, appends the
 *   client to X-Forwarded-For, and sets -Method, -Proto, -Port, -Host and -Uri only where missing.
 *   `preserveRequestMethod` (v3.4+) keeps the original method, `forwardBody` (v3.3+) sends the body
 *   (`maxBodySize` is not modelled);
 * - the auth request has a 30 s timeout: a failure or a timeout answers a bare 500; a body over
 *   `maxResponseBodySize` a bare 401 (no limit when it is not set);
 * - redirects are never followed;
 * - non-2xx: status, body and all headers but the hop-by-hop ones (every Set-Cookie) go to the
 *   client, and a relative Location is resolved against the auth address unless
 *   preserveLocationHeader;
 * - 2xx: for each authResponseHeaders name, the request header is deleted then copied from the
 *   auth response if present; authResponseHeadersRegex likewise (unanchored match); Set-Cookie
 *   reaches the client only for names in addAuthCookiesToResponse (v3.0+; v2.11 drops them all).
 * Not modelled: the entry point's underscoreHeadersStrategy, the Go client's Accept-Encoding: gzip,
 * Traefik re-serialising cookies, the reverse proxy's own X-Forwarded-For on the way to the
 * application, authSigninURL, 499 on a client that went away.
 * The client is a browser with a cookie jar: what reaches "the client" is stored in the jar.
 */
import { request, type Dispatcher } from 'undici';
import { createCookieJar, type CookieJar } from './cookie-jar.js';
import { completeLogin, type CompleteLoginOptions } from './op.js';

/** forward.go `hopHeaders` (oxy's names: "Trailers", not "Trailer"). Proxy-Authorization is kept. */
const HOP_BY_HOP = ['connection', 'keep-alive', 'te', 'trailers', 'transfer-encoding', 'upgrade'];
/** Headers Go's client never writes from the header map (it writes its own or none). */
const NOT_WRITTEN_BY_GO = ['host', 'content-length', 'transfer-encoding', 'trailer'];
/** forwardedheaders.XHeadersSet, lower-cased. */
const MANAGED_X_HEADERS = new Set([
  'x-forwarded-proto',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-port',
  'x-forwarded-server',
  'x-forwarded-uri',
  'x-forwarded-method',
  'x-forwarded-prefix',
  'x-forwarded-tls-client-cert',
  'x-forwarded-tls-client-cert-info',
  'x-real-ip',
]);
const TRAEFIK_TIMEOUT_MS = 30_000;
const GO_USER_AGENT = 'Go-http-client/1.1';

/** forwardedheaders.isManagedXHeader: the managed names, `_` read as `-`. */
function isManagedXHeader(name: string): boolean {
  return MANAGED_X_HEADERS.has(name.toLowerCase().replaceAll('_', '-'));
}

export interface OriginalRequest {
  readonly method?: string;
  /** Absolute URL the browser asked for, e.g. http://app.example.test/private?x=1. */
  readonly url: string;
  /**
   * The request target as sent on the wire, when it must differ from the URL's (which WHATWG
   * parsing has already cleaned of dot segments), e.g. `/a/../b//c?x=1;y=2`.
   */
  readonly target?: string;
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
  /** Traefik `trustForwardHeader`; unset is its legacy behaviour (oldWriteHeader). */
  readonly trustForwardHeader?: boolean;
  /** Traefik `maxResponseBodySize` in bytes; unset (or negative) reads any size. */
  readonly maxResponseBodySize?: number;
  /** Traefik's is a fixed 30 s; tests shorten it to see the bare 500 without waiting. */
  readonly timeoutMs?: number;
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

function connectionTokens(headers: Readonly<Record<string, string>>): string[] {
  return (headers.connection ?? '').split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/**
 * The request target after the entry point: normalizePath (unreserved escapes decoded, the others
 * upper-cased), sanitizePath (url.JoinPath(): path.Clean, keeping one trailing slash) and
 * http.AllowQuerySemicolons (`;` → `&` in the query).
 */
export function traefikRequestUri(target: string): string {
  const queryAt = target.indexOf('?');
  const rawPath = queryAt === -1 ? target : target.slice(0, queryAt);
  const query = queryAt === -1 ? undefined : target.slice(queryAt + 1);
  const normalised = rawPath.replace(/%([0-9A-Fa-f]{2})/g, (_match, hex: string) => {
    const character = String.fromCharCode(Number.parseInt(hex, 16));
    return UNRESERVED.test(character) ? character : `%${hex.toUpperCase()}`;
  });
  const segments: string[] = [];
  for (const segment of normalised.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  let path = `/${segments.join('/')}`;
  if (normalised.endsWith('/') && !path.endsWith('/')) path += '/';
  return query === undefined || query === '' ? path : `${path}?${query.replaceAll(';', '&')}`;
}

function bareAnswer(status: number, sent: Record<string, string>): ForwardAuthResult {
  return { status, headers: {}, location: undefined, setCookies: [], authSetCookies: [], body: '', sentHeaders: sent, forwardedHeaders: {}, upstreamHeaders: {} };
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
  const v2 = options.version === 'v2.11';

  // The entry point (forwardedheaders.XForwarded, client untrusted): managed X-headers deleted...
  const entry: Record<string, string> = {};
  for (const [name, value] of Object.entries(browserHeaders)) if (!isManagedXHeader(name)) entry[name] = value;
  // ...then rewrite(): its own values.
  const https = url.protocol === 'https:';
  const websocket = connectionTokens(entry).includes('upgrade') && (entry.upgrade ?? '').toLowerCase().split(',').map((s) => s.trim()).includes('websocket');
  const port = url.port !== '' ? url.port : https ? '443' : '80';
  const remote = original.remoteAddress ?? '127.0.0.1';
  entry['x-real-ip'] = remote;
  entry['x-forwarded-proto'] = websocket ? (https ? 'wss' : 'ws') : https ? 'https' : 'http';
  entry['x-forwarded-port'] = port;
  entry['x-forwarded-host'] = url.host;
  entry['x-forwarded-server'] = 'traefik-harness';
  // removeConnectionHeaders(): names listed in Connection go, managed X-headers excepted.
  const upgrade = connectionTokens(entry).includes('upgrade') ? entry.upgrade : undefined;
  for (const name of connectionTokens(entry)) if (!isManagedXHeader(name)) delete entry[name];
  delete entry.connection;
  if (upgrade !== undefined) {
    entry.connection = 'Upgrade';
    entry.upgrade = upgrade;
  }
  const requestUri = traefikRequestUri(original.target ?? `${url.pathname}${url.search}`);

  // forward.go writeHeader()/oldWriteHeader(): copy, strip Connection-listed and hop-by-hop headers.
  let sent: Record<string, string> = { ...entry };
  for (const name of [...connectionTokens(sent), ...HOP_BY_HOP]) delete sent[name];
  const trust = options.trustForwardHeader;
  if (trust === false) for (const name of Object.keys(sent)) if (isManagedXHeader(name)) delete sent[name];
  if (trust !== undefined && !v2 && browserHeaders['user-agent'] === undefined) sent['user-agent'] = '';
  if (options.authRequestHeaders !== undefined) {
    const allowed = new Set([...options.authRequestHeaders, ...(trust === true ? MANAGED_X_HEADERS : [])].map((h) => h.toLowerCase()));
    sent = Object.fromEntries(Object.entries(sent).filter(([k]) => allowed.has(k)));
  }
  if (trust === undefined) {
    sent['x-forwarded-for'] = remote;
    sent['x-forwarded-proto'] = https ? 'https' : 'http';
    sent['x-forwarded-method'] = method;
    sent['x-forwarded-host'] = url.host;
    sent['x-forwarded-uri'] = requestUri;
  } else {
    sent['x-forwarded-for'] = sent['x-forwarded-for'] === undefined ? remote : `${sent['x-forwarded-for']}, ${remote}`;
    sent['x-forwarded-method'] ??= method;
    sent['x-forwarded-proto'] ??= https ? 'https' : 'http';
    sent['x-forwarded-port'] ??= url.port !== '' ? url.port : sent['x-forwarded-proto'] === 'https' || https ? '443' : '80';
    sent['x-forwarded-host'] ??= url.host;
    sent['x-forwarded-uri'] ??= requestUri;
  }
  // Go's client writes Host, Content-Length and framing itself, and its own User-Agent when none
  // is set; an empty User-Agent sends none.
  for (const name of NOT_WRITTEN_BY_GO) delete sent[name];
  if (sent['user-agent'] === undefined) sent['user-agent'] = GO_USER_AGENT;
  else if (sent['user-agent'] === '') delete sent['user-agent'];

  // readBodyBytes() leaves an empty body out altogether.
  const forwardedBody =
    options.forwardBody === true && original.body !== undefined && original.body.length > 0
      ? typeof original.body === 'string' ? Buffer.from(original.body, 'utf8') : original.body
      : undefined;

  let status: number;
  let headers: Record<string, string | string[]>;
  let bodyBytes: Buffer;
  try {
    const signal = AbortSignal.timeout(options.timeoutMs ?? TRAEFIK_TIMEOUT_MS);
    const response = await request(authAddress, {
      method: (options.preserveRequestMethod === true ? method : 'GET') as Dispatcher.HttpMethod,
      headers: sent,
      ...(forwardedBody === undefined ? {} : { body: forwardedBody }),
      maxRedirections: 0,
      signal,
    });
    status = response.statusCode;
    headers = response.headers as Record<string, string | string[]>;
    bodyBytes = Buffer.from(await response.body.arrayBuffer());
  } catch {
    // client.Do() or reading the body failed (refused, reset, 30 s passed): a bare 500.
    return bareAnswer(500, sent);
  }
  const limit = options.maxResponseBodySize;
  if (limit !== undefined && limit >= 0 && bodyBytes.length > limit) return bareAnswer(401, sent);
  const body = bodyBytes.toString('utf8');
  const authSetCookies = toArray(headers['set-cookie']);

  if (status < 200 || status >= 300) {
    const relayed = Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.includes(name)));
    const raw = headers.location;
    const location =
      typeof raw !== 'string' ? undefined : options.preserveLocationHeader === true ? raw : new URL(raw, authAddress).href;
    // All cookies of a non-2xx answer reach the browser, for the URL it asked for.
    jar.setCookies(authSetCookies, url);
    return { status, headers: relayed, location, setCookies: authSetCookies, authSetCookies, body, sentHeaders: sent, forwardedHeaders: {}, upstreamHeaders: {} };
  }

  const upstream: Record<string, string> = { ...entry };
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
  const allowedCookies = new Set(v2 ? [] : (options.addAuthCookiesToResponse ?? []));
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
