/**
 * The original request as the proxy describes it (X-Forwarded-*, Host): from untrusted peers it is
 * ignored; malformed, repeated or oversized values are refused with 400 and nothing else; and no
 * path trick turns a protected path into the callback or logout path, or skips authentication.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar, type CookieJar } from '../../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS } from '../../support/forward-auth-client.js';
import { completeLogin, startTestProvider, TEST_APP_ORIGIN, type DevProvider } from '../../support/op.js';
import { startService, type TestService } from '../../support/service.js';
import { API, expectNothingGranted, forwardedFor, header, NAVIGATION, rawRequest, setCookies, utf8Bytes, type RawHeader, type RawResponse } from './support.js';

const APP = TEST_APP_ORIGIN;
const APP_HOST = new URL(APP).host;
const SESSION = 'test-session';
const IDENTITY = ['x-user'];

/** Replaces (or adds) one forwarded header of a Traefik-shaped request. */
function withHeader(headers: readonly RawHeader[], name: string, value: string): RawHeader[] {
  const kept = headers.filter(([n]) => n.toLowerCase() !== name.toLowerCase());
  return [...kept, [name, value]];
}

describe('forwarded headers', () => {
  let op: DevProvider;
  let service: TestService;
  let cases = 0;

  beforeAll(async () => {
    op = await startTestProvider();
    service = await startService({
      middlewares: [{ name: 'test', issuer: op.issuer, logoutUrl: '/logout', forwardHeaders: { 'X-User': 'sub' } }],
    });
  });
  afterAll(async () => {
    await service?.stop();
    await op?.stop();
    console.info(`forwarded-header cases: ${cases}`);
  });

  async function signedIn(): Promise<CookieJar> {
    const login = await browserLogin({ authAddress: service.authAddress(), url: `${APP}/`, addAuthCookiesToResponse: [SESSION] });
    expect(login.final.status).toBe(200);
    return login.jar;
  }

  function send(headers: readonly RawHeader[], method = 'GET'): Promise<RawResponse> {
    cases += 1;
    return rawRequest(service.origin, '/auth/test', headers, method);
  }

  describe('from a peer outside trustedProxies', () => {
    for (const trustedProxies of [[], ['10.0.0.0/8', '::1/128']]) {
      it(`are ignored: the login is built from the Host the client sent to us (trustedProxies ${JSON.stringify(trustedProxies)})`, async () => {
        const untrusting = await startService({ middlewares: [{ name: 'test', issuer: op.issuer }], trustedProxies });
        try {
          const spoofed: RawHeader[] = [
            ['Host', 'auth.internal:8080'],
            ['X-Forwarded-Host', 'evil.example'],
            ['X-Forwarded-Proto', 'https'],
            ['X-Forwarded-Uri', '/admin'],
            ['X-Forwarded-Method', 'POST'],
            ['X-Forwarded-Port', '443'],
            ['X-Forward-Auth-Proxy', 'nginx'],
          ];
          cases += 1;
          const result = await rawRequest(untrusting.origin, '/auth/test', [...NAVIGATION, ...spoofed]);
          // Method GET (ours, not the spoofed POST) and a Traefik-style 302 (not nginx's 401): nothing spoofed counted.
          expect(result.status).toBe(302);
          const location = new URL(header(result, 'location') ?? '');
          expect(location.origin).toBe(op.url);
          expect(location.searchParams.get('redirect_uri')).toBe('http://auth.internal:8080/callback');
          expect(JSON.stringify(result.headers)).not.toContain('evil.example');
          expect(header(result, 'x-auth-location')).toBeUndefined();
          // Repeated X-Forwarded-* from an untrusted peer are ignored too, not an error.
          cases += 1;
          const repeated = await rawRequest(untrusting.origin, '/auth/test', [
            ...NAVIGATION,
            ['Host', 'auth.internal:8080'],
            ['X-Forwarded-Host', 'a.example'],
            ['X-Forwarded-Host', 'b.example'],
          ]);
          expect(repeated.status).toBe(302);
          expect(new URL(header(repeated, 'location') ?? '').searchParams.get('redirect_uri')).toBe('http://auth.internal:8080/callback');
          // The Host itself is still checked: repeated or malformed is refused.
          for (const hosts of [['a.example', 'b.example'], ['evil@a.example'], ['a.example/x']]) {
            cases += 1;
            const bad = await rawRequest(untrusting.origin, '/auth/test', [...NAVIGATION, ...hosts.map((h): RawHeader => ['Host', h])]);
            expectNothingGranted(bad, { sessionCookies: [SESSION], statuses: [400] }, `Host ${hosts.join(' + ')}`);
            expect(setCookies(bad)).toEqual([]);
          }
        } finally {
          await untrusting.stop();
        }
      });
    }
  });

  describe('malformed, repeated or oversized values from a trusted proxy', () => {
    const base = [...NAVIGATION, ...forwardedFor(`${APP}/private`)];
    const hosts = [
      'evil.example@app.example.test', 'app.example.test@evil.example', 'app.example.test:80@evil.example', 'app.example.test/evil',
      'app.example.test\\evil.example', 'app.example.test evil.example', 'app.example.test,evil.example', 'app.example.test;evil.example',
      'app.example.test:99999', 'app.example.test:0', 'app.example.test:', 'app.example.test:80:80', 'app.example.test:+80',
      'app.example.test?x', 'app.example.test#x', 'http://evil.example', '//evil.example', '[::1', '[zz::1]', '[::1]x',
      'a'.repeat(300), `${'a.'.repeat(130)}test`, utf8Bytes('аpp.example.test'), utf8Bytes('app.exämple.test'), '%65vil.example', '*',
    ];
    const protos = ['ftp', 'javascript', 'https, http', 'h ttp', 'https:', 'https://', 'file', 'x'.repeat(5000)];
    const uris = [
      'http://evil.example/x', 'evil.example/x', '*', 'x', '/a b', '/a\tb', utf8Bytes('/ünïcode'), '/\x7f',
      `/${'a'.repeat(8 * 1024)}`, `/?q=${'b'.repeat(9000)}`,
    ];
    const methods = ['GET POST', 'G(ET', 'GET,POST', 'M'.repeat(40), '"GET"'];

    it('refuses each malformed host, scheme, URI and method with 400, no cookie, no identity, even with a valid session', async () => {
      const jar = await signedIn();
      const cookie = jar.cookieHeader(`${APP}/`) ?? '';
      const sessionValue = jar.get(SESSION)?.value ?? '';
      const variants: [string, RawHeader[]][] = [
        ...hosts.map((v): [string, RawHeader[]] => [`host ${JSON.stringify(v.slice(0, 60))}`, withHeader(base, 'X-Forwarded-Host', v)]),
        ...protos.map((v): [string, RawHeader[]] => [`proto ${JSON.stringify(v.slice(0, 60))}`, withHeader(base, 'X-Forwarded-Proto', v)]),
        ...uris.map((v): [string, RawHeader[]] => [`uri ${JSON.stringify(v.slice(0, 60))}`, withHeader(base, 'X-Forwarded-Uri', v)]),
        ...methods.map((v): [string, RawHeader[]] => [`method ${JSON.stringify(v)}`, withHeader(base, 'X-Forwarded-Method', v)]),
      ];
      for (const [label, headers] of variants) {
        for (const withSession of [false, true]) {
          const result = await send(withSession ? [...headers, ['Cookie', cookie]] : headers);
          expectNothingGranted(result, { sessionCookies: [SESSION], identityHeaders: IDENTITY, secrets: [sessionValue], statuses: [400] }, label);
          expect(setCookies(result), label).toEqual([]);
          expect(header(result, 'location'), label).toBeUndefined();
        }
      }
    });

    it('refuses a repeated Host, X-Forwarded-Host, -Proto, -Uri or -Method, even when the copies agree', async () => {
      const jar = await signedIn();
      const cookie: RawHeader = ['Cookie', jar.cookieHeader(`${APP}/`) ?? ''];
      const repeats: [string, string, string][] = [
        ['X-Forwarded-Host', APP_HOST, 'evil.example'],
        ['X-Forwarded-Host', APP_HOST, APP_HOST],
        ['x-forwarded-host', APP_HOST, 'evil.example'],
        ['X-Forwarded-Proto', 'http', 'https'],
        ['X-Forwarded-Proto', 'http', 'http'],
        ['X-Forwarded-Uri', '/private', '/callback'],
        ['X-Forwarded-Uri', '/private', '/private'],
        ['X-Forwarded-Method', 'GET', 'POST'],
        ['X-Forwarded-Method', 'GET', 'GET'],
        ['Host', APP_HOST, 'evil.example'],
      ];
      for (const [name, first, second] of repeats) {
        const headers: RawHeader[] = [...withHeader(base, name, first), [name.toUpperCase(), second], cookie];
        const result = await send(headers);
        const label = `${name}: ${first} + ${second}`;
        expectNothingGranted(result, { sessionCookies: [SESSION], identityHeaders: IDENTITY, statuses: [400] }, label);
        expect(setCookies(result), label).toEqual([]);
      }
    });

    it('answers headers past the server’s limit with a 4xx (431 from Node before we see them), never a 5xx', async () => {
      const jar = await signedIn();
      const cookie: RawHeader = ['Cookie', jar.cookieHeader(`${APP}/`) ?? ''];
      const oversized: [string, RawHeader[]][] = [
        ['20 KiB X-Forwarded-Uri', withHeader(base, 'X-Forwarded-Uri', `/${'u'.repeat(20 * 1024)}`)],
        ['20 KiB X-Forwarded-Host', withHeader(base, 'X-Forwarded-Host', `${'h'.repeat(20 * 1024)}.test`)],
        ['400 headers', [...base, ...Array.from({ length: 400 }, (_, i): RawHeader => [`X-Filler-${i}`, 'f'.repeat(60)])]],
      ];
      for (const [label, headers] of oversized) {
        const result = await send([...headers, cookie]);
        expectNothingGranted(result, { sessionCookies: [SESSION], identityHeaders: IDENTITY, statuses: [400, 431] }, label);
      }
    });
  });

  describe('path tricks', () => {
    const tricks = [
      '/x/../callback', '/./callback', '/callback/', '/callback/.', '/%63allback', '/callback%2F', '/%2Fcallback', '/CALLBACK',
      '/Callback', '//callback', '/callback;', '/callback;x=1', '/x%2F..%2Fcallback', '/x/..%2Fcallback', '/x/%2e%2e/callback',
      '/%2e%2e/callback', '/callback%00', '/callback%20', '/x\\..\\callback', '/\\callback', '/x#/../callback', '/x%23/../callback',
      '/callback%23', '/callback..', '/callback%3F',
    ];

    it('never run the callback: a real code and state behind a trick path start a login instead, and the code stays unspent', async () => {
      for (const trick of tricks) {
        const jar = createCookieJar();
        const start = await forwardAuth(service.authAddress(), { url: `${APP}/private`, headers: NAVIGATION_HEADERS }, jar);
        expect(start.status).toBe(302);
        const callbackUrl = new URL(await completeLogin(start.location ?? '', { user: 'alice' }));
        const result = await send([
          ...NAVIGATION,
          ...withHeader(forwardedFor(`${APP}/`), 'X-Forwarded-Uri', `${trick}${callbackUrl.search}`),
          ['Cookie', jar.cookieHeader(`${APP}/`) ?? ''],
        ]);
        expectNothingGranted(result, { sessionCookies: [SESSION], identityHeaders: IDENTITY, statuses: [302, 400] }, trick);
        if (result.status === 302) {
          // An ordinary protected page without a session: a new login, not a completed one.
          const location = new URL(header(result, 'location') ?? '');
          expect(location.origin, trick).toBe(op.url);
          expect(location.searchParams.get('redirect_uri'), trick).toBe(`${APP}/callback`);
        }
        expect(result.body, trick).not.toContain('OFA_CALLBACK');
        // The real callback still completes with the same code: the trick spent nothing.
        const real = await forwardAuth(service.authAddress(), { url: callbackUrl.href, headers: NAVIGATION_HEADERS }, jar);
        expect(real.status, trick).toBe(302);
        expect(real.location, trick).toBe(`${APP}/private`);
      }
    });

    it('never run the logout: a session survives every trick spelling of /logout', async () => {
      const jar = await signedIn();
      const cookie: RawHeader = ['Cookie', jar.cookieHeader(`${APP}/`) ?? ''];
      for (const trick of tricks.map((t) => t.replace('callback', 'logout'))) {
        const result = await send([...API, ...withHeader(forwardedFor(`${APP}/`), 'X-Forwarded-Uri', trick), cookie]);
        expect([200, 400], trick).toContain(result.status);
        expect(header(result, 'location'), trick).toBeUndefined();
        expect(setCookies(result).filter((c) => c.startsWith(`${SESSION}=;`)), trick).toEqual([]);
      }
      const still = await forwardAuth(service.authAddress(), { url: `${APP}/api`, headers: { accept: 'application/json' } }, jar, { authResponseHeaders: ['X-User'] });
      expect(still.status).toBe(200);
      expect(still.upstreamHeaders['x-user']).toBe('alice');
    });

    it('never skip authentication: no trick path is allowed without a session', async () => {
      const paths = [...tricks, ...tricks.map((t) => t.replace('callback', 'logout')), '/public/../private', '/%2e%2e/%2e%2e/etc/passwd', '/healthz', '/auth/test', '/.well-known/../admin'];
      for (const path of paths) {
        for (const headers of [NAVIGATION, API]) {
          const result = await send([...headers, ...withHeader(forwardedFor(`${APP}/`), 'X-Forwarded-Uri', path)]);
          expectNothingGranted(result, { sessionCookies: [SESSION], identityHeaders: IDENTITY, statuses: [302, 400, 401] }, path);
        }
      }
    });
  });
});
