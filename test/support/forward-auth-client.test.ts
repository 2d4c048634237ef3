import { afterEach, describe, expect, it } from 'vitest';
import { createCookieJar } from './cookie-jar.js';
import { forwardAuth } from './forward-auth-client.js';
import { TEST_APP_ORIGIN } from './op.js';
import { findFreePort, startScriptedServer, type RecordedRequest, type ScriptedHandler, type ScriptedServer } from './scripted-server.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function authServer(handler: ScriptedHandler): Promise<ScriptedServer> {
  const server = await startScriptedServer(handler);
  cleanups.push(() => server.stop());
  return server;
}

function only(server: ScriptedServer): RecordedRequest {
  expect(server.requests).toHaveLength(1);
  const [request] = server.requests;
  if (request === undefined) throw new Error('no request');
  return request;
}

/**
 * The reproduction's rules that the real Traefik tests (test/deploy/traefik-*.test.ts) do not
 * exercise: what it sends the auth server, X-Forwarded-Uri normalisation, the bare 500 and 401,
 * Location handling and authResponseHeadersRegex. Cookie passing, authResponseHeaders, the
 * entry point's header handling and the login itself are proven against real Traefik v3 and v2.11.
 */
describe('forwardAuth (the reproduction of Traefik ForwardAuth rules)', () => {
  it('sends a GET to the auth address with the original headers and X-Forwarded-* of the original request', async () => {
    const server = await authServer((_req, res) => res.writeHead(200).end());
    const jar = createCookieJar();
    jar.setCookie('s=1; Path=/', `${TEST_APP_ORIGIN}/`);
    await forwardAuth(
      `${server.url}/auth/app`,
      { method: 'POST', url: `${TEST_APP_ORIGIN}/private/page?q=1`, headers: { Accept: 'text/html', 'X-Custom': 'kept' }, remoteAddress: '203.0.113.9' },
      jar,
    );
    const request = only(server);
    expect(request.method).toBe('GET');
    expect(request.url).toBe('/auth/app');
    expect(request.body).toBe('');
    expect(request.headers).toMatchObject({
      accept: 'text/html',
      'x-custom': 'kept',
      cookie: 's=1',
      'x-forwarded-method': 'POST',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'app.example.test',
      'x-forwarded-uri': '/private/page?q=1',
      'x-forwarded-for': '203.0.113.9',
      'x-forwarded-port': '80',
    });
  });

  it('drops hop-by-hop headers and the X-Forwarded-* the entry point manages, and keeps Proxy-Authorization', async () => {
    const server = await authServer((_req, res) => res.writeHead(200).end());
    await forwardAuth(
      `${server.url}/auth/app`,
      {
        url: `${TEST_APP_ORIGIN}/`,
        headers: {
          Connection: 'keep-alive, X-Secret-Hop',
          'X-Secret-Hop': 'x',
          'Keep-Alive': 'timeout=5',
          Upgrade: 'h2c',
          'Proxy-Authorization': 'Basic x',
          'X-Forwarded-Host': 'evil.test',
          'X-Forwarded-Uri': '/public',
          'X-Forwarded-Prefix': '/evil',
          X_Forwarded_Proto: 'https',
          'X-Real-Ip': '10.0.0.1',
          'X-Forwarded-Tls-Client-Cert': 'forged',
        },
      },
      createCookieJar(),
    );
    const { headers } = only(server);
    expect(headers['x-secret-hop']).toBeUndefined();
    expect(headers['keep-alive']).toBeUndefined();
    expect(headers['upgrade']).toBeUndefined();
    expect(headers['proxy-authorization']).toBe('Basic x');
    expect(headers['x-forwarded-host']).toBe('app.example.test');
    expect(headers['x-forwarded-uri']).toBe('/');
    expect(headers['x-forwarded-proto']).toBe('http');
    expect(headers['x-forwarded-prefix']).toBeUndefined();
    expect(headers['x_forwarded_proto']).toBeUndefined();
    expect(headers['x-forwarded-tls-client-cert']).toBeUndefined();
    expect(headers['x-real-ip']).toBe('127.0.0.1');
  });

  it('lets a client X-Forwarded-* outside the managed list through to the auth server and the upstream', async () => {
    const server = await authServer((_req, res) => res.writeHead(200).end());
    const result = await forwardAuth(
      `${server.url}/auth/app`,
      { url: `${TEST_APP_ORIGIN}/`, headers: { 'X-Forwarded-User': 'admin', 'X-Forwarded-Groups': 'admins', 'X-Forwarded-Scheme': 'https' } },
      createCookieJar(),
    );
    const { headers } = only(server);
    expect(headers['x-forwarded-user']).toBe('admin');
    expect(headers['x-forwarded-groups']).toBe('admins');
    expect(headers['x-forwarded-scheme']).toBe('https');
    expect(result.upstreamHeaders['x-forwarded-user']).toBe('admin');
  });

  it('normalises X-Forwarded-Uri as the entry point does: unreserved escapes decoded, dot segments and // removed, ; in the query read as &', async () => {
    const server = await authServer((_req, res) => res.writeHead(200).end());
    const cases: [string, string][] = [
      ['/a/./b/../c//d?x=1;y=2', '/a/c/d?x=1&y=2'],
      ['/%61dmin/%2e%2e/secret/', '/secret/'],
      ['/a%2fb%3f', '/a%2Fb%3F'],
      ['//evil.test/x', '/evil.test/x'],
      ['/../../etc', '/etc'],
      ['/?next=/a/../b', '/?next=/a/../b'],
    ];
    for (const [target] of cases) await forwardAuth(`${server.url}/auth/app`, { url: `${TEST_APP_ORIGIN}/`, target }, createCookieJar());
    expect(server.requests.map((request) => request.headers['x-forwarded-uri'])).toEqual(cases.map(([, uri]) => uri));
  });

  it('answers a bare 500 when the auth server cannot be reached', async () => {
    const address = `http://127.0.0.1:${await findFreePort()}/auth/app`;
    const result = await forwardAuth(address, { url: `${TEST_APP_ORIGIN}/` }, createCookieJar());
    expect(result).toMatchObject({ status: 500, body: '', headers: {}, location: undefined, setCookies: [] });
  });

  it('answers a bare 500 when the auth server takes longer than its 30 s timeout, headers and body included', async () => {
    const stalled = await authServer(() => undefined);
    const slowBody = await authServer((_req, res) => {
      res.writeHead(200, { 'content-length': '10' });
      res.write('12345');
    });
    const jar = createCookieJar();
    for (const server of [stalled, slowBody]) {
      const result = await forwardAuth(`${server.url}/auth/app`, { url: `${TEST_APP_ORIGIN}/` }, jar, { timeoutMs: 200 });
      expect(result).toMatchObject({ status: 500, body: '', headers: {}, setCookies: [] });
    }
  });

  it('answers a bare 401 when the auth answer is larger than maxResponseBodySize, and reads any size without it', async () => {
    const server = await authServer((_req, res) => res.writeHead(403).end('x'.repeat(100)));
    const capped = await forwardAuth(`${server.url}/auth/app`, { url: `${TEST_APP_ORIGIN}/` }, createCookieJar(), { maxResponseBodySize: 99 });
    expect(capped).toMatchObject({ status: 401, body: '', headers: {} });
    const fits = await forwardAuth(`${server.url}/auth/app`, { url: `${TEST_APP_ORIGIN}/` }, createCookieJar(), { maxResponseBodySize: 100 });
    expect(fits).toMatchObject({ status: 403, body: 'x'.repeat(100) });
    expect((await forwardAuth(`${server.url}/auth/app`, { url: `${TEST_APP_ORIGIN}/` }, createCookieJar())).status).toBe(403);
  });

  it('never follows a redirect and resolves a relative Location against the auth address', async () => {
    const server = await authServer((_req, res) => res.writeHead(302, { location: '/callback' }).end());
    const result = await forwardAuth(`${server.url}/auth/app`, { url: `${TEST_APP_ORIGIN}/` }, createCookieJar());
    expect(result.status).toBe(302);
    expect(result.location).toBe(`${server.url}/callback`);
    expect(server.requests).toHaveLength(1);
  });

  it('keeps a relative Location with preserveLocationHeader', async () => {
    const server = await authServer((_req, res) => res.writeHead(302, { location: '/callback' }).end());
    const result = await forwardAuth(`${server.url}/auth/app`, { url: `${TEST_APP_ORIGIN}/` }, createCookieJar(), { preserveLocationHeader: true });
    expect(result.location).toBe('/callback');
  });

  it('replaces the client copy of each authResponseHeaders name, even when the auth answer lacks it', async () => {
    const server = await authServer((_req, res) => res.writeHead(200, { 'x-user': 'alice', 'x-unlisted': 'no' }).end());
    const result = await forwardAuth(
      `${server.url}/auth/app`,
      { url: `${TEST_APP_ORIGIN}/`, headers: { 'X-User': 'mallory', 'X-Groups': 'admin' } },
      createCookieJar(),
      { authResponseHeaders: ['X-User', 'X-Groups'] },
    );
    expect(result.forwardedHeaders).toEqual({ 'x-user': 'alice' });
    expect(result.upstreamHeaders['x-user']).toBe('alice');
    expect(result.upstreamHeaders['x-groups']).toBeUndefined();
    expect(result.upstreamHeaders['x-unlisted']).toBeUndefined();
  });

  it('applies authResponseHeadersRegex to the canonical header names', async () => {
    const server = await authServer((_req, res) => res.writeHead(200, { 'x-auth-user': 'alice' }).end());
    const result = await forwardAuth(
      `${server.url}/auth/app`,
      { url: `${TEST_APP_ORIGIN}/`, headers: { 'X-Auth-Role': 'forged' } },
      createCookieJar(),
      { authResponseHeadersRegex: '^X-Auth-' },
    );
    expect(result.forwardedHeaders).toEqual({ 'x-auth-user': 'alice' });
    expect(result.upstreamHeaders['x-auth-role']).toBeUndefined();
  });
});
