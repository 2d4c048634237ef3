/**
 * Real Traefik (v3 and v2.11) running the shipped dynamic.yml in front of a scripted auth server,
 * side by side with the reproduction the flow tests use (test/support/forward-auth-client.ts):
 * the same requests through both, and the auth server must see the same request, the browser the
 * same answer. Where they part, the binary is right and the reproduction is fixed; what the
 * reproduction leaves out on purpose is listed in NOT_MODELLED.
 */
import type { ServerResponse } from 'node:http';
import { Agent, getGlobalDispatcher, setGlobalDispatcher, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoedRequest, type EchoUpstream } from '../../deploy/demo/echo-upstream.js';
import { createCookieJar } from '../support/cookie-jar.js';
import { forwardAuth, type ForwardAuthOptions, type ForwardAuthResult } from '../support/forward-auth-client.js';
import { startScriptedServer, type RecordedRequest, type ScriptedServer } from '../support/scripted-server.js';
import { createTestPki, type TestPki } from '../support/tls.js';
import { readShippedDynamic, renderDynamic } from './traefik-dynamic.js';
import { startTraefik, type RunningTraefik, type TraefikPeer } from './traefik-process.js';

/**
 * Headers the reproduction does not write as Traefik does, on purpose: Traefik's host name in
 * X-Forwarded-Server, the Go client's own Accept-Encoding, and Connection, which each HTTP client
 * writes its own way (undici `keep-alive`, Go none).
 */
const NOT_MODELLED = ['x-forwarded-server', 'accept-encoding', 'connection'];
const BIG_BODY_BYTES = 70_000;

/** The scripted service's answer, chosen by the page the browser asked for. */
function answer(recorded: RecordedRequest, res: ServerResponse): void {
  const page = new URL(String(recorded.headers['x-forwarded-uri'] ?? '/'), 'http://x').pathname;
  switch (page) {
    case '/allow':
      res.setHeader('Set-Cookie', ['app-session=renewed; Path=/; Max-Age=600; HttpOnly; Secure; SameSite=Lax', 'other=1; Path=/']);
      res.writeHead(200, { 'X-Forwarded-User': 'alice@example.com', 'X-Forwarded-Groups': 'admin' }).end();
      return;
    case '/login':
      res.setHeader('Set-Cookie', ['app-state.a=1; Path=/; HttpOnly', 'app-session=; Max-Age=0; Path=/']);
      res.writeHead(302, { Location: '/somewhere?x=1' }).end();
      return;
    case '/big':
      res.writeHead(403, { 'Content-Type': 'text/plain' }).end('x'.repeat(BIG_BODY_BYTES));
      return;
    default:
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="test"', 'Content-Type': 'application/json' }).end('{"error":"OFA_LOGIN_REQUIRED"}');
  }
}

interface Version {
  readonly peer: TraefikPeer;
  /** What the reproduction is told, from the shipped file as this version runs it. */
  readonly options: ForwardAuthOptions;
  /** Headers the version's middlewares add before forwardAuth (v2.11: the proxy marker). */
  readonly addedBefore: Readonly<Record<string, string>>;
}

const SHIPPED_FORWARD_AUTH: ForwardAuthOptions = {
  trustForwardHeader: true,
  maxResponseBodySize: 65536,
  authResponseHeaders: ['X-Forwarded-User', 'X-Forwarded-Groups'],
  addAuthCookiesToResponse: ['app-session', 'traefikee-csrf-token'],
};

const VERSIONS: readonly Version[] = [
  { peer: 'traefik-v3', options: { ...SHIPPED_FORWARD_AUTH, version: 'v3' }, addedBefore: {} },
  { peer: 'traefik-v2', options: { ...SHIPPED_FORWARD_AUTH, version: 'v2.11' }, addedBefore: { 'X-Forward-Auth-Proxy': 'traefik-v2' } },
];

let pki: TestPki;
let auth: ScriptedServer;
let upstream: EchoUpstream;
let previousDispatcher: Dispatcher;

beforeAll(async () => {
  [pki, auth, upstream] = await Promise.all([createTestPki(), startScriptedServer(answer), startEchoUpstream()]);
  previousDispatcher = getGlobalDispatcher();
  setGlobalDispatcher(new Agent({ connect: { ca: pki.ca } }));
});

afterAll(async () => {
  setGlobalDispatcher(previousDispatcher);
  await upstream?.close();
  await auth?.stop();
  await pki?.cleanup();
});

interface Seen {
  readonly authRequest: RecordedRequest;
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
  readonly setCookieNames: readonly string[];
}

function comparable(recorded: RecordedRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(recorded.headers)) {
    if (NOT_MODELLED.includes(name) || value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return headers;
}

function cookieNames(setCookies: readonly string[]): string[] {
  return setCookies.map((cookie) => cookie.slice(0, cookie.indexOf('='))).sort();
}

function lastAuthRequest(): RecordedRequest {
  const last = auth.requests.at(-1);
  if (last === undefined) throw new Error('the auth server got no request');
  return last;
}

describe.each(VERSIONS)('$peer and the reproduction of its ForwardAuth', (version) => {
  let traefik: RunningTraefik;

  beforeAll(async () => {
    const dynamic = renderDynamic(
      readShippedDynamic(),
      { authAddress: `127.0.0.1:${auth.port}`, appAddress: `127.0.0.1:${upstream.port}`, host: '127.0.0.1' },
      version.peer === 'traefik-v2' ? ['traefik-v2'] : [],
    );
    traefik = await startTraefik({ peer: version.peer, dynamic, certificate: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca } });
  });

  afterAll(async () => {
    await traefik?.stop();
  });

  async function throughTraefik(target: string, headers: Readonly<Record<string, string>>, method = 'GET'): Promise<Seen> {
    // The dispatcher sends the target as written (a URL would be cleaned of dot segments first).
    const response = await getGlobalDispatcher().request({ origin: traefik.url, path: target, method: method as Dispatcher.HttpMethod, headers });
    const body = await response.body.text();
    const raw = response.headers['set-cookie'];
    const setCookies = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
    return { authRequest: lastAuthRequest(), status: response.statusCode, headers: response.headers, body, setCookieNames: cookieNames(setCookies) };
  }

  async function throughReproduction(target: string, headers: Readonly<Record<string, string>>, method = 'GET'): Promise<Seen & { result: ForwardAuthResult }> {
    const result = await forwardAuth(
      `${auth.url}/auth/app`,
      { method, url: `${traefik.url}/`, target, headers: { ...headers, ...version.addedBefore }, remoteAddress: '127.0.0.1' },
      createCookieJar(),
      version.options,
    );
    return { authRequest: lastAuthRequest(), status: result.status, headers: result.headers, body: result.body, setCookieNames: cookieNames(result.setCookies), result };
  }

  it('asks the auth server with the same request: method, path, no body, the same headers', async () => {
    const headers = {
      Accept: 'text/html',
      'User-Agent': 'Mozilla/5.0 (test)',
      'X-Custom': 'kept',
      'Proxy-Authorization': 'Basic eA==',
      'X-Forwarded-Host': 'evil.example',
      'X-Forwarded-Uri': '/forged',
      'X-Forwarded-Prefix': '/evil',
      X_Forwarded_Proto: 'http',
      'X-Real-Ip': '10.0.0.1',
      'X-Forwarded-User': 'mallory@example.com',
    };
    const real = await throughTraefik('/page?q=1', headers, 'POST');
    const reproduced = await throughReproduction('/page?q=1', headers, 'POST');
    expect(reproduced.authRequest.method).toBe(real.authRequest.method);
    expect(reproduced.authRequest.url).toBe(real.authRequest.url);
    expect(reproduced.authRequest.body).toBe(real.authRequest.body);
    expect(comparable(reproduced.authRequest)).toEqual(comparable(real.authRequest));
  });

  it('sends a request without User-Agent on the same way', async () => {
    const real = await throughTraefik('/no-agent', { Accept: 'application/json' });
    const reproduced = await throughReproduction('/no-agent', { Accept: 'application/json' });
    expect(comparable(reproduced.authRequest)).toEqual(comparable(real.authRequest));
  });

  it('rewrites the request target into X-Forwarded-Uri the same way', async () => {
    const targets = ['/a/./b/../c//d?x=1;y=2', '/%61dmin/%2e%2e/secret/', '/a%2fb%3f', '/../../etc', '/?next=/a/../b'];
    const real: unknown[] = [];
    const reproduced: unknown[] = [];
    for (const target of targets) {
      const seen = await throughTraefik(target, { Accept: 'application/json' });
      real.push(seen.status === 401 ? seen.authRequest.headers['x-forwarded-uri'] : `answered ${seen.status} without asking`);
      reproduced.push((await throughReproduction(target, { Accept: 'application/json' })).authRequest.headers['x-forwarded-uri']);
    }
    expect(reproduced).toEqual(real);
  });

  it('on a 2xx: replaces the identity headers for the application and passes the same cookies to the browser', async () => {
    const forged = { Accept: 'application/json', 'X-Forwarded-User': 'mallory@example.com', 'X-Forwarded-Groups': 'root' };
    const real = await throughTraefik('/allow', forged);
    const reproduced = await throughReproduction('/allow', forged);
    expect(real.status).toBe(200);
    const echoed = JSON.parse(real.body) as EchoedRequest;
    expect(echoed.headers['x-forwarded-user']).toBe(reproduced.result.upstreamHeaders['x-forwarded-user']);
    expect(echoed.headers['x-forwarded-groups']).toBe(reproduced.result.upstreamHeaders['x-forwarded-groups']);
    expect(real.setCookieNames).toEqual(reproduced.setCookieNames);
    expect(real.setCookieNames).toEqual(version.peer === 'traefik-v3' ? ['app-session'] : []);
  });

  it('on a 302: the same status, Location and every cookie', async () => {
    const real = await throughTraefik('/login', { Accept: 'text/html' });
    const reproduced = await throughReproduction('/login', { Accept: 'text/html' });
    expect(real.status).toBe(302);
    expect(reproduced.status).toBe(real.status);
    expect(reproduced.result.location).toBe(real.headers.location);
    expect(real.setCookieNames).toEqual(['app-session', 'app-state.a']);
    expect(reproduced.setCookieNames).toEqual(real.setCookieNames);
  });

  it('on a 401: the same status, WWW-Authenticate and body', async () => {
    const real = await throughTraefik('/api', { Accept: 'application/json' });
    const reproduced = await throughReproduction('/api', { Accept: 'application/json' });
    expect(real.status).toBe(401);
    expect(reproduced.status).toBe(real.status);
    expect(reproduced.headers['www-authenticate']).toBe(real.headers['www-authenticate']);
    expect(reproduced.body).toBe(real.body);
  });

  it("keeps the X-Forwarded-* of a proxy in the entry point's forwardedHeaders.trustedIPs (trustForwardHeader: true), drops anyone else's", async () => {
    const behindProxy = await startTraefik({
      peer: version.peer,
      dynamic: renderDynamic(
        readShippedDynamic(),
        { authAddress: `127.0.0.1:${auth.port}`, appAddress: `127.0.0.1:${upstream.port}`, host: '127.0.0.1' },
        version.peer === 'traefik-v2' ? ['traefik-v2'] : [],
      ),
      certificate: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca },
      trustedIPs: ['127.0.0.1/32'],
    });
    try {
      const forwarded = { Accept: 'application/json', 'X-Forwarded-Host': 'app.example.com', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Uri': '/original' };
      await getGlobalDispatcher().request({ origin: behindProxy.url, path: '/seen-by-traefik', method: 'GET', headers: forwarded }).then((r) => r.body.text());
      expect(lastAuthRequest().headers).toMatchObject({ 'x-forwarded-host': 'app.example.com', 'x-forwarded-proto': 'https', 'x-forwarded-uri': '/original' });
      await throughTraefik('/seen-by-traefik', forwarded);
      expect(lastAuthRequest().headers).toMatchObject({ 'x-forwarded-host': `127.0.0.1:${traefik.port}`, 'x-forwarded-uri': '/seen-by-traefik' });
    } finally {
      await behindProxy.stop();
    }
  });

  it('answers a bare 401 when the auth answer is larger than maxResponseBodySize', async () => {
    const real = await throughTraefik('/big', { Accept: 'text/html' });
    const reproduced = await throughReproduction('/big', { Accept: 'text/html' });
    expect(real.status).toBe(401);
    expect(real.body).toBe('');
    expect(reproduced.status).toBe(real.status);
    expect(reproduced.body).toBe(real.body);
  });
});

describe('traefik-v2 with the shipped dynamic.yml unchanged', () => {
  it('refuses the whole file for its addAuthCookiesToResponse: the v2.11 change is needed, not optional', async () => {
    const traefik = await startTraefik({
      peer: 'traefik-v2',
      dynamic: renderDynamic(readShippedDynamic(), { authAddress: `127.0.0.1:${auth.port}`, appAddress: `127.0.0.1:${upstream.port}`, host: '127.0.0.1' }),
      certificate: { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca },
      untilLog: /Cannot start the provider \*file\.Provider/,
    });
    try {
      // The file provider does not start at all: no router, no middleware, no certificate.
      expect(traefik.log()).toMatch(/field not found, node: addAuthCookiesToResponse/);
    } finally {
      await traefik.stop();
    }
  });
});
