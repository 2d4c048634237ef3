/**
 * The shipped nginx snippet, run by Debian's real nginx in front of a stand-in auth service and
 * the demo's echo upstream. The stand-in answers by the original path (X-Forwarded-Uri) the way
 * the service does through nginx, headers only (nginx never passes the body of an auth answer
 * on), so these tests pin what nginx does with each answer.
 */
import { createServer, request as httpRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream, type EchoedRequest } from '../../deploy/demo/echo-upstream.js';
import { ERROR_TABLE, type ErrorCode } from '../../src/errors.js';
import { startNginx, type RunningNginx } from './nginx-process.js';

interface SeenByAuth {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly bodyBytes: number;
}

const PROVIDER_URL = 'http://op.example.test/authorize?client_id=demo&state=s1';
const STATE_COOKIE = 'app-state=sealed-state; Path=/; Max-Age=600; HttpOnly; SameSite=Lax';
const RENEWED_SESSION = 'app-session=renewed; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax';
const RETRY_AFTER_SECONDS = '7';
const CALLBACK_COOKIES = [
  'app-session=fresh; Path=/; Max-Age=86400; HttpOnly; SameSite=Lax',
  'app-state=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax',
  'traefikee-csrf-token=csrf1; Path=/; SameSite=Lax',
];

function answerAsService(request: IncomingMessage, response: ServerResponse): void {
  const uri = String(request.headers['x-forwarded-uri'] ?? '');
  const path = uri.split('?')[0] ?? '';
  if (path === '/callback') {
    response.writeHead(302, { Location: 'http://127.0.0.1/after-login', 'Set-Cookie': CALLBACK_COOKIES });
    response.end();
  } else if (path === '/logout') {
    response.writeHead(302, {
      Location: 'http://op.example.test/end-session',
      'Set-Cookie': ['app-session=; Path=/; Max-Age=0', 'traefikee-csrf-token=; Path=/; Max-Age=0'],
    });
    response.end();
  } else if (path.startsWith('/private')) {
    response.writeHead(401, { 'X-Auth-Location': PROVIDER_URL, 'Set-Cookie': STATE_COOKIE });
    response.end();
  } else if (path.startsWith('/api')) {
    response.writeHead(401, { 'WWW-Authenticate': 'Bearer', ...errorHeaders('OFA_LOGIN_REQUIRED') });
    response.end();
  } else if (path.startsWith('/forbidden-after-refresh')) {
    response.writeHead(403, { 'Set-Cookie': RENEWED_SESSION, ...errorHeaders('OFA_CLAIMS_DENIED') });
    response.end();
  } else if (path.startsWith('/forbidden-csrf')) {
    response.writeHead(403, errorHeaders('OFA_CSRF_INVALID'));
    response.end();
  } else if (path.startsWith('/forbidden')) {
    response.writeHead(403, errorHeaders('OFA_CLAIMS_DENIED'));
    response.end();
  } else if (path.startsWith('/unavailable')) {
    response.writeHead(503, { 'Retry-After': RETRY_AFTER_SECONDS, ...errorHeaders('OFA_STORE_UNAVAILABLE') });
    response.end();
  } else if (path.startsWith('/broken')) {
    response.writeHead(500);
    response.end();
  } else if (path.startsWith('/two-cookies')) {
    response.writeHead(200, { 'X-Forwarded-User': 'alice@example.test', 'Set-Cookie': [RENEWED_SESSION, 'other=1; Path=/'] });
    response.end();
  } else if (path.startsWith('/no-claims')) {
    // The service always sends every identity header it owns, empty when the claim is missing.
    response.writeHead(200, { 'X-Forwarded-User': '', 'X-Forwarded-Groups': '' });
    response.end();
  } else {
    response.writeHead(200, {
      'X-Forwarded-User': 'alice@example.test',
      'X-Forwarded-Groups': 'admins,devs',
      'Set-Cookie': RENEWED_SESSION,
    });
    response.end();
  }
}

let nginx: RunningNginx;
let upstream: EchoUpstream;
let auth: Server;
let seen: SeenByAuth[] = [];

beforeAll(async () => {
  auth = createServer((request, response) => {
    let bodyBytes = 0;
    request.on('data', (chunk: Buffer) => {
      bodyBytes += chunk.length;
    });
    request.on('end', () => {
      seen.push({ method: request.method ?? '', url: request.url ?? '', headers: request.headers, bodyBytes });
      answerAsService(request, response);
    });
  });
  await new Promise<void>((resolve) => auth.listen(0, '127.0.0.1', resolve));
  upstream = await startEchoUpstream();
  nginx = await startNginx({
    authAddress: `127.0.0.1:${(auth.address() as AddressInfo).port}`,
    appAddress: `127.0.0.1:${upstream.port}`,
  });
});

afterAll(async () => {
  await nginx?.stop();
  await upstream?.close();
  if (auth !== undefined) {
    auth.closeAllConnections();
    await new Promise<void>((resolve) => auth.close(() => resolve()));
  }
});

beforeEach(() => {
  seen = [];
});

function send(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${nginx.url}${path}`, { redirect: 'manual', ...init });
}

/** fetch always sends an Accept header; a bare HTTP client may send none. */
function sendWithoutAccept(path: string): Promise<{ status: number; contentType: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const outgoing = httpRequest(`${nginx.url}${path}`, (incoming) => {
      let body = '';
      incoming.setEncoding('utf8').on('data', (chunk: string) => {
        body += chunk;
      });
      incoming.on('end', () => resolve({ status: incoming.statusCode ?? 0, contentType: incoming.headers['content-type'], body }));
    });
    outgoing.on('error', reject);
    expect(outgoing.hasHeader('accept')).toBe(false);
    outgoing.end();
  });
}

function onlyAuthRequest(): SeenByAuth {
  expect(seen).toHaveLength(1);
  return seen[0] as SeenByAuth;
}

/** The body the service itself gives a non-browser client for `code`, written by nginx. */
/** What the service sends nginx with a refusal, instead of a body. */
function errorHeaders(code: ErrorCode): Record<string, string> {
  return { 'X-Auth-Error': code, 'X-Auth-Error-Message': ERROR_TABLE[code].title };
}

async function expectServiceJson(response: Response, code: ErrorCode): Promise<void> {
  expect(response.status).toBe(ERROR_TABLE[code].status);
  expect(response.headers.get('content-type')).toBe('application/json');
  expect(await response.json()).toEqual({ error: code, message: ERROR_TABLE[code].title });
}

async function expectNginxPage(response: Response, status: number): Promise<void> {
  expect(response.status).toBe(status);
  expect(response.headers.get('content-type')).toBe('text/html');
  expect(await response.text()).toContain(`<title>${status} `);
}

const API = { Accept: 'application/json' };
const PAGE = { Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };

async function echoed(response: Response): Promise<EchoedRequest> {
  expect(response.headers.get('content-type')).toContain('application/json');
  return (await response.json()) as EchoedRequest;
}

describe('the nginx snippet asks the service about each request', () => {
  it('sends the original scheme, host with port, URI and method to /auth/app, marked as nginx', async () => {
    await send('/hello/world?x=1&y=%2F', { headers: { Accept: 'application/json' } });

    const request = onlyAuthRequest();
    expect(request.url).toBe('/auth/app');
    expect(request.headers['x-forwarded-proto']).toBe('http');
    expect(request.headers['x-forwarded-host']).toBe(`127.0.0.1:${nginx.port}`);
    expect(request.headers['x-forwarded-uri']).toBe('/hello/world?x=1&y=%2F');
    expect(request.headers['x-forwarded-method']).toBe('GET');
    expect(request.headers['x-forward-auth-proxy']).toBe('nginx');
  });

  it('keeps the original method in X-Forwarded-Method and never forwards the body', async () => {
    const response = await send('/hello', {
      method: 'POST',
      headers: { Accept: 'application/json', 'Content-Type': 'text/plain' },
      body: 'a request body the auth service must not receive',
    });

    const request = onlyAuthRequest();
    expect(request.headers['x-forwarded-method']).toBe('POST');
    expect(request.bodyBytes).toBe(0);
    expect(request.headers['content-length']).toBeUndefined();
    expect((await echoed(response)).method).toBe('POST');
  });

  it("overrides a client's own X-Forwarded-* and X-Forward-Auth-Proxy headers", async () => {
    await send('/hello', {
      headers: {
        'X-Forwarded-Host': 'evil.example.test',
        'X-Forwarded-Uri': '/somewhere-else',
        'X-Forwarded-Proto': 'https',
        'X-Forward-Auth-Proxy': 'caddy',
      },
    });

    const request = onlyAuthRequest();
    expect(request.headers['x-forwarded-host']).toBe(`127.0.0.1:${nginx.port}`);
    expect(request.headers['x-forwarded-uri']).toBe('/hello');
    expect(request.headers['x-forwarded-proto']).toBe('http');
    expect(request.headers['x-forward-auth-proxy']).toBe('nginx');
  });

  it('passes the browser cookies to the service so it can read the session', async () => {
    await send('/hello', { headers: { Cookie: 'app-session=abc' } });

    expect(onlyAuthRequest().headers.cookie).toBe('app-session=abc');
  });
});

describe('a 401 from the service', () => {
  it('becomes a 302 to X-Auth-Location carrying the state cookie', async () => {
    const response = await send('/private/page');

    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe(PROVIDER_URL);
    expect(response.headers.getSetCookie()).toEqual([STATE_COOKIE]);
  });

  it('stays a 401 without a Location when the service gives no X-Auth-Location, with the service\'s JSON for an API client', async () => {
    const response = await send('/api/items', { headers: API });

    expect(response.headers.get('location')).toBeNull();
    expect(response.headers.getSetCookie()).toEqual([]);
    expect(response.headers.get('www-authenticate')).toBe('Bearer');
    await expectServiceJson(response, 'OFA_LOGIN_REQUIRED');
  });

  it('answers JSON to a client that sends no Accept at all, and to one that accepts anything', async () => {
    const bare = await sendWithoutAccept('/api/items');
    expect(bare.status).toBe(401);
    expect(bare.contentType).toBe('application/json');
    expect(JSON.parse(bare.body)).toEqual({ error: 'OFA_LOGIN_REQUIRED', message: ERROR_TABLE.OFA_LOGIN_REQUIRED.title });
    await expectServiceJson(await send('/api/items', { headers: { Accept: '*/*' } }), 'OFA_LOGIN_REQUIRED');
  });

  it('labels the JSON application/json whatever file extension the URL ends in', async () => {
    await expectServiceJson(await send('/api/report.html', { headers: API }), 'OFA_LOGIN_REQUIRED');
    await expectServiceJson(await send('/api/logo.gif', { headers: API }), 'OFA_LOGIN_REQUIRED');
  });

  it('gives a browser nginx\'s own 401 page when there is no X-Auth-Location (disableLogin)', async () => {
    const response = await send('/api/items', { headers: PAGE });

    expect(response.headers.get('location')).toBeNull();
    await expectNginxPage(response, 401);
  });
});

describe('a 200 from the service', () => {
  it('lets the request through with the identity headers the service named', async () => {
    const response = await send('/hello', { headers: { Accept: 'application/json' } });

    expect(response.status).toBe(200);
    const { headers } = await echoed(response);
    expect(headers['x-forwarded-user']).toBe('alice@example.test');
    expect(headers['x-forwarded-groups']).toBe('admins,devs');
  });

  it("replaces a client's spoofed identity headers with the service's values", async () => {
    const response = await send('/hello', {
      headers: { Accept: 'application/json', 'X-Forwarded-User': 'mallory', 'X-Forwarded-Groups': 'root' },
    });

    const { headers } = await echoed(response);
    expect(headers['x-forwarded-user']).toBe('alice@example.test');
    expect(headers['x-forwarded-groups']).toBe('admins,devs');
  });

  it("drops a client's spoofed identity headers when the service sends them empty", async () => {
    const response = await send('/no-claims', {
      headers: { Accept: 'application/json', 'X-Forwarded-User': 'mallory', 'X-Forwarded-Groups': 'root' },
    });

    expect(response.status).toBe(200);
    const { headers } = await echoed(response);
    expect(headers['x-forwarded-user']).toBeUndefined();
    expect(headers['x-forwarded-groups']).toBeUndefined();
  });

  it('passes the one renewed session cookie to the browser', async () => {
    const response = await send('/hello');

    expect(response.headers.getSetCookie()).toEqual([RENEWED_SESSION]);
  });

  it('passes only the first of several Set-Cookie (nginx 1.22), so the service puts the session first', async () => {
    const response = await send('/two-cookies');

    expect(response.status).toBe(200);
    expect(response.headers.getSetCookie()).toEqual([RENEWED_SESSION]);
  });

  it('gives the application the Host the browser used', async () => {
    const response = await send('/hello', { headers: { Accept: 'application/json' } });

    expect((await echoed(response)).headers.host).toBe(`127.0.0.1:${nginx.port}`);
  });
});

describe('a 403 from the service', () => {
  it('reaches an API client as a 403 with the service\'s JSON, and the application is not called', async () => {
    const response = await send('/forbidden', { headers: API });

    expect(response.headers.get('location')).toBeNull();
    await expectServiceJson(response, 'OFA_CLAIMS_DENIED');
  });

  it('names the exact refusal, a CSRF one included, from the service\'s X-Auth-Error headers', async () => {
    await expectServiceJson(await send('/forbidden-csrf', { headers: API }), 'OFA_CSRF_INVALID');
  });

  it('reaches a browser as nginx\'s 403 page', async () => {
    await expectNginxPage(await send('/forbidden', { headers: PAGE }), 403);
  });

  it('carries the session cookie a refresh renewed before the refusal', async () => {
    const response = await send('/forbidden-after-refresh', { headers: API });

    expect(response.status).toBe(403);
    expect(response.headers.getSetCookie()).toEqual([RENEWED_SESSION]);
  });
});

describe('a 503 from the service (provider or session store unreachable)', () => {
  it('reaches an API client as a 503 with the service\'s Retry-After and JSON, not as nginx\'s 500', async () => {
    const response = await send('/unavailable', { headers: API });

    expect(response.headers.get('retry-after')).toBe(RETRY_AFTER_SECONDS);
    await expectServiceJson(response, 'OFA_STORE_UNAVAILABLE');
  });

  it('reaches a browser as nginx\'s 503 page with the Retry-After', async () => {
    const response = await send('/unavailable', { headers: PAGE });

    expect(response.headers.get('retry-after')).toBe(RETRY_AFTER_SECONDS);
    await expectNginxPage(response, 503);
  });
});

describe('any other status from the service', () => {
  it('stays nginx\'s 500, without a Retry-After', async () => {
    const response = await send('/broken', { headers: API });

    expect(response.status).toBe(500);
    expect(response.headers.get('retry-after')).toBeNull();
    expect(response.headers.get('content-type')).toBe('text/html');
  });
});

describe('the callback and logout locations', () => {
  it('proxy the callback straight to the service, without the nginx marker, even if the client sends one', async () => {
    await send('/callback?code=c0de&state=s1', { headers: { 'X-Forward-Auth-Proxy': 'nginx' } });

    const request = onlyAuthRequest();
    expect(request.url).toBe('/auth/app');
    expect(request.headers['x-forwarded-uri']).toBe('/callback?code=c0de&state=s1');
    expect(request.headers['x-forwarded-host']).toBe(`127.0.0.1:${nginx.port}`);
    expect(request.headers['x-forwarded-proto']).toBe('http');
    expect(request.headers['x-forwarded-method']).toBe('GET');
    expect(request.headers['x-forward-auth-proxy']).toBeUndefined();
  });

  it("pass every Set-Cookie of the callback's 302 to the browser", async () => {
    const response = await send('/callback?code=c0de&state=s1');

    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('http://127.0.0.1/after-login');
    expect(response.headers.getSetCookie()).toEqual(CALLBACK_COOKIES);
  });

  it('proxy logout straight to the service and pass all its cookies', async () => {
    const response = await send('/logout');

    expect(onlyAuthRequest().headers['x-forwarded-uri']).toBe('/logout');
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('http://op.example.test/end-session');
    expect(response.headers.getSetCookie()).toHaveLength(2);
  });
});
