/**
 * Open redirects: every payload of the public lists (oauth2-proxy, mod_auth_openidc) as the URL a
 * login returns to and as the target of a logout. Whatever the payload, the browser ends up on
 * the protected application's own origin, at the provider, at the configured post-logout URL, or
 * is refused; never on a host the payload names, never a 5xx.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar, type CookieJar } from '../../support/cookie-jar.js';
import { forwardAuth, NAVIGATION_HEADERS } from '../../support/forward-auth-client.js';
import { completeLogin, startTestProvider, TEST_APP_ORIGIN, type DevProvider } from '../../support/op.js';
import { startService, type TestService } from '../../support/service.js';
import { expectNothingGranted, header, mapLimit, NAVIGATION, rawRequest, setCookies, utf8Bytes, type RawHeader, type RawResponse } from './support.js';

const APP = TEST_APP_ORIGIN;
const APP_HOST = new URL(APP).host;
const LISTS = ['oauth2-proxy-openredirects.txt', 'mod_auth_openidc-open-redirect-payload-list.txt'];
const DATA = new URL('./data/open-redirect/', import.meta.url);
const POST_LOGOUT = `${APP}/logged-out`;
const CONCURRENCY = 4;
const LONG = 300_000;

interface Payload {
  readonly text: string;
  /** Lines (across both lists) that hold this payload. */
  readonly lines: number;
}

/** Read at test time; duplicates across and within the lists run once and are counted. */
function readPayloads(): { payloads: Payload[]; lines: number } {
  const counts = new Map<string, number>();
  let lines = 0;
  for (const list of LISTS) {
    for (const line of readFileSync(new URL(list, DATA), 'utf8').split('\n')) {
      if (line === '') continue;
      lines += 1;
      counts.set(line, (counts.get(line) ?? 0) + 1);
    }
  }
  return { payloads: [...counts].map(([text, n]) => ({ text, lines: n })), lines };
}

/** A browser percent-encodes what may not appear in a request-target, and the path starts with "/". */
function asBrowserPath(payload: string): string {
  const encoded = [...payload].map((c) => (/^[\x21-\x7e]$/.test(c) ? c : encodeURIComponent(c))).join('');
  return encoded.startsWith('/') ? encoded : `/${encoded}`;
}

function forwarded(uri: string, host = APP_HOST): RawHeader[] {
  return [
    ['X-Forwarded-Method', 'GET'],
    ['X-Forwarded-Proto', 'http'],
    ['X-Forwarded-Host', host],
    ['X-Forwarded-Uri', uri],
  ];
}

describe('open-redirect payloads', () => {
  let op: DevProvider;
  let plainOp: DevProvider;
  let service: TestService;
  const { payloads, lines } = readPayloads();
  /** Sessions the login test leaves behind; the logout test ends them. */
  const signedIn: CookieJar[] = [];
  const tally = { loginRuns: 0, loginsCompleted: 0, loginsRefused: 0, hostRuns: 0, hostsRefused: 0, logoutRuns: 0 };

  beforeAll(async () => {
    op = await startTestProvider();
    plainOp = await startTestProvider({ rpInitiatedLogout: false });
    service = await startService({
      middlewares: [
        { name: 'test', issuer: op.issuer, logoutUrl: '/logout', postLogoutRedirectUrl: '/logged-out' },
        { name: 'plain', issuer: plainOp.issuer, logoutUrl: '/logout', postLogoutRedirectUrl: '/logged-out' },
      ],
    });
  });
  afterAll(async () => {
    await service?.stop();
    await op?.stop();
    await plainOp?.stop();
    // Printed so the suite's reach is visible in CI logs.
    console.info(`open-redirect payloads: ${lines} lines, ${payloads.length} distinct; ${JSON.stringify(tally)}`);
  });

  function authorizationRequestOf(response: RawResponse, provider = op): URL {
    const url = new URL(header(response, 'location') ?? '');
    expect(url.origin).toBe(provider.url);
    expect(url.searchParams.get('redirect_uri')).toBe(`${APP}/callback`);
    return url;
  }

  /** Starts a login whose return URL is `uri`; undefined when refused, else the signed-in jar. */
  async function loginReturningTo(uri: string, label: string): Promise<CookieJar | undefined> {
    const start = await rawRequest(service.origin, '/auth/test', [...NAVIGATION, ...forwarded(uri)]);
    if (start.status === 400) {
      expectNothingGranted(start, { sessionCookies: ['test-session'], statuses: [400] }, label);
      expect(setCookies(start), label).toEqual([]);
      tally.loginsRefused += 1;
      return undefined;
    }
    expect(start.status, `${label}: ${start.body.slice(0, 200)}`).toBe(302);
    const authorization = authorizationRequestOf(start);
    const jar = createCookieJar();
    jar.setCookies(setCookies(start), `${APP}/`);
    // A provider session per login: oidc-provider's resume cookies do not survive logins interleaved in one jar.
    const callbackUrl = await completeLogin(authorization.href, { user: 'alice', jar: createCookieJar() });
    expect(new URL(callbackUrl).origin).toBe(APP);
    const callback = await forwardAuth(service.authAddress('test'), { url: callbackUrl, headers: NAVIGATION_HEADERS }, jar);
    expect(callback.status, label).toBe(302);
    const location = callback.location ?? '';
    // What a browser makes of the Location: it must stay on the application's origin.
    expect(new URL(location).origin, `${label} → ${location}`).toBe(APP);
    expect(location.startsWith(`${APP}/`), `${label} → ${location}`).toBe(true);
    // No backslash or space left in the path for a browser to reinterpret (a query may carry them as data).
    expect(/[\s\\]/.test(location.split(/[?#]/)[0] ?? ''), `${label} → ${location}`).toBe(false);
    expect(jar.get('test-session'), label).toBeDefined();
    tally.loginsCompleted += 1;
    return jar;
  }

  it(
    'returns to the application’s own origin (or refuses with 400) after a login started at each payload',
    async () => {
      const uris = payloads.flatMap((p) => {
        const raw = utf8Bytes(p.text);
        const browser = asBrowserPath(p.text);
        return raw === browser ? [raw] : [raw, browser];
      });
      const jars = await mapLimit(uris, CONCURRENCY, async (uri) => {
        tally.loginRuns += 1;
        return loginReturningTo(uri, `login at ${JSON.stringify(uri)}`);
      });
      // The lists are built to be dangerous as paths: many must still be accepted and completed.
      expect(tally.loginsCompleted).toBeGreaterThan(payloads.length / 2);
      expect(tally.loginsRefused).toBeGreaterThan(0);
      expect(tally.loginsCompleted + tally.loginsRefused).toBe(uris.length);
      signedIn.push(...jars.filter((jar): jar is CookieJar => jar !== undefined));
    },
    LONG,
  );

  it(
    'never starts a login on another host than the one the proxy named in X-Forwarded-Host',
    async () => {
      await mapLimit(payloads, CONCURRENCY, async (payload) => {
        tally.hostRuns += 1;
        const label = `host ${JSON.stringify(payload.text)}`;
        const start = await rawRequest(service.origin, '/auth/test', [...NAVIGATION, ...forwarded('/', utf8Bytes(payload.text))]);
        expectNothingGranted(start, { sessionCookies: ['test-session'], statuses: [302, 400] }, label);
        if (start.status === 400) {
          tally.hostsRefused += 1;
          return;
        }
        // Accepted only when the payload is a plain host name; the redirect_uri is on exactly that host.
        expect(payload.text, label).toMatch(/^[A-Za-z0-9.-]+$/);
        const redirectUri = new URL(new URL(header(start, 'location') ?? '').searchParams.get('redirect_uri') ?? '');
        expect(redirectUri.host, label).toBe(payload.text.toLowerCase());
      });
      expect(tally.hostsRefused).toBeGreaterThan(payloads.length - 5);
    },
    LONG,
  );

  /** Every Location a logout may answer with: the provider's end-session URL carrying the configured return, or that URL itself. */
  function expectLogoutLocation(response: RawResponse, middleware: 'test' | 'plain', label: string): void {
    expectNothingGranted(response, { sessionCookies: [`${middleware}-session`], statuses: [302, 400, 401] }, label);
    const location = header(response, 'location');
    if (location === undefined) return;
    const url = new URL(location);
    const provider = middleware === 'plain' ? plainOp : op;
    if (url.origin === provider.url && url.pathname.endsWith('/auth')) {
      // Not the logout path after all (a path trick): an ordinary login, returning to our callback.
      authorizationRequestOf(response, provider);
      return;
    }
    if (middleware === 'plain') {
      expect(location, label).toBe(POST_LOGOUT);
      return;
    }
    expect(url.origin, label).toBe(op.url);
    expect(url.pathname, label).toMatch(/\/session\/end$/);
    expect(url.searchParams.get('post_logout_redirect_uri'), label).toBe(POST_LOGOUT);
    for (const key of url.searchParams.keys()) expect(['client_id', 'id_token_hint', 'post_logout_redirect_uri'], label).toContain(key);
  }

  function logoutTargets(payload: string): string[] {
    const encoded = encodeURIComponent(payload);
    const query = ['post_logout_redirect_uri', 'redirect_uri', 'rd', 'next', 'return_to', 'url']
      .map((key) => `${key}=${encoded}`)
      .join('&');
    const raw = utf8Bytes(payload);
    return [`/logout?${query}`, `/logout?${raw}`, `/logout#${raw}`, `/logout${raw}`, `/logout/${raw}`];
  }

  it(
    'sends the browser after logout only to the provider’s end-session URL or the configured post-logout URL',
    async () => {
      let withSession = 0;
      await mapLimit(payloads, CONCURRENCY, async (payload, index) => {
        for (const middleware of ['test', 'plain'] as const) {
          for (const target of logoutTargets(payload.text)) {
            tally.logoutRuns += 1;
            // Sessions from the login test above end here, one per payload while they last.
            const jar = middleware === 'test' && target.includes('post_logout_redirect_uri') ? signedIn[index] : undefined;
            const cookie = jar?.cookieHeader(`${APP}/logout`);
            if (cookie !== undefined) withSession += 1;
            const response = await rawRequest(service.origin, `/auth/${middleware}`, [
              ...NAVIGATION,
              ...forwarded(target),
              ...(cookie === undefined ? [] : ([['Cookie', cookie]] as RawHeader[])),
            ]);
            expectLogoutLocation(response, middleware, `${middleware} logout ${JSON.stringify(target)}`);
          }
        }
      });
      expect(withSession).toBeGreaterThan(0);
    },
    LONG,
  );
});
