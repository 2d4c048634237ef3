/**
 * The micro-cache variant of the nginx recipe (nginx/oidc-forward-auth-microcache.conf), run by
 * Debian's real nginx: first in front of a stand-in auth service that counts the subrequests it
 * answers, then in front of our real service and the real provider.
 *
 * The variant caches each 200 for 2 s. Most tests run it with that one number raised to 300 s, so
 * "answered from the cache" never depends on how fast this machine is; the tests about the end of
 * the TTL run the file exactly as shipped and wait for the TTL to pass (nginx counts whole
 * seconds: an entry made for 2 s lives at most 3 s).
 */
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream, type EchoedRequest } from '../../deploy/demo/echo-upstream.js';
import { renderNginxConf } from '../../deploy/demo/nginx-conf.js';
import { ERROR_TABLE, type ErrorCode } from '../../src/errors.js';
import { startTestProvider, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type DevProvider } from '../support/op.js';
import { reservePort } from '../support/scripted-server.js';
import { startService, type TestService } from '../support/service.js';
import { loginThroughProxy, type HttpBrowser } from './http-browser.js';
import { startNginx, type RunningNginx } from './nginx-process.js';

const VARIANT_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../nginx/oidc-forward-auth-microcache.conf');
const SHIPPED_TTL_LINE = 'proxy_cache_valid 200 2s;';
/** The shipped TTL is 2 s; nginx keeps an entry until the end of the second after it. */
const SHIPPED_TTL_END_MS = 3_000;
/** Long enough that a test never outlives it. */
const LONG_TTL_SECONDS = 300;
const CSRF_HEADER = 'TraefikHub-Csrf-Token';

function variant(ttlSeconds?: number): string {
  const text = readFileSync(VARIANT_PATH, 'utf8');
  if (ttlSeconds === undefined) return text;
  const count = text.split(SHIPPED_TTL_LINE).length - 1;
  if (count !== 1) throw new Error(`the micro-cache recipe should hold "${SHIPPED_TTL_LINE}" once, found it ${count} times`);
  return text.replace(SHIPPED_TTL_LINE, `proxy_cache_valid 200 ${ttlSeconds}s;`);
}

const sleep = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));
const uniqueValue = (): string => randomBytes(12).toString('base64url');

describe('the micro-cache recipe file', () => {
  it('caches 200s only, never ignores Set-Cookie, and keys on the whole Cookie header', () => {
    const text = variant();
    const directives = text.split('\n').filter((line) => !line.trimStart().startsWith('#'));
    const active = directives.join('\n');
    expect(active.match(/proxy_cache_valid [^;]*;/g)).toEqual([SHIPPED_TTL_LINE]);
    expect(active).toMatch(/proxy_ignore_headers Cache-Control Expires;/);
    expect(active).not.toMatch(/proxy_ignore_headers[^;]*Set-Cookie/i);
    expect(active).not.toMatch(/proxy_cache_use_stale|proxy_cache_background_update|proxy_cache_lock /);
    const key = /proxy_cache_key "([^"]*)";/.exec(active)?.[1];
    expect(key?.split('\n')).toEqual([
      '/auth/app',
      '$request_method',
      '$scheme',
      '$http_host',
      '$oidc_request_path',
      '$http_accept',
      '$http_sec_fetch_mode',
      '$http_sec_fetch_dest',
      '$http_x_requested_with',
      '$http_traefikhub_csrf_token',
      '$http_authorization',
      '$http_cookie',
    ]);
  });

  it('renders with the cache under the test prefix and the chosen middleware in the cache key as well as in the URLs', () => {
    const conf = renderNginxConf({
      prefix: '/tmp/ofa-x',
      listen: '127.0.0.1:9999',
      authAddress: '127.0.0.1:1111',
      appAddress: '127.0.0.1:2222',
      middleware: 'demo',
      snippet: variant(),
    });

    expect(conf).toMatch(/^proxy_cache_path \/tmp\/ofa-x\/cache\/oidc-forward-auth-nginx-cache levels=1:2 /m);
    expect(conf).not.toContain('/run/');
    expect(conf).toContain('proxy_cache_key "/auth/demo\n');
    const directives = conf.split('\n').filter((line) => !line.trimStart().startsWith('#'));
    expect(directives.filter((line) => line.includes('/auth/app'))).toEqual([]);
  });

  it('is the shipped recipe plus its micro-cache lines: every other line of the shipped file is in it, in order', () => {
    const shipped = readFileSync(resolve(dirname(VARIANT_PATH), 'oidc-forward-auth.conf'), 'utf8').split('\n');
    const lines = variant().split('\n');
    let at = 0;
    const missing: string[] = [];
    for (const line of shipped) {
      const found = lines.indexOf(line, at);
      if (found < 0) missing.push(line);
      else at = found + 1;
    }
    // The header names the variant and the places to adapt; everything else is kept as shipped.
    expect(missing.filter((line) => !line.startsWith('#'))).toEqual([]);
  });
});

// ---------------------------------------------------------------------------------------------
// In front of a stand-in service

interface SeenByAuth {
  readonly path: string;
  readonly method: string;
  readonly cookie: string | undefined;
}

const SESSION = 'app-session';

function errorHeaders(code: ErrorCode): Record<string, string> {
  return { 'X-Auth-Error': code, 'X-Auth-Error-Message': ERROR_TABLE[code].title };
}

/** Under /custom-csrf the stand-in plays a middleware whose csrf.headerName is not the default, so not in the cache key. */
const CUSTOM_CSRF_HEADER = 'X-My-Csrf';
const csrfHeaderFor = (path: string): string => (path === '/custom-csrf' ? CUSTOM_CSRF_HEADER : CSRF_HEADER).toLowerCase();

/**
 * Answers as the service does through nginx, headers only and always `Cache-Control: no-store`:
 * one session cookie opens to `VALUE@example.test`, two of the session name are refused, a
 * revoked one too; unsafe methods need the token `csrf-VALUE`. X-Forwarded-Groups numbers the
 * answer, so a test can tell a cached answer from a fresh one.
 */
function createStandIn(): { server: Server; seen: SeenByAuth[]; revoked: Set<string> } {
  const seen: SeenByAuth[] = [];
  const revoked = new Set<string>();
  let answers = 0;
  const server = createServer((incoming: IncomingMessage, response: ServerResponse) => {
    answers += 1;
    const path = String(incoming.headers['x-forwarded-uri'] ?? '').split('?')[0] ?? '';
    const method = String(incoming.headers['x-forwarded-method'] ?? '');
    const cookie = incoming.headers.cookie;
    seen.push({ path, method, cookie });
    const noStore = { 'Cache-Control': 'no-store' };
    const sessions = (cookie ?? '')
      .split(';')
      .map((part) => part.trim())
      .filter((part) => part.startsWith(`${SESSION}=`))
      .map((part) => part.slice(SESSION.length + 1));
    const identity = (value: string): Record<string, string> => ({ 'X-Forwarded-User': `${value}@example.test`, 'X-Forwarded-Groups': `answer-${answers}` });
    if (path === '/public') {
      response.writeHead(200, { ...noStore, 'X-Forwarded-User': '', 'X-Forwarded-Groups': `answer-${answers}` });
    } else if (sessions.length !== 1 || revoked.has(sessions[0] as string)) {
      response.writeHead(401, { ...noStore, 'WWW-Authenticate': 'Bearer', ...errorHeaders('OFA_LOGIN_REQUIRED') });
    } else if (path === '/forbidden') {
      response.writeHead(403, { ...noStore, ...errorHeaders('OFA_CLAIMS_DENIED') });
    } else if (path === '/large') {
      // Large identity headers (the service allows 8 KiB; the echo application, Node, takes 16 KiB of headers in all).
      response.writeHead(200, { ...noStore, 'X-Forwarded-User': 'large@example.test', 'X-Forwarded-Groups': `answer-${answers},${'g'.repeat(6000)}` });
    } else if (path === '/renew') {
      response.writeHead(200, { ...noStore, ...identity(sessions[0] as string), 'Set-Cookie': `${SESSION}=${sessions[0] as string}; Path=/; HttpOnly` });
    } else if (!['GET', 'HEAD', 'OPTIONS', 'TRACE'].includes(method) && incoming.headers[csrfHeaderFor(path)] !== `csrf-${sessions[0] as string}`) {
      response.writeHead(403, { ...noStore, ...errorHeaders('OFA_CSRF_INVALID') });
    } else {
      response.writeHead(200, { ...noStore, ...identity(sessions[0] as string) });
    }
    response.end();
  });
  return { server, seen, revoked };
}

describe('the micro-cache recipe in front of a stand-in service', () => {
  let upstream: EchoUpstream;
  let standIn: ReturnType<typeof createStandIn>;
  /** The variant with a TTL no test outlives. */
  let nginx: RunningNginx;
  /** The variant exactly as shipped (2 s). */
  let shipped: RunningNginx;

  beforeAll(async () => {
    standIn = createStandIn();
    await new Promise<void>((done) => standIn.server.listen(0, '127.0.0.1', done));
    upstream = await startEchoUpstream();
    const addresses = { authAddress: `127.0.0.1:${(standIn.server.address() as AddressInfo).port}`, appAddress: `127.0.0.1:${upstream.port}` };
    nginx = await startNginx({ ...addresses, snippet: variant(LONG_TTL_SECONDS) });
    shipped = await startNginx({ ...addresses, snippet: variant() });
  });

  afterAll(async () => {
    await shipped?.stop();
    await nginx?.stop();
    await upstream?.close();
    if (standIn !== undefined) {
      standIn.server.closeAllConnections();
      await new Promise<void>((done) => standIn.server.close(() => done()));
    }
  });

  beforeEach(() => {
    standIn.seen.length = 0;
  });

  interface Sent {
    readonly status: number;
    readonly setCookies: readonly string[];
    /** What the application received, for a 200. */
    readonly echoed: EchoedRequest | undefined;
    readonly body: string;
  }

  async function send(site: RunningNginx, path: string, options: { method?: 'GET' | 'POST' | 'PUT'; headers?: Record<string, string> } = {}): Promise<Sent> {
    const answer = await request(`${site.url}${path}`, {
      method: options.method ?? 'GET',
      headers: { Accept: 'application/json', ...options.headers },
      maxRedirections: 0,
    });
    const body = await answer.body.text();
    const raw = answer.headers['set-cookie'];
    const setCookies = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    const isEcho = answer.statusCode === 200 && String(answer.headers['content-type']).includes('application/json') && body.includes('"headers"');
    return { status: answer.statusCode, setCookies, echoed: isEcho ? (JSON.parse(body) as EchoedRequest) : undefined, body };
  }

  const sessionCookie = (value: string): string => `${SESSION}=${value}`;

  it('answers a second identical request from the cache, still forwarding the identity headers and replacing the client\'s own', async () => {
    const value = uniqueValue();
    const headers = { Cookie: sessionCookie(value), 'X-Forwarded-User': 'mallory@example.test' };

    const first = await send(nginx, '/items', { headers });
    const second = await send(nginx, '/items', { headers });

    expect(standIn.seen).toHaveLength(1);
    for (const answer of [first, second]) {
      expect(answer.status).toBe(200);
      expect(answer.setCookies).toEqual([]);
      expect(answer.echoed?.headers['x-forwarded-user']).toBe(`${value}@example.test`);
    }
    // The same answer, twice: the second came from the cache, its headers read back from it.
    expect(second.echoed?.headers['x-forwarded-groups']).toBe(first.echoed?.headers['x-forwarded-groups']);
  });

  it('asks the service again for another cookie value, for a second cookie of the session name, and for any other change of the Cookie header', async () => {
    const alice = uniqueValue();
    const other = uniqueValue();
    await send(nginx, '/items', { headers: { Cookie: sessionCookie(alice) } });
    expect(standIn.seen).toHaveLength(1);

    const otherSession = await send(nginx, '/items', { headers: { Cookie: sessionCookie(other) } });
    expect(otherSession.echoed?.headers['x-forwarded-user']).toBe(`${other}@example.test`);
    // A cookie tossed in by a sibling domain: the service refuses both; alice's yes is not replayed.
    const tossed = await send(nginx, '/items', { headers: { Cookie: `${sessionCookie(alice)}; ${sessionCookie(other)}` } });
    expect(tossed.status).toBe(401);
    expect(JSON.parse(tossed.body)).toMatchObject({ error: 'OFA_LOGIN_REQUIRED' });
    const tossedFirst = await send(nginx, '/items', { headers: { Cookie: `${sessionCookie(other)}; ${sessionCookie(alice)}` } });
    expect(tossedFirst.status).toBe(401);
    const withTheme = await send(nginx, '/items', { headers: { Cookie: `${sessionCookie(alice)}; theme=dark` } });
    expect(withTheme.status).toBe(200);

    expect(standIn.seen.map((seen) => seen.cookie)).toEqual([
      sessionCookie(alice),
      sessionCookie(other),
      `${sessionCookie(alice)}; ${sessionCookie(other)}`,
      `${sessionCookie(other)}; ${sessionCookie(alice)}`,
      `${sessionCookie(alice)}; theme=dark`,
    ]);
  });

  it('caches an answer with a 6 KB Cookie header and 6 KB of identity headers (the key and the answer fit in its buffer)', async () => {
    const value = `${uniqueValue()}${'v'.repeat(6000)}`;
    const headers = { Cookie: sessionCookie(value) };

    const first = await send(nginx, '/large', { headers });
    const second = await send(nginx, '/large', { headers });

    expect([first.status, second.status]).toEqual([200, 200]);
    expect(String(second.echoed?.headers['x-forwarded-groups']).length).toBeGreaterThan(6000);
    expect(second.echoed?.headers['x-forwarded-groups']).toBe(first.echoed?.headers['x-forwarded-groups']);
    expect(standIn.seen).toHaveLength(1);
  });

  it('never stores a 200 that sets a cookie: every renewal reaches the service and the browser', async () => {
    const value = uniqueValue();
    const headers = { Cookie: sessionCookie(value) };

    const first = await send(nginx, '/renew', { headers });
    const second = await send(nginx, '/renew', { headers });

    expect(standIn.seen).toHaveLength(2);
    for (const answer of [first, second]) {
      expect(answer.status).toBe(200);
      expect(answer.setCookies).toEqual([`${SESSION}=${value}; Path=/; HttpOnly`]);
    }
    expect(second.echoed?.headers['x-forwarded-groups']).not.toBe(first.echoed?.headers['x-forwarded-groups']);
  });

  it('never stores a 401 or a 403', async () => {
    const revoked = uniqueValue();
    standIn.revoked.add(revoked);
    const allowed = uniqueValue();

    for (let i = 0; i < 2; i += 1) {
      expect((await send(nginx, '/items', { headers: { Cookie: sessionCookie(revoked) } })).status).toBe(401);
      expect((await send(nginx, '/forbidden', { headers: { Cookie: sessionCookie(allowed) } })).status).toBe(403);
    }

    expect(standIn.seen.map((seen) => seen.path)).toEqual(['/items', '/forbidden', '/items', '/forbidden']);
  });

  it('keeps unsafe methods apart from safe ones and keys them on the CSRF header', async () => {
    const value = uniqueValue();
    const cookie = { Cookie: sessionCookie(value) };
    const token = { ...cookie, [CSRF_HEADER]: `csrf-${value}` };
    const wrongToken = { ...cookie, [CSRF_HEADER]: 'csrf-someone-else' };

    expect((await send(nginx, '/items', { headers: cookie })).status).toBe(200);
    // A cached GET says nothing about a POST: without its token the service refuses it.
    expect((await send(nginx, '/items', { method: 'POST', headers: cookie })).status).toBe(403);
    expect((await send(nginx, '/items', { method: 'POST', headers: token })).status).toBe(200);
    expect((await send(nginx, '/items', { method: 'POST', headers: token })).status).toBe(200);
    expect((await send(nginx, '/items', { method: 'POST', headers: wrongToken })).status).toBe(403);
    expect((await send(nginx, '/items', { method: 'PUT', headers: token })).status).toBe(200);

    // Every unsafe request reached the service, the repeated POST included.
    expect(standIn.seen.map((seen) => seen.method)).toEqual(['GET', 'POST', 'POST', 'POST', 'POST', 'PUT']);
  });

  it('never answers an unsafe method from the cache: with a csrf.headerName the key does not hold, a POST without the token after one with it is refused', async () => {
    const value = uniqueValue();
    const cookie = { Cookie: sessionCookie(value) };

    const withToken = await send(nginx, '/custom-csrf', { method: 'POST', headers: { ...cookie, [CUSTOM_CSRF_HEADER]: `csrf-${value}` } });
    const withoutToken = await send(nginx, '/custom-csrf', { method: 'POST', headers: cookie });

    expect([withToken.status, withoutToken.status]).toEqual([200, 403]);
    expect(JSON.parse(withoutToken.body)).toMatchObject({ error: 'OFA_CSRF_INVALID' });
    expect(standIn.seen.map((seen) => seen.method)).toEqual(['POST', 'POST']);
  });

  it('keys on the path without the query, the host, and the headers that tell a page load from a background request', async () => {
    const value = uniqueValue();
    const cookie = { Cookie: sessionCookie(value) };

    await send(nginx, '/reports?page=1', { headers: cookie });
    await send(nginx, '/reports?page=2', { headers: cookie });
    expect(standIn.seen).toHaveLength(1);

    await send(nginx, '/reports/2024', { headers: cookie });
    await send(nginx, '/reports', { headers: { ...cookie, Accept: 'text/html' } });
    await send(nginx, '/reports', { headers: { ...cookie, 'Sec-Fetch-Mode': 'navigate' } });
    await send(nginx, '/reports', { headers: { ...cookie, 'Sec-Fetch-Dest': 'document' } });
    await send(nginx, '/reports', { headers: { ...cookie, 'X-Requested-With': 'XMLHttpRequest' } });
    await send(nginx, '/reports', { headers: { ...cookie, Host: `localhost:${nginx.port}` } });

    expect(standIn.seen).toHaveLength(7);
  });

  it('never caches a request without a Cookie header, nor one with an Authorization header', async () => {
    const cookie = { Cookie: sessionCookie(uniqueValue()) };

    await send(nginx, '/public');
    await send(nginx, '/public');
    await send(nginx, '/items', { headers: { ...cookie, Authorization: 'Bearer a-token' } });
    await send(nginx, '/items', { headers: { ...cookie, Authorization: 'Bearer a-token' } });

    expect(standIn.seen.map((seen) => seen.path)).toEqual(['/public', '/public', '/items', '/items']);
  });

  it('serves a revoked session its cached yes until the TTL ends (the price of the cache)', async () => {
    const value = uniqueValue();
    const headers = { Cookie: sessionCookie(value) };
    expect((await send(nginx, '/items', { headers })).status).toBe(200);

    standIn.revoked.add(value);
    const stale = await send(nginx, '/items', { headers });

    expect(stale.status).toBe(200);
    expect(stale.echoed?.headers['x-forwarded-user']).toBe(`${value}@example.test`);
    expect(standIn.seen).toHaveLength(1);
  });

  it('as shipped, asks the service again once the TTL has passed, and a revoked session is then refused', async () => {
    const value = uniqueValue();
    const headers = { Cookie: sessionCookie(value) };
    expect((await send(shipped, '/items', { headers })).status).toBe(200);
    const cachedAt = Date.now();

    standIn.revoked.add(value);
    await sleep(Math.max(0, cachedAt + SHIPPED_TTL_END_MS + 200 - Date.now()));
    const after = await send(shipped, '/items', { headers });

    expect(after.status).toBe(401);
    expect(standIn.seen).toHaveLength(2);
  });

  it('as shipped (open_file_cache on), serves the answer stored after the TTL, not the replaced file a kept descriptor still points to', async () => {
    const value = uniqueValue();
    const headers = { Cookie: sessionCookie(value) };
    const first = await send(shipped, '/items', { headers });
    // A hit: the cache file is now open in nginx's descriptor cache.
    expect((await send(shipped, '/items', { headers })).echoed?.headers['x-forwarded-groups']).toBe(first.echoed?.headers['x-forwarded-groups']);
    const cachedAt = Date.now();

    await sleep(Math.max(0, cachedAt + SHIPPED_TTL_END_MS + 200 - Date.now()));
    const renewed = await send(shipped, '/items', { headers });
    const afterRenewal = await send(shipped, '/items', { headers });

    expect(renewed.echoed?.headers['x-forwarded-groups']).not.toBe(first.echoed?.headers['x-forwarded-groups']);
    expect(afterRenewal.echoed?.headers['x-forwarded-groups']).toBe(renewed.echoed?.headers['x-forwarded-groups']);
    expect(standIn.seen).toHaveLength(2);
  });

  it('keeps the cache files, which hold Cookie headers, readable by nginx\'s user only', async () => {
    await send(nginx, '/items', { headers: { Cookie: sessionCookie(uniqueValue()) } });

    const cacheRoot = join(nginx.prefix, 'cache');
    const entries: { path: string; mode: number; directory: boolean }[] = [];
    const walk = (dir: string): void => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        const stat = statSync(path);
        entries.push({ path, mode: stat.mode & 0o777, directory: stat.isDirectory() });
        if (stat.isDirectory()) walk(path);
      }
    };
    walk(cacheRoot);

    const files = entries.filter((entry) => !entry.directory);
    expect(files.length).toBeGreaterThan(0);
    expect(files.every((file) => file.mode === 0o600)).toBe(true);
    expect(entries.filter((entry) => entry.directory).every((dir) => dir.mode === 0o700)).toBe(true);
  });
});

// ---------------------------------------------------------------------------------------------
// In front of the real service and the real provider

describe('the micro-cache recipe in front of the real service', () => {
  const MIDDLEWARE = 'app';
  const SESSION_COOKIE = `${MIDDLEWARE}-session`;
  const API_HEADERS = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' };

  let upstream: EchoUpstream;
  let op: DevProvider;
  let service: TestService;
  /** The variant with a TTL no test outlives. */
  let nginx: RunningNginx;
  /** The variant exactly as shipped (2 s). */
  let shipped: RunningNginx;

  beforeAll(async () => {
    // Held until the service binds it: two nginx and a provider start first.
    const reserved = await reservePort();
    const servicePort = reserved.port;
    upstream = await startEchoUpstream();
    const addresses = { authAddress: `127.0.0.1:${servicePort}`, appAddress: `127.0.0.1:${upstream.port}`, middleware: MIDDLEWARE };
    nginx = await startNginx({ ...addresses, snippet: variant(LONG_TTL_SECONDS) });
    shipped = await startNginx({ ...addresses, snippet: variant() });
    const sites = [nginx.url, shipped.url];
    op = await startTestProvider({
      clients: [
        {
          client_id: TEST_CLIENT_ID,
          client_secret: TEST_CLIENT_SECRET,
          redirect_uris: sites.map((site) => `${site}/callback`),
          post_logout_redirect_uris: sites.map((site) => `${site}/`),
        },
      ],
    });
    await reserved.release();
    service = await startService({
      port: servicePort,
      trustedProxies: ['127.0.0.1/32'],
      middlewares: [
        {
          name: MIDDLEWARE,
          issuer: op.issuer,
          redirectUrl: '/callback',
          logoutUrl: '/logout',
          postLogoutRedirectUrl: '/',
          forwardHeaders: { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups' },
          csrf: { secure: false, headerName: CSRF_HEADER },
        },
      ],
    });
  });

  afterAll(async () => {
    await shipped?.stop();
    await nginx?.stop();
    await service?.stop();
    await op?.stop();
    await upstream?.close();
  });

  /** The service's access lines for one path: each is a check the service answered itself. */
  const decisionsFor = (path: string): number => service.logger.records.filter((record) => record.msg === 'forward-auth' && record.path === path).length;

  async function api(browser: HttpBrowser, url: string, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; user: unknown; body: string }> {
    const answer = await browser.send(url, { method, headers: { ...API_HEADERS, ...headers } });
    const user = answer.status === 200 ? (JSON.parse(answer.body) as EchoedRequest).headers['x-forwarded-user'] : undefined;
    return { status: answer.status, user, body: answer.body };
  }

  /** An API call with exactly this Cookie header, outside any jar. */
  async function apiWithCookie(url: string, cookie: string): Promise<{ status: number; user: unknown }> {
    const answer = await request(url, { headers: { ...API_HEADERS, Cookie: cookie } });
    const body = await answer.body.text();
    return { status: answer.statusCode, user: answer.statusCode === 200 ? (JSON.parse(body) as EchoedRequest).headers['x-forwarded-user'] : undefined };
  }

  /** What the service itself answers that request now, asked directly. */
  async function serviceStatus(site: RunningNginx, path: string, cookie: string): Promise<number> {
    const answer = await request(service.authAddress(MIDDLEWARE), {
      headers: {
        ...API_HEADERS,
        Cookie: cookie,
        'X-Forwarded-Proto': 'http',
        'X-Forwarded-Host': `127.0.0.1:${site.port}`,
        'X-Forwarded-Uri': path,
        'X-Forwarded-Method': 'GET',
        'X-Forward-Auth-Proxy': 'nginx',
      },
    });
    await answer.body.dump();
    return answer.statusCode;
  }

  it('signs alice in through the variant; a repeated API call is answered from the cache with her identity', async () => {
    const { browser } = await loginThroughProxy(`${nginx.url}/`, 'alice');

    const first = await api(browser, `${nginx.url}/api/repeated`);
    const second = await api(browser, `${nginx.url}/api/repeated`);

    expect([first.status, second.status]).toEqual([200, 200]);
    expect([first.user, second.user]).toEqual(['alice@example.com', 'alice@example.com']);
    expect(decisionsFor('/api/repeated')).toBe(1);
  });

  it("refuses a Cookie header with a second session cookie (a tossed one) rather than replaying alice's cached yes", async () => {
    const alice = (await loginThroughProxy(`${nginx.url}/`, 'alice')).browser;
    const bob = (await loginThroughProxy(`${nginx.url}/`, 'bob')).browser;
    expect((await api(alice, `${nginx.url}/api/tossed`)).user).toBe('alice@example.com');
    const aliceCookie = alice.jar.cookieHeader(`${nginx.url}/`) ?? '';
    const bobsSession = bob.jar.get(SESSION_COOKIE)?.value ?? '';
    expect(bobsSession.length).toBeGreaterThan(20);

    const tossed = await apiWithCookie(`${nginx.url}/api/tossed`, `${aliceCookie}; ${SESSION_COOKIE}=${bobsSession}`);

    expect(tossed.status).toBe(401);
    expect(decisionsFor('/api/tossed')).toBe(2);
  });

  it('asks the service for every unsafe request: without the CSRF token it is refused after a cached GET, and a repeated POST is checked again', async () => {
    const { browser } = await loginThroughProxy(`${nginx.url}/`, 'alice');
    const token = browser.jar.get('traefikee-csrf-token')?.value ?? '';
    expect(token.length).toBeGreaterThan(10);
    const url = `${nginx.url}/api/csrf`;

    expect((await api(browser, url)).status).toBe(200);
    const withoutToken = await api(browser, url, 'POST');
    expect(withoutToken.status).toBe(403);
    expect(JSON.parse(withoutToken.body)).toMatchObject({ error: 'OFA_CSRF_INVALID' });
    expect((await api(browser, url, 'POST', { [CSRF_HEADER]: token })).status).toBe(200);
    expect((await api(browser, url, 'POST', { [CSRF_HEADER]: token })).status).toBe(200);
    expect((await api(browser, url, 'POST', { [CSRF_HEADER]: `${token}x` })).status).toBe(403);

    // GET, POST without a token, POST with it (twice), POST with a wrong one.
    expect(decisionsFor('/api/csrf')).toBe(5);
  });

  it('never caches the 401 of a request without a session', async () => {
    for (let i = 0; i < 2; i += 1) {
      const answer = await request(`${nginx.url}/api/anonymous`, { headers: API_HEADERS });
      expect(answer.statusCode).toBe(401);
      expect(await answer.body.json()).toMatchObject({ error: 'OFA_LOGIN_REQUIRED' });
    }
    expect(decisionsFor('/api/anonymous')).toBe(2);
  });

  it('after a logout, lets the old cookie through from the cache while the service already refuses it (the price of the cache)', async () => {
    const { browser } = await loginThroughProxy(`${nginx.url}/`, 'alice');
    expect((await api(browser, `${nginx.url}/api/after-logout`)).status).toBe(200);
    const oldCookie = browser.jar.cookieHeader(`${nginx.url}/`) ?? '';

    expect((await browser.navigate(`${nginx.url}/logout`)).status).toBe(302);
    expect(browser.jar.get(SESSION_COOKIE)).toBeUndefined();

    expect(await serviceStatus(nginx, '/api/after-logout', oldCookie)).toBe(401);
    const stale = await apiWithCookie(`${nginx.url}/api/after-logout`, oldCookie);
    expect(stale).toEqual({ status: 200, user: 'alice@example.com' });
  });

  it('as shipped, refuses the old cookie once the TTL has passed after a logout', async () => {
    const { browser } = await loginThroughProxy(`${shipped.url}/`, 'alice');
    expect((await api(browser, `${shipped.url}/api/after-ttl`)).status).toBe(200);
    const cachedAt = Date.now();
    const oldCookie = browser.jar.cookieHeader(`${shipped.url}/`) ?? '';
    expect((await browser.navigate(`${shipped.url}/logout`)).status).toBe(302);

    await sleep(Math.max(0, cachedAt + SHIPPED_TTL_END_MS + 200 - Date.now()));
    const after = await apiWithCookie(`${shipped.url}/api/after-ttl`, oldCookie);

    expect(after.status).toBe(401);
    expect(decisionsFor('/api/after-ttl')).toBe(2);
  });
});
