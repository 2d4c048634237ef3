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
 * The reproduction's rules that real Traefik is not run for (test/deploy/traefik-forward-auth.test.ts
 * compares the two on what it sends the auth server, X-Forwarded-Uri, cookies, Location and the
 * body limit; login-through-proxies.test.ts runs the login): headers named in Connection, the bare 500 of
 * an unreachable or slow auth server, preserveLocationHeader and authResponseHeadersRegex.
 */
describe('forwardAuth (the reproduction of Traefik ForwardAuth rules)', () => {
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
