/**
 * What real Caddy (Debian's 2.6.2 and the current v2 release) does with the shipped example, in
 * front of a scripted auth server: the facts docs/proxies.md states and the service's Caddy behaviour rests
 * on (2xx Set-Cookie dropped, a missing copied header arriving as placeholder text, an empty one
 * arriving empty, non-2xx answers relayed whole). If a Caddy upgrade changes one, this file says
 * which.
 */
import type { ServerResponse } from 'node:http';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream, type EchoedRequest } from '../../deploy/demo/echo-upstream.js';
import { startScriptedServer, type RecordedRequest, type ScriptedServer } from '../support/scripted-server.js';
import { peerVersion } from '../support/peers.js';
import { CADDY_BUILDS, caddyVersion, startCaddy, validateCaddyfile, type RunningCaddy } from './caddy-process.js';
import { createHttpBrowser } from './http-browser.js';

const COPIED = ['X-Forwarded-User', 'X-Forwarded-Groups', 'X-Forwarded-Email'];

/** The scripted service's answer, chosen by the page the browser asked for. */
function answer(request: RecordedRequest, res: ServerResponse): void {
  const page = new URL(String(request.headers['x-forwarded-uri'] ?? '/'), 'http://x').pathname;
  switch (page) {
    case '/allow':
      // X-Forwarded-Groups empty, X-Forwarded-Email absent.
      res.writeHead(200, { 'X-Forwarded-User': 'alice@example.com', 'X-Forwarded-Groups': '', 'Set-Cookie': 'app-session=renewed; Path=/' });
      res.end();
      return;
    case '/login':
      res.writeHead(302, { Location: '/somewhere?x=1', 'Set-Cookie': ['app-state.a=1; Path=/', 'app-session=; Max-Age=0; Path=/'] });
      res.end();
      return;
    default:
      res.writeHead(401, { 'WWW-Authenticate': 'Bearer realm="test"', 'Content-Type': 'application/json' });
      res.end('{"error":"OFA_LOGIN_REQUIRED"}');
  }
}

describe.each(CADDY_BUILDS)('Caddy (%s build)', (build) => {
  let auth: ScriptedServer;
  let upstream: EchoUpstream;
  let caddy: RunningCaddy;

  beforeAll(async () => {
    auth = await startScriptedServer(answer);
    upstream = await startEchoUpstream();
    caddy = await startCaddy({ authAddress: `127.0.0.1:${auth.port}`, appAddress: `127.0.0.1:${upstream.port}`, copyHeaders: COPIED }, undefined, build);
  });

  afterAll(async () => {
    await caddy?.stop();
    await auth?.stop();
    await upstream?.close();
  });

  async function post(url: string, headers: Record<string, string>, body: string): Promise<void> {
    const response = await request(url, { method: 'POST', headers, body, maxRedirections: 0 });
    await response.body.text();
  }

  function lastAuthRequest(): RecordedRequest {
    const last = auth.requests.at(-1);
    if (last === undefined) throw new Error('the auth server got no request');
    return last;
  }

  describe('Caddy running the shipped example', () => {
    it('is the version it stands for: Debian\'s 2.6.x, or the pinned current release', () => {
      const version = caddyVersion(build);
      if (build === 'debian') expect(version).toMatch(/^v?2\.6\./);
      else expect(version).toBe(peerVersion('caddy'));
    });

    it('asks the service with a body-less GET to /auth/app, no query, the page in X-Forwarded-Uri and its own X-Forward-Auth-Proxy', async () => {
      await post(
        `${caddy.url}/callback?code=secret-code&state=s1`,
        { 'Content-Type': 'text/plain', 'X-Forward-Auth-Proxy': 'nginx', 'X-Forwarded-Uri': '/forged' },
        'a body',
      );
      const seen = lastAuthRequest();
      expect(seen.method).toBe('GET');
      expect(seen.url).toBe('/auth/app');
      expect(seen.body).toBe('');
      expect(seen.headers['x-forwarded-uri']).toBe('/callback?code=secret-code&state=s1');
      expect(seen.headers['x-forwarded-method']).toBe('POST');
      expect(seen.headers['x-forwarded-host']).toBe(`127.0.0.1:${caddy.port}`);
      expect(seen.headers['x-forwarded-proto']).toBe('http');
      expect(seen.headers['x-forward-auth-proxy']).toBe('caddy');
    });

    it('on a 2xx: drops its Set-Cookie and replaces the client copies; an empty or missing value arrives empty or as placeholder text on 2.6, not at all on the current release', async () => {
      const browser = createHttpBrowser();
      const answered = await browser.send(`${caddy.url}/allow`, {
        headers: {
          Accept: 'application/json',
          'X-Forwarded-User': 'mallory@example.com',
          'X-Forwarded-Groups': 'root',
          'X-Forwarded-Email': 'mallory@example.com',
        },
      });
      expect(answered.status).toBe(200);
      expect(answered.setCookies).toEqual([]);
      const echoed = JSON.parse(answered.body) as EchoedRequest;
      expect(echoed.headers['x-forwarded-user']).toBe('alice@example.com');
      if (build === 'debian') {
        expect(echoed.headers['x-forwarded-groups']).toBe('');
        // Why the service must send every forwardHeaders name, and the example copy only those.
        expect(echoed.headers['x-forwarded-email']).toBe('{http.reverse_proxy.header.X-Forwarded-Email}');
      } else {
        // Caddy 2.11 deletes the client's copy first and sets only a non-empty value.
        expect(echoed.headers['x-forwarded-groups']).toBeUndefined();
        expect(echoed.headers['x-forwarded-email']).toBeUndefined();
      }
    });

    it('relays a 302 as written: relative Location unchanged and every Set-Cookie', async () => {
      const answered = await createHttpBrowser().send(`${caddy.url}/login`);
      expect(answered.status).toBe(302);
      expect(answered.headers.location).toBe('/somewhere?x=1');
      expect(answered.setCookies).toEqual(['app-state.a=1; Path=/', 'app-session=; Max-Age=0; Path=/']);
    });

    it('relays a 401 with its WWW-Authenticate and body in place of the application\'s page', async () => {
      const before = auth.requests.length;
      const answered = await createHttpBrowser().send(`${caddy.url}/api/items`, { headers: { Accept: 'application/json' } });
      expect(auth.requests.length).toBe(before + 1);
      expect(answered.status).toBe(401);
      expect(answered.headers['www-authenticate']).toBe('Bearer realm="test"');
      expect(answered.body).toBe('{"error":"OFA_LOGIN_REQUIRED"}');
    });
  });

  describe('the example with its /backchannel-logout route uncommented', () => {
    it('is a valid Caddyfile', () => {
      const result = validateCaddyfile({ authAddress: '127.0.0.1:4181', appAddress: '127.0.0.1:3000', backchannelLogout: true }, build);
      expect(result.output).not.toMatch(/"level":"error"/);
      expect(result.ok).toBe(true);
    });

    it('hands the provider\'s POST to the service with its body, method and path, without the proxy marker', async () => {
      const backchannel = await startCaddy({ authAddress: `127.0.0.1:${auth.port}`, appAddress: `127.0.0.1:${upstream.port}`, backchannelLogout: true }, undefined, build);
      try {
        await post(
          `${backchannel.url}/backchannel-logout`,
          { 'Content-Type': 'application/x-www-form-urlencoded', 'X-Forward-Auth-Proxy': 'caddy' },
          'logout_token=a.b.c',
        );
      } finally {
        await backchannel.stop();
      }
      const seen = lastAuthRequest();
      expect(seen.method).toBe('POST');
      expect(seen.url).toBe('/auth/app');
      expect(seen.body).toBe('logout_token=a.b.c');
      expect(seen.headers['x-forwarded-uri']).toBe('/backchannel-logout');
      expect(seen.headers['x-forwarded-method']).toBe('POST');
      expect(seen.headers['x-forward-auth-proxy']).toBeUndefined();
    });
  });
});
