/**
 * The mistakes an operator makes in the first hour get named where they look: the log, the page,
 * /readyz. Real provider, real service on 127.0.0.1, the Traefik ForwardAuth harness for the
 * proxy, a real redis-server for readiness.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MiddlewareConfig } from '../../src/config/types.js';
import { SECURE_OVER_HTTP_HINT } from '../../src/forward/plain-http-cookies.js';
import { createCookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import type { LogRecord } from '../support/log.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { startTestProvider, TEST_APP_ORIGIN, type DevProvider } from '../support/op.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { makeRedisMiddlewareConfig, makeRedisStoreConfig, makeServiceConfig, startRestartableService, type RestartableService } from '../support/redis-service.js';
import { startService, type TestService } from '../support/service.js';

const withMessage = (records: readonly LogRecord[], text: string): LogRecord[] => records.filter((r) => typeof r.msg === 'string' && r.msg.includes(text));
const accessLines = (records: readonly LogRecord[]): LogRecord[] => records.filter((r) => r.msg === 'forward-auth');

describe('secure cookies on a site served over plain HTTP', () => {
  let op: DevProvider;
  let service: TestService;
  const secure = (name: string) => {
    const base = makeMiddlewareConfig({ name });
    return { name, session: { ...base.session, secure: true }, stateCookie: { ...base.stateCookie, secure: true } };
  };

  beforeAll(async () => {
    op = await startTestProvider();
    service = await startService({ middlewares: [{ ...secure('app'), issuer: op.issuer }, { ...secure('other'), issuer: op.issuer }] });
  });
  afterAll(async () => {
    await service?.stop();
    await op?.stop();
  });

  it('warns once per middleware and host when a login sets a Secure cookie over http', async () => {
    const open = (name: string, url: string) => forwardAuth(service.authAddress(name), { url, headers: NAVIGATION_HEADERS }, createCookieJar());
    expect((await open('app', 'http://shop.example.test/a')).status).toBe(302);
    expect((await open('app', 'http://shop.example.test/b')).status).toBe(302);
    expect((await open('app', 'http://blog.example.test/')).status).toBe(302);
    expect((await open('other', 'http://shop.example.test/')).status).toBe(302);
    const warnings = withMessage(service.logger.warnings(), 'a Secure cookie was set for a page served over plain HTTP');
    expect(warnings.map((w) => w.host)).toEqual(['shop.example.test', 'blog.example.test', 'shop.example.test']);
    expect(warnings[0]?.msg).toContain('secure: false');
  });

  it('stays quiet over https and on loopback, where browsers keep Secure cookies', async () => {
    const before = service.logger.warnings().length;
    for (const url of ['https://secure.example.test/', 'http://127.0.0.1:8080/', 'http://localhost:8080/']) {
      expect((await forwardAuth(service.authAddress('app'), { url, headers: NAVIGATION_HEADERS }, createCookieJar())).status).toBe(302);
    }
    expect(service.logger.warnings().slice(before)).toEqual([]);
  });

  it('says on the callback page and in the log what is probably wrong when the login state is missing', async () => {
    const result = await forwardAuth(
      service.authAddress('app'),
      { url: 'http://callback.example.test/callback?code=abc&state=def', headers: NAVIGATION_HEADERS },
      createCookieJar(),
    );
    expect(result.status).toBe(400);
    expect(result.body).toContain('OFA_CALLBACK_STATE_MISSING');
    expect(result.body).toContain('stateCookie.secure and session.secure to false');
    const [warning, ...more] = withMessage(service.logger.warnings(), 'login state missing at the callback');
    expect(more).toEqual([]);
    expect(warning).toMatchObject({ code: 'OFA_CALLBACK_STATE_MISSING', host: 'callback.example.test' });
    expect(warning?.msg).toContain(SECURE_OVER_HTTP_HINT);
  });
});

describe('a proxy that server.trustedProxies does not name', () => {
  let op: DevProvider;
  let service: TestService;

  beforeAll(async () => {
    op = await startTestProvider();
    service = await startService({ middlewares: [{ name: 'app', issuer: op.issuer }], trustedProxies: ['10.0.0.0/8'] });
  });
  afterAll(async () => {
    await service?.stop();
    await op?.stop();
  });

  it('gets one warning naming its address and the option, however many requests it sends', async () => {
    const plain = await fetch(service.authAddress('app'), { headers: { accept: 'application/json' } });
    expect(plain.status).toBe(401);
    expect(withMessage(service.logger.warnings(), 'server.trustedProxies')).toEqual([]);
    for (let i = 0; i < 3; i += 1) {
      await forwardAuth(service.authAddress('app'), { url: `${TEST_APP_ORIGIN}/page`, headers: NAVIGATION_HEADERS }, createCookieJar());
    }
    const warnings = withMessage(service.logger.warnings(), 'server.trustedProxies');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.peer).toMatch(/127\.0\.0\.1$/);
  });
});

describe('the access log', () => {
  let op: DevProvider;
  let service: TestService;

  beforeAll(async () => {
    op = await startTestProvider();
    service = await startService({
      middlewares: [
        { name: 'app', issuer: op.issuer, usernameClaim: 'sub', claims: 'Equals(`sub`, `nobody`)', logoutUrl: '/logout', authParams: { prompt: '' } },
        { name: 'open', issuer: op.issuer, logoutUrl: '/logout' },
      ],
    });
  });
  afterAll(async () => {
    await service?.stop();
    await op?.stop();
  });

  it('names the code on every refusal and the outcome of an nginx login start', async () => {
    await fetch(service.authAddress('app'), { headers: { accept: 'application/json', 'x-forwarded-host': 'a.example.test', 'x-forwarded-uri': '/x' } });
    await fetch(service.authAddress('app'), { headers: { 'x-forwarded-host': 'bad host', 'x-forwarded-uri': '/x' } });
    // What the nginx recipe sends for a page load; nginx cannot relay a 3xx, so the login start is a 401.
    const nginx = await forwardAuth(
      service.authAddress('app'),
      { url: 'https://a.example.test/x', headers: { ...NAVIGATION_HEADERS, 'x-forward-auth-proxy': 'nginx' } },
      createCookieJar(),
    );
    expect(nginx.status).toBe(401);
    const lines = accessLines(service.logger.records);
    expect(lines[0]).toMatchObject({ status: 401, decision: 'deny', outcome: 'unauthorized', code: 'OFA_LOGIN_REQUIRED' });
    expect(withMessage(service.logger.records, 'rejected a malformed forward-auth request')[0]).toMatchObject({ code: 'OFA_REQUEST_INVALID' });
    expect(lines[1]).toMatchObject({ status: 401, decision: 'redirect', outcome: 'login_started' });
    expect(lines[1]?.code).toBeUndefined();
  });

  it('logs a 403 with its code, and its page offers to sign out', async () => {
    const login = await browserLogin({ authAddress: service.authAddress('app'), url: `${TEST_APP_ORIGIN}/private` });
    expect(login.final.status).toBe(403);
    expect(login.final.body).toContain(`<a href="${TEST_APP_ORIGIN}/logout">Sign out</a> to use another account`);
    expect(login.final.body).toContain('Error code: <code>OFA_CLAIMS_DENIED</code>');
    const forbidden = accessLines(service.logger.records).find((line) => line.status === 403);
    expect(forbidden).toMatchObject({ decision: 'deny', outcome: 'forbidden', code: 'OFA_CLAIMS_DENIED' });
    const allowed = await browserLogin({ authAddress: service.authAddress('open'), url: `${TEST_APP_ORIGIN}/private` });
    expect(allowed.final.status).toBe(200);
  });
});

describe('the 503 page', () => {
  let service: TestService;

  beforeAll(async () => {
    // Nothing listens there: discovery fails and every page gets 503.
    service = await startService({ middlewares: [{ name: 'down', issuer: 'http://127.0.0.1:1', clientConfig: { maxRetries: 0 } }], awaitProviders: false });
  });
  afterAll(async () => {
    await service?.stop();
  });

  it('carries the error-code line the other pages have', async () => {
    const result = await forwardAuth(service.authAddress('down'), { url: `${TEST_APP_ORIGIN}/page`, headers: NAVIGATION_HEADERS }, createCookieJar());
    expect(result.status).toBe(503);
    expect(result.body).toContain('Error code: <code>OFA_PROVIDER_UNAVAILABLE</code>');
    expect(accessLines(service.logger.records).at(-1)).toMatchObject({ status: 503, decision: 'unavailable', code: 'OFA_PROVIDER_UNAVAILABLE' });
  });
});

describe('readiness with a Redis session store', () => {
  let op: DevProvider;
  let redis: RedisServer;
  let service: RestartableService;

  beforeAll(async () => {
    op = await startTestProvider();
    redis = await startRedisServer();
    const middleware: MiddlewareConfig = makeRedisMiddlewareConfig(makeRedisStoreConfig({ endpoints: [redis.address] }), { name: 'app', issuer: op.issuer });
    service = await startRestartableService(makeServiceConfig([middleware]));
  });
  afterAll(async () => {
    // A paused server would not take the SIGTERM that stops it.
    if (redis !== undefined) process.kill(redis.pid, 'SIGCONT');
    await service?.stop();
    await redis?.destroy();
    await op?.stop();
  });

  const readiness = async (): Promise<{ status: number; body: { middlewares: Record<string, { sessionStore: string }> } }> => {
    const response = await fetch(`${service.origin}/readyz`);
    return { status: response.status, body: (await response.json()) as { middlewares: Record<string, { sessionStore: string }> } };
  };

  it('is not ready while Redis is hung (SIGSTOP), and ready again once it answers', async () => {
    expect((await readiness()).status).toBe(200);
    process.kill(redis.pid, 'SIGSTOP');
    try {
      const hung = await readiness();
      expect(hung.status).toBe(503);
      expect(hung.body.middlewares.app?.sessionStore).toBe('unavailable');
    } finally {
      process.kill(redis.pid, 'SIGCONT');
    }
    let again = await readiness();
    for (let attempt = 0; again.status !== 200 && attempt < 100; attempt += 1) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      again = await readiness();
    }
    expect(again.status).toBe(200);
  });
});
