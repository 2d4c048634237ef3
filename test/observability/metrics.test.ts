/**
 * /metrics after a scripted flow through the service, against a real provider (oidc-provider)
 * and, for the store's commands, a real redis-server.
 */
import { once } from 'node:events';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_TABLE } from '../../src/errors.js';
import { sessionPurpose } from '../../src/session/sealed-session.js';
import { createTelemetry, type Telemetry } from '../../src/observability/telemetry.js';
import { startMetricsListener, type MetricsListener } from '../../src/server/metrics-listener.js';
import { createRedisConnection } from '../../src/session/redis/connection.js';
import { createRedisSessionStore } from '../../src/session/redis/store.js';
import { createSealer } from '../../src/session/seal.js';
import type { SessionStore } from '../../src/session/store.js';
import { createCookieJar, type CookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS, type ForwardAuthOptions } from '../support/forward-auth-client.js';
import { createTestLogger } from '../support/log.js';
import { makeMiddlewareConfig, type MiddlewareOverrides } from '../support/middleware-config.js';
import { signOutAtProvider, startTestProvider, TEST_APP_ORIGIN, TEST_CLIENT, type DevProvider } from '../support/op.js';
import { makeRedisStoreConfig } from '../support/redis-service.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { findFreePort } from '../support/scripted-server.js';
import { startService, TEST_SECRET, type TestService } from '../support/service.js';
import { scrape, valueOf, type Sample } from './prometheus-text.js';

const APP = TEST_APP_ORIGIN;
const NAME = 'app';
const SESSION_COOKIE = `${NAME}-session`;
const ACCESS_TOKEN_TTL = 300;
const EXPIRY = 1000;
/** Past a tenth of EXPIRY (a sliding renewal is due), before the access token expires. */
const SLIDING_STEP = 150;
/** From there, past the access token's lifetime: a refresh. */
const REFRESH_STEP = 200;
const TRAEFIK: ForwardAuthOptions = { addAuthCookiesToResponse: [SESSION_COOKIE] };
const API_HEADERS = { accept: 'application/json', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' };

/** Every value an ofa_ label may take: the configured middleware, our fixed vocabularies, our error codes. */
const BOUNDED_LABELS: Readonly<Record<string, ReadonlySet<string>>> = {
  middleware: new Set([NAME, '']),
  outcome: new Set([
    'allowed',
    'login_started',
    'callback',
    'unauthorized',
    'forbidden',
    'csrf_refused',
    'logout',
    'logout_confirmation',
    'backchannel_logout',
    'backchannel_logout_refused',
    'unavailable',
    'invalid_request',
    'error',
  ]),
  code: new Set(['', ...Object.keys(ERROR_TABLE)]),
  endpoint: new Set(['discovery', 'jwks', 'token', 'refresh', 'userinfo', 'par', 'introspection', 'other']),
  result: new Set(['ok', 'http_3xx', 'http_4xx', 'http_5xx', 'timeout', 'tls', 'network', 'too_large', 'success', 'failure']),
  reason: new Set(['ok', 'http_3xx', 'http_4xx', 'http_5xx', 'timeout', 'tls', 'network', 'too_large']),
  event: new Set(['created', 'renewed', 'refreshed', 'ended_by_logout', 'ended_by_backchannel_logout', 'ended_by_max_lifetime', 'ended_by_failed_refresh']),
  command: new Set(['get', 'set', 'eval', 'del', 'zrem', 'zrange', 'zrangebyscore', 'zremrangebyscore', 'exists', 'wait', 'other']),
};

function middlewareOverrides(issuer: string): MiddlewareOverrides {
  const base = makeMiddlewareConfig({ name: NAME });
  return {
    name: NAME,
    issuer,
    logoutUrl: '/logout',
    usernameClaim: 'preferred_username',
    claims: 'Contains(`groups`, `admin`)',
    // One retry: a refused connection is tried twice, and the test does not wait for more.
    clientConfig: { maxRetries: 1 },
    session: { ...base.session, expiry: EXPIRY },
  };
}

describe('metrics after a scripted flow: login, allowed, 403, sliding renewal, refresh, logout, a provider outage', () => {
  let op: DevProvider;
  let opRunning = true;
  let service: TestService;
  let telemetry: Telemetry;
  let samples: Sample[];
  let text: string;
  let contentType: string | undefined;
  let aliceCookie = '';

  const counter = (name: string, labels: Record<string, string>): number => valueOf(samples, name, labels);
  const decisions = (outcome: string, code = '', middleware = NAME): number =>
    counter('ofa_decisions_total', { middleware, outcome, code });

  beforeAll(async () => {
    op = await startTestProvider({ ttl: { AccessToken: ACCESS_TOKEN_TTL, IdToken: 86_400 }, rotateRefreshToken: false });
    telemetry = createTelemetry({ processMetrics: true });
    service = await startService({ telemetry, middlewares: [middlewareOverrides(op.issuer)] });
    const api = (jar: CookieJar, path = '/api/data') => forwardAuth(service.authAddress(), { url: `${APP}${path}`, headers: API_HEADERS }, jar, TRAEFIK);

    // alice signs in (login_started, callback, allowed) and works (allowed).
    const alice = await browserLogin({ authAddress: service.authAddress(), url: `${APP}/`, user: 'alice', ...TRAEFIK });
    expect(alice.final.status).toBe(200);
    aliceCookie = alice.jar.get(SESSION_COOKIE)?.value ?? '';
    expect((await api(alice.jar)).status).toBe(200);
    // Someone without a session calls the API (unauthorized).
    expect((await api(createCookieJar())).status).toBe(401);
    // bob signs in (login_started, callback) and is refused by the claims (forbidden).
    const bob = await browserLogin({ authAddress: service.authAddress(), url: `${APP}/`, user: 'bob', ...TRAEFIK });
    expect(bob.final.status).toBe(403);
    // A tenth of the lifetime later, alice's session slides (renewed); later still her access token is refreshed.
    service.advance(SLIDING_STEP);
    expect((await api(alice.jar)).status).toBe(200);
    service.advance(REFRESH_STEP);
    expect((await api(alice.jar)).status).toBe(200);
    // alice signs out (logout, ended_by_logout).
    const logout = await forwardAuth(service.authAddress(), { url: `${APP}/logout`, headers: NAVIGATION_HEADERS }, alice.jar, TRAEFIK);
    expect(logout.status).toBe(302);
    // A proxy asks for a middleware that does not exist.
    expect((await request(`${service.origin}/auth/alice-private-app`)).statusCode).toBe(404);
    // The provider goes away: bob's expired access token cannot be refreshed (unavailable, a refresh failure, a retry).
    await op.stop();
    opRunning = false;
    expect((await api(bob.jar)).status).toBe(503);

    const scraped = await scrape(`${service.origin}/metrics`);
    expect(scraped.status).toBe(200);
    ({ samples, text, contentType } = scraped);
  });
  afterAll(async () => {
    await service?.stop();
    if (opRunning) await op?.stop();
    await telemetry?.shutdown();
  });

  it('is served in the Prometheus text format on the main port by default', () => {
    expect(contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(text).toContain('# TYPE ofa_decisions_total counter');
    expect(text).toContain('# TYPE ofa_decision_duration_seconds histogram');
  });

  it('counts every decision by outcome and error code', () => {
    expect(decisions('login_started')).toBe(2);
    expect(decisions('callback')).toBe(2);
    // alice: back from the login, the API, after the renewal, after the refresh.
    expect(decisions('allowed')).toBe(4);
    expect(decisions('unauthorized', 'OFA_LOGIN_REQUIRED')).toBe(1);
    expect(decisions('forbidden', 'OFA_CLAIMS_DENIED')).toBe(1);
    expect(decisions('logout')).toBe(1);
    expect(decisions('unavailable', 'OFA_PROVIDER_UNAVAILABLE')).toBe(1);
    expect(decisions('error', 'OFA_UNKNOWN_MIDDLEWARE', '')).toBe(1);
    expect(counter('ofa_decision_duration_seconds_count', { middleware: NAME })).toBe(12);
    const total = samples.filter((s) => s.name === 'ofa_decisions_total' && s.labels.middleware === NAME).reduce((sum, s) => sum + s.value, 0);
    expect(total).toBe(12);
  });

  it('counts sessions created, renewed, refreshed and ended by logout, and the failed refresh', () => {
    const event = (name: string): number => counter('ofa_session_events_total', { middleware: NAME, event: name });
    expect(event('created')).toBe(2);
    expect(event('renewed')).toBe(1);
    expect(event('refreshed')).toBe(1);
    expect(event('ended_by_logout')).toBe(1);
    expect(event('ended_by_failed_refresh')).toBe(0);
    expect(counter('ofa_refresh_failures_total', { middleware: NAME, code: 'OFA_PROVIDER_UNAVAILABLE' })).toBe(1);
  });

  it('counts provider calls by endpoint and result, one per call, and the retry of the refused one', () => {
    const calls = (endpoint: string, result: string): number => counter('ofa_provider_requests_total', { middleware: NAME, endpoint, result });
    expect(calls('discovery', 'ok')).toBe(1);
    // The keys are fetched once and cached for both ID tokens and the refresh.
    expect(calls('jwks', 'ok')).toBe(1);
    expect(calls('token', 'ok')).toBe(2);
    expect(calls('refresh', 'ok')).toBe(1);
    expect(calls('refresh', 'network')).toBe(1);
    expect(counter('ofa_provider_retries_total', { middleware: NAME, endpoint: 'refresh', reason: 'network' })).toBe(1);
    expect(counter('ofa_provider_request_duration_seconds_count', { middleware: NAME, endpoint: 'token' })).toBe(2);
    expect(samples.some((s) => s.name === 'ofa_provider_requests_total' && s.labels.endpoint === 'other')).toBe(false);
  });

  it('starts the config reload counters at zero and counts what the serve command reports', async () => {
    expect(counter('ofa_config_reloads_total', { result: 'success' })).toBe(0);
    expect(counter('ofa_config_reloads_total', { result: 'failure' })).toBe(0);
    telemetry.recordConfigReload('failure');
    telemetry.recordConfigReload('success');
    telemetry.recordConfigReload('success');
    const after = (await scrape(`${service.origin}/metrics`)).samples;
    expect(valueOf(after, 'ofa_config_reloads_total', { result: 'success' })).toBe(2);
    expect(valueOf(after, 'ofa_config_reloads_total', { result: 'failure' })).toBe(1);
  });

  it('carries prom-client’s process metrics when asked to', () => {
    expect(samples.some((s) => s.name === 'process_cpu_user_seconds_total')).toBe(true);
    expect(samples.some((s) => s.name === 'nodejs_heap_size_total_bytes')).toBe(true);
  });

  it('keeps every label bounded: no user, path, host or cookie in any of them', () => {
    expect(aliceCookie.length).toBeGreaterThan(50);
    for (const sample of samples.filter((s) => s.name.startsWith('ofa_'))) {
      for (const [label, value] of Object.entries(sample.labels)) {
        if (label === 'le') continue;
        expect(BOUNDED_LABELS[label], `label ${label} of ${sample.name}`).toBeDefined();
        expect(BOUNDED_LABELS[label]?.has(value), `${sample.name}{${label}="${value}"}`).toBe(true);
      }
    }
    for (const secretish of ['alice', 'bob', '/api', '/logout', '/callback', 'app.example.test', aliceCookie.slice(0, 40)]) {
      expect(text).not.toContain(secretish);
    }
  });

  it('keeps counting across a configuration reload', async () => {
    const before = decisions('unauthorized', 'OFA_LOGIN_REQUIRED');
    const summary = service.app.reload({ ...service.config, server: { ...service.config.server, logLevel: 'info' } });
    await summary.retired;
    const answer = await forwardAuth(service.authAddress(), { url: `${APP}/api`, headers: API_HEADERS }, createCookieJar());
    expect(answer.status).toBe(401);
    const after = (await scrape(`${service.origin}/metrics`)).samples;
    expect(valueOf(after, 'ofa_decisions_total', { middleware: NAME, outcome: 'unauthorized', code: 'OFA_LOGIN_REQUIRED' })).toBe(before + 1);
  });
});

describe('metrics of the other answers: CSRF refusal, logout confirmation, back-channel logout, malformed request', () => {
  const EXTRA = 'extra';
  let op: DevProvider;
  let service: TestService;

  beforeAll(async () => {
    // The provider POSTs its logout tokens straight to the service (no proxy): the original URL is then the auth URL itself.
    const port = await findFreePort();
    op = await startTestProvider({
      clients: [{ ...TEST_CLIENT, backchannel_logout_uri: `http://127.0.0.1:${port}/auth/${EXTRA}`, backchannel_logout_session_required: true }],
    });
    service = await startService({
      port,
      middlewares: [
        {
          name: EXTRA,
          issuer: op.issuer,
          logoutUrl: '/logout',
          backchannelLogoutUrl: `/auth/${EXTRA}`,
          csrf: { secure: false, headerName: 'X-CSRF-Token' },
        },
      ],
    });
  });
  afterAll(async () => {
    await service?.stop();
    await op?.stop();
  });

  it('counts each by its own outcome', async () => {
    const login = await browserLogin({ authAddress: service.authAddress(EXTRA), url: `${APP}/`, user: 'alice' });
    expect(login.final.status).toBe(200);
    const post = await forwardAuth(service.authAddress(EXTRA), { method: 'POST', url: `${APP}/api`, headers: API_HEADERS }, login.jar, {
      preserveRequestMethod: true,
    });
    expect(post.status).toBe(403);
    const crossSite = await forwardAuth(service.authAddress(EXTRA), { url: `${APP}/logout`, headers: { ...NAVIGATION_HEADERS, 'sec-fetch-site': 'cross-site' } }, login.jar);
    expect(crossSite.status).toBe(403);
    const forwarded = { 'x-forwarded-host': new URL(APP).host, 'x-forwarded-uri': `/auth/${EXTRA}`, 'x-forwarded-method': 'POST' };
    const backchannel = await request(service.authAddress(EXTRA), {
      method: 'POST',
      headers: { ...forwarded, 'x-forwarded-proto': 'http', 'content-type': 'application/x-www-form-urlencoded' },
      body: '',
    });
    await backchannel.body.dump();
    expect(backchannel.statusCode).toBe(400);
    const malformed = await request(service.authAddress(EXTRA), { headers: { ...forwarded, 'x-forwarded-proto': 'ftp' } });
    await malformed.body.dump();
    expect(malformed.statusCode).toBe(400);
    // alice signs out at the provider, which sends a logout token for her session.
    await signOutAtProvider(op.issuer, login.providerJar);
    expect((await forwardAuth(service.authAddress(EXTRA), { url: `${APP}/api`, headers: API_HEADERS }, login.jar)).status).toBe(401);

    const { samples } = await scrape(`${service.origin}/metrics`);
    const decisions = (outcome: string, code = ''): number => valueOf(samples, 'ofa_decisions_total', { middleware: EXTRA, outcome, code });
    expect(decisions('login_started')).toBe(1);
    expect(decisions('callback')).toBe(1);
    expect(decisions('allowed')).toBe(1);
    expect(decisions('csrf_refused', 'OFA_CSRF_INVALID')).toBe(1);
    expect(decisions('logout_confirmation')).toBe(1);
    expect(decisions('backchannel_logout_refused')).toBe(1);
    expect(decisions('invalid_request', 'OFA_REQUEST_INVALID')).toBe(1);
    expect(decisions('backchannel_logout')).toBe(1);
    expect(decisions('unauthorized', 'OFA_LOGIN_REQUIRED')).toBe(1);
    expect(valueOf(samples, 'ofa_decision_duration_seconds_count', { middleware: EXTRA })).toBe(9);
    expect(valueOf(samples, 'ofa_session_events_total', { middleware: EXTRA, event: 'ended_by_backchannel_logout' })).toBe(1);
    // The cross-site request ended nothing.
    expect(valueOf(samples, 'ofa_session_events_total', { middleware: EXTRA, event: 'ended_by_logout' })).toBe(0);
  });
});

describe('server.metricsListen', () => {
  let service: TestService;
  let listener: MetricsListener;
  let telemetry: Telemetry;

  beforeAll(async () => {
    telemetry = createTelemetry();
    service = await startService({
      telemetry,
      awaitProviders: false,
      metricsListen: { host: '127.0.0.1', port: 0 },
      middlewares: [{ name: NAME, issuer: 'http://127.0.0.1:1' }],
    });
    const address = service.config.server.metricsListen;
    if (address === undefined) throw new Error('metricsListen is not in the config');
    listener = await startMetricsListener(address, telemetry, service.logger.log);
  });
  afterAll(async () => {
    await listener?.close();
    await service?.stop();
  });

  it('serves /metrics on its own port and nothing on the main one', async () => {
    const answer = await forwardAuth(service.authAddress(), { url: `${APP}/api`, headers: API_HEADERS }, createCookieJar());
    expect(answer.status).toBe(401);
    const own = await scrape(`http://127.0.0.1:${listener.port}/metrics`);
    expect(own.status).toBe(200);
    expect(own.contentType).toBe('text/plain; version=0.0.4; charset=utf-8');
    expect(valueOf(own.samples, 'ofa_decisions_total', { middleware: NAME, outcome: 'unauthorized', code: 'OFA_LOGIN_REQUIRED' })).toBe(1);
    expect((await scrape(`${service.origin}/metrics`)).status).toBe(404);
  });

  it('answers nothing else on the metrics port', async () => {
    const other = await request(`http://127.0.0.1:${listener.port}/auth/${NAME}`);
    await other.body.dump();
    expect(other.statusCode).toBe(404);
    const health = await request(`http://127.0.0.1:${listener.port}/healthz`);
    await health.body.dump();
    expect(health.statusCode).toBe(404);
    const post = await request(`http://127.0.0.1:${listener.port}/metrics`, { method: 'POST', body: '' });
    await post.body.dump();
    expect(post.statusCode).toBe(405);
  });

  it('refuses an address that is taken', async () => {
    await expect(startMetricsListener({ host: '127.0.0.1', port: listener.port }, telemetry, service.logger.log)).rejects.toThrow(/EADDRINUSE/);
  });
});

describe('Redis command metrics, with a real redis-server', () => {
  let op: DevProvider;
  let redis: RedisServer;
  let store: SessionStore;
  let service: TestService;
  let telemetry: Telemetry;

  beforeAll(async () => {
    op = await startTestProvider();
    redis = await startRedisServer();
    telemetry = createTelemetry();
    const middleware = makeMiddlewareConfig({ name: NAME, issuer: op.issuer });
    const client = createRedisConnection(makeRedisStoreConfig({ endpoints: [redis.address] }), {
      log: createTestLogger('warn').log,
      commandTimeoutMs: 300,
    });
    if (client.status !== 'ready') await once(client, 'ready');
    // Built here rather than from the config so this test sees the store's commands whatever wires
    // session-stores.ts; the store is the only place Redis commands are sent from.
    store = createRedisSessionStore({
      client,
      ownsClient: true,
      sealer: createSealer([TEST_SECRET]),
      purpose: sessionPurpose(middleware),
      keyPrefix: `ofa:v1:${NAME}:`,
      sessionLifetimeSeconds: middleware.session.expiry,
      commandObserver: telemetry.redisCommands,
    });
    service = await startService({ telemetry, stores: { [NAME]: store }, middlewares: [{ name: NAME, issuer: op.issuer }] });
  });
  afterAll(async () => {
    await service?.stop();
    await store?.close();
    await redis?.destroy();
    await op?.stop();
  });

  const commands = async (): Promise<Sample[]> => (await scrape(`${service.origin}/metrics`)).samples;
  const count = (samples: Sample[], command: string): number => valueOf(samples, 'ofa_redis_command_duration_seconds_count', { command });
  const errors = (samples: Sample[], command: string): number => valueOf(samples, 'ofa_redis_command_errors_total', { command });

  it('times each command the store sends, by command name', async () => {
    // Subscribed to revocations: the store then vouches for the service's verdict cache.
    for (let attempt = 0; attempt < 500 && store.verdictEpoch?.() === undefined; attempt += 1) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(store.verdictEpoch?.()).toBeDefined();
    const beforeLogin = await commands();
    const login = await browserLogin({ authAddress: service.authAddress(), url: `${APP}/`, user: 'alice' });
    expect(login.final.status).toBe(200);
    const afterLogin = await commands();
    // The session is created once (SET … NX); the subject's revocation cutoff is read once (GET),
    // and so is the session, on the way back to the page.
    expect(count(afterLogin, 'set') - count(beforeLogin, 'set')).toBe(1);
    expect(count(afterLogin, 'get') - count(beforeLogin, 'get')).toBe(2);
    expect(count(afterLogin, 'eval') - count(beforeLogin, 'eval')).toBeGreaterThanOrEqual(1);

    // Another request with the session: answered from the verdict cache, nothing sent to Redis.
    const allowed = await forwardAuth(service.authAddress(), { url: `${APP}/api`, headers: API_HEADERS }, login.jar);
    expect(allowed.status).toBe(200);
    const afterRequest = await commands();
    for (const command of BOUNDED_LABELS.command ?? []) {
      expect(count(afterRequest, command) - count(afterLogin, command), command).toBe(0);
    }
    expect(afterRequest.filter((s) => s.name === 'ofa_redis_command_errors_total').every((s) => s.value === 0)).toBe(true);
  });

  it('counts the commands that fail while Redis is down', async () => {
    const login = await browserLogin({ authAddress: service.authAddress(), url: `${APP}/`, user: 'alice' });
    const before = await commands();
    await redis.stop();
    try {
      const refused = await forwardAuth(service.authAddress(), { url: `${APP}/api`, headers: API_HEADERS }, login.jar);
      expect(refused.status).toBe(503);
    } finally {
      await redis.start();
    }
    const after = await commands();
    expect(errors(after, 'get') - errors(before, 'get')).toBe(1);
    expect(count(after, 'get') - count(before, 'get')).toBe(1);
    expect(valueOf(after, 'ofa_decisions_total', { middleware: NAME, outcome: 'unavailable', code: 'OFA_STORE_UNAVAILABLE' })).toBe(1);
  });
});
