/**
 * Sessions in Redis, proved through the service: real redis-server / redis-sentinel processes, a
 * real provider (oidc-provider, rotating refresh tokens), and the Traefik ForwardAuth harness.
 * Each Redis topology starts once per describe.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Redis } from 'ioredis';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisStoreConfig } from '../../src/config/types.js';
import { sessionPurpose } from '../../src/session/sealed-session.js';
import { createSealer } from '../../src/session/seal.js';
import { newSessionId } from '../../src/session/session.js';
import { createCookieJar, type CookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS, type ForwardAuthOptions, type ForwardAuthResult } from '../support/forward-auth-client.js';
import { completeLogin, DEV_USERS, startTestProvider, TEST_APP_ORIGIN, TEST_CLIENT_ID, type DevProvider, countGrants, type GrantCounter } from '../support/op.js';
import { startRedisSentinelGroup, startRedisServer, type RedisSentinelGroup, type RedisServer } from '../support/redis.js';
import {
  makeRedisMiddlewareConfig,
  makeRedisStoreConfig,
  makeServiceConfig,
  openInspector,
  scanKeys,
  startRestartableService,
  type RestartableService,
} from '../support/redis-service.js';
import { startService, TEST_SECRET, type TestService } from '../support/service.js';
import { createTestPki, type TestPki } from '../support/tls.js';

const APP = TEST_APP_ORIGIN;
const NAME = 'test';
const SESSION_COOKIE = `${NAME}-session`;
/** The access token outlives the sliding step below, so sliding and refresh are seen apart. */
const ACCESS_TOKEN_TTL = 300;
const EXPIRY = 1000;
/** Past a tenth of EXPIRY (a sliding renewal is due), before the access token expires. */
const SLIDING_STEP = 150;
const PAST_ACCESS_TOKEN = ACCESS_TOKEN_TTL + 10;
const FORWARD_HEADERS = { 'X-User': 'sub', 'X-Email': 'email' };
const TRAEFIK: ForwardAuthOptions = { addAuthCookiesToResponse: [SESSION_COOKIE], authResponseHeaders: ['X-User', 'X-Email'] };
/** The 22-character id inside our session keys. */
const SESSION_KEY = new RegExp(`^ofa:v1:${NAME}:s:\\{([A-Za-z0-9_-]{22})\\}$`);
const SESSION_KEYS = `ofa:v1:${NAME}:s:{*}`;
/** Browsers keep a cookie at most 400 days; a server-side sliding session's cookie gets that. */
const SERVER_SIDE_COOKIE_MAX_AGE = 400 * 86_400;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function apiHeaders(): Record<string, string> {
  return { accept: 'application/json', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' };
}

function sessionSetCookies(result: ForwardAuthResult): string[] {
  return result.authSetCookies.filter((c) => c.startsWith(`${SESSION_COOKIE}=`));
}

function emailOf(user: string): string {
  return String(DEV_USERS[user]?.claims.email);
}

/** Polls `attempt` until `done` says yes; the last result is returned either way. */
async function poll<T>(attempt: () => Promise<T>, done: (value: T) => boolean, withinMs: number): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    const value = await attempt();
    if (done(value) || Date.now() >= deadline) return value;
    await sleep(200);
  }
}

let op: DevProvider;
let grants: GrantCounter;

beforeAll(async () => {
  // The ID token outlives every clock jump here; the access token does not. Every refresh returns a
  // new refresh token, and a spent one used again makes the provider revoke the whole grant.
  op = await startTestProvider({ ttl: { AccessToken: ACCESS_TOKEN_TTL, IdToken: 86_400 }, rotateRefreshToken: true });
  grants = countGrants(op);
});
afterAll(async () => {
  await op?.stop();
});

type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Holds every request to the provider's token endpoint for `ms` before the provider sees it, so
 * requests racing for one refresh are certain to overlap it. Returns the undo.
 */
function slowTokenEndpoint(server: Server, ms: number): () => void {
  const handlers = server.listeners('request') as RequestHandler[];
  server.removeAllListeners('request');
  const slowed: RequestHandler = (req, res) => {
    const pass = (): void => {
      for (const handler of handlers) handler(req, res);
    };
    if (new URL(req.url ?? '/', 'http://provider').pathname.endsWith('/token')) setTimeout(pass, ms);
    else pass();
  };
  server.on('request', slowed);
  return () => {
    server.removeListener('request', slowed);
    for (const handler of handlers) server.on('request', handler);
  };
}

function redisService(redis: RedisStoreConfig, expiry = EXPIRY): Promise<RestartableService> {
  return startRestartableService(
    makeServiceConfig([
      makeRedisMiddlewareConfig(redis, { name: NAME, issuer: op.issuer, forwardHeaders: FORWARD_HEADERS, sessionOverrides: { expiry } }),
    ]),
  );
}

/** A running service (or replica) the harness can send forward-auth requests to. */
type Addressed = Pick<RestartableService, 'authAddress'>;

async function login(service: Addressed, user = 'alice'): Promise<CookieJar> {
  const result = await browserLogin({ authAddress: service.authAddress(), url: `${APP}/`, user, ...TRAEFIK });
  expect(result.callback.status).toBe(302);
  expect(result.final.status).toBe(200);
  return result.jar;
}

function check(service: Addressed, jar: CookieJar, headers: Record<string, string> = apiHeaders()) {
  return forwardAuth(service.authAddress(), { url: `${APP}/api/data`, headers }, jar, TRAEFIK);
}

/** A request carrying exactly this Cookie header, from a browser with nothing else. */
function checkWithCookie(service: Addressed, cookie: string, headers: Record<string, string> = apiHeaders()) {
  return forwardAuth(service.authAddress(), { url: `${APP}/api/data`, headers: { ...headers, cookie } }, createCookieJar(), TRAEFIK);
}

/** The status of the service's /readyz. */
async function readinessOf(service: Pick<RestartableService, 'origin'>): Promise<number> {
  const answer = await request(`${service.origin}/readyz`);
  await answer.body.dump();
  return answer.statusCode;
}

function expectSignedInAs(result: ForwardAuthResult, user: string): void {
  expect(result.status).toBe(200);
  expect(result.upstreamHeaders['x-user']).toBe(user);
  expect(result.upstreamHeaders['x-email']).toBe(emailOf(user));
}

describe('sessions in one Redis server', () => {
  let redis: RedisServer;
  let service: RestartableService;
  /** The same middleware name and secret with the cookie store: where a cookie session comes from. */
  let cookieService: TestService;
  let inspector: Redis;

  beforeAll(async () => {
    redis = await startRedisServer();
    service = await redisService(makeRedisStoreConfig({ endpoints: [redis.address] }));
    cookieService = await startService({ middlewares: [{ name: NAME, issuer: op.issuer, forwardHeaders: FORWARD_HEADERS }] });
    inspector = openInspector({ ...redis.endpoint });
  });
  afterAll(async () => {
    inspector?.disconnect();
    await service?.stop();
    await cookieService?.stop();
    await redis?.destroy();
  });

  /** Signs in and returns the browser, the callback's answer and the Redis key the session landed under. */
  async function loginWithKey(user = 'alice'): Promise<{ jar: CookieJar; callback: ForwardAuthResult; key: string }> {
    const before = new Set(await scanKeys(inspector, SESSION_KEYS));
    const result = await browserLogin({ authAddress: service.authAddress(), url: `${APP}/`, user, ...TRAEFIK });
    expect(result.callback.status).toBe(302);
    expect(result.final.status).toBe(200);
    const added = (await scanKeys(inspector, SESSION_KEYS)).filter((key) => !before.has(key));
    expect(added).toHaveLength(1);
    return { jar: result.jar, callback: result.callback, key: added[0] ?? '' };
  }

  it('keeps only a short sealed id in the cookie, which never changes: sliding renewal and refresh move the Redis TTL instead', async () => {
    const { jar, callback, key } = await loginWithKey();
    const issued = sessionSetCookies(callback);
    expect(issued).toHaveLength(1);
    // The server's TTL is the authority; the browser must not drop the pointer first.
    expect(issued[0]).toContain(`Max-Age=${SERVER_SIDE_COOKIE_MAX_AGE}`);
    const cookie = jar.get(SESSION_COOKIE)?.value ?? '';

    const cookieSession = (await login(cookieService)).get(SESSION_COOKIE)?.value ?? '';
    expect(cookie).toMatch(/^v1\.[A-Za-z0-9_-]+$/);
    expect(cookie.length).toBeLessThanOrEqual(100);
    expect(cookieSession.length).toBeGreaterThan(3 * cookie.length);
    for (const text of [cookie, Buffer.from(cookie.slice(3), 'base64url').toString('latin1')]) {
      expect(text).not.toContain('alice');
    }
    // The id in the key is not readable from the cookie.
    const id = SESSION_KEY.exec(key)?.[1] ?? '';
    expect(id).toHaveLength(22);
    expect(cookie).not.toContain(id);
    expect(await inspector.ttl(key)).toBeGreaterThan(EXPIRY - 10);

    let moved = 0;
    try {
      // Redis's clock does not follow the service's: shorten the TTL as SLIDING_STEP seconds would.
      await inspector.expire(key, EXPIRY - SLIDING_STEP);
      service.advance(SLIDING_STEP);
      moved += SLIDING_STEP;
      const grantsBefore = grants.refreshGrants;
      const slid = await check(service, jar);
      expectSignedInAs(slid, 'alice');
      expect(sessionSetCookies(slid)).toEqual([]);
      expect(grants.refreshGrants).toBe(grantsBefore);
      expect(await inspector.ttl(key)).toBeGreaterThan(EXPIRY - 10);

      // Now the access token has expired: a refresh, again without a new cookie.
      await inspector.expire(key, EXPIRY - (PAST_ACCESS_TOKEN - SLIDING_STEP));
      service.advance(PAST_ACCESS_TOKEN - SLIDING_STEP);
      moved += PAST_ACCESS_TOKEN - SLIDING_STEP;
      const refreshed = await check(service, jar);
      expectSignedInAs(refreshed, 'alice');
      expect(sessionSetCookies(refreshed)).toEqual([]);
      expect(grants.refreshGrants).toBe(grantsBefore + 1);
      expect(await inspector.ttl(key)).toBeGreaterThan(EXPIRY - 10);

      // And the cookie keeps working, unchanged, on the refreshed session (no second refresh).
      const again = await check(service, jar);
      expectSignedInAs(again, 'alice');
      expect(sessionSetCookies(again)).toEqual([]);
      expect(jar.get(SESSION_COOKIE)?.value).toBe(cookie);
      expect(grants.refreshGrants).toBe(grantsBefore + 1);
    } finally {
      service.advance(-moved);
    }
  });

  it('lets the same cookie in, with its identity headers, after the service restarts with the same config and secret', async () => {
    const { jar } = await loginWithKey('bob');
    expectSignedInAs(await check(service, jar), 'bob');
    await service.stop();
    await service.start();
    const after = await check(service, jar);
    expectSignedInAs(after, 'bob');
    expect(sessionSetCookies(after)).toEqual([]);
  });

  it('spends a rotating refresh token once when two replicas on one Redis get ten requests each at the moment of expiry', async () => {
    const replica = await startRestartableService(service.config);
    let moved = 0;
    const advanceBoth = (seconds: number): void => {
      service.advance(seconds);
      replica.advance(seconds);
      moved += seconds;
    };
    try {
      const { jar } = await loginWithKey();
      const cookie = jar.cookieHeader(`${APP}/api/data`) ?? '';
      advanceBoth(PAST_ACCESS_TOKEN);
      const grantsBefore = grants.refreshGrants;
      const errorsBefore = grants.grantErrors;
      // Both replicas have loaded the expired session and want to refresh before the first refresh ends.
      const restore = slowTokenEndpoint(op.server, 500);
      let results: ForwardAuthResult[];
      try {
        results = await Promise.all(
          [service, replica].flatMap((instance) => Array.from({ length: 10 }, () => checkWithCookie(instance, cookie))),
        );
      } finally {
        restore();
      }
      expect(results.map((r) => r.status)).toEqual(Array(20).fill(200));
      for (const result of results) {
        expectSignedInAs(result, 'alice');
        expect(sessionSetCookies(result)).toEqual([]);
      }
      expect(grants.refreshGrants).toBe(grantsBefore + 1);
      expect(grants.grantErrors).toBe(errorsBefore);

      // Either replica reads the refreshed session; nobody refreshes again.
      expectSignedInAs(await checkWithCookie(replica, cookie), 'alice');
      expectSignedInAs(await checkWithCookie(service, cookie), 'alice');
      expect(grants.refreshGrants).toBe(grantsBefore + 1);

      // The next refresh spends the rotated token: were the spent one kept, the provider would see
      // it reused, revoke the grant, and this request would be refused.
      advanceBoth(PAST_ACCESS_TOKEN);
      expectSignedInAs(await checkWithCookie(replica, cookie), 'alice');
      expect(grants.refreshGrants).toBe(grantsBefore + 2);
      expectSignedInAs(await checkWithCookie(service, cookie), 'alice');
      expect(grants.refreshGrants).toBe(grantsBefore + 2);
      expect(grants.grantErrors).toBe(errorsBefore);
    } finally {
      service.advance(-moved);
      await replica.stop();
    }
  });

  it('never lets a hostile session cookie reach Redis as a key: garbage, a glob, a cookie-store session, very long values', async () => {
    const sealer = createSealer([TEST_SECRET]);
    const idPurpose = `${sessionPurpose({ name: NAME, issuer: op.issuer, clientID: TEST_CLIENT_ID })}:id`;
    const cookieSession = (await login(cookieService)).get(SESSION_COOKIE)?.value ?? '';
    expect(cookieSession.length).toBeGreaterThan(100);
    const unknownId = newSessionId();
    const hostile = [
      'garbage',
      '*',
      SESSION_KEYS,
      `ofa:v1:${NAME}:s:{${newSessionId()}}`,
      cookieSession,
      `v1.${'A'.repeat(8_000)}`,
      randomBytes(6_000).toString('base64url'),
      // Sealed for this middleware's ids with our secret, but not one of our ids.
      sealer.seal(Buffer.from('*', 'latin1'), idPurpose),
      sealer.seal(Buffer.from(`${unknownId}}:lock`, 'latin1'), idPurpose),
      sealer.seal(Buffer.from('A'.repeat(300), 'latin1'), idPurpose),
    ];
    // A well-formed id nobody created: the one value that may be looked up, under our own key.
    const unknown = sealer.seal(Buffer.from(unknownId, 'latin1'), idPurpose);

    const monitorClient = openInspector({ ...redis.endpoint });
    const monitor = await monitorClient.monitor();
    const commands: string[][] = [];
    monitor.on('monitor', (_time: unknown, args: unknown) => {
      if (Array.isArray(args)) commands.push(args.map(String));
    });
    try {
      for (const value of [...hostile, unknown]) {
        const api = await checkWithCookie(service, `${SESSION_COOKIE}=${value}`);
        expect(api.status).toBe(401);
        expect(api.forwardedHeaders).toEqual({});
        const page = await checkWithCookie(service, `${SESSION_COOKIE}=${value}`, NAVIGATION_HEADERS);
        expect(page.status).toBe(302);
        expect(page.location?.startsWith(`${op.issuer}/`)).toBe(true);
      }
      // MONITOR streams asynchronously: a marker command says everything before it has arrived.
      await inspector.echo('end-of-hostile-cookies');
      await poll(async () => commands.some((c) => c.includes('end-of-hostile-cookies')), (seen) => seen, 2_000);
    } finally {
      monitor.disconnect();
      monitorClient.disconnect();
    }
    const fromService = commands.filter((c) => !c.includes('end-of-hostile-cookies'));
    // Whatever else the service may ask (an availability check), no hostile value is in it, and the
    // only key it names is the unknown well-formed id's, read once per request.
    for (const command of fromService) {
      for (const argument of command.slice(1)) {
        for (const value of hostile) expect(argument === value || (value.length > 3 && argument.includes(value))).toBe(false);
        if (argument.startsWith('ofa:')) expect(argument).toBe(`ofa:v1:${NAME}:s:{${unknownId}}`);
      }
    }
    expect(fromService.filter((c) => c.slice(1).some((a) => a.startsWith('ofa:')))).toEqual([
      ['get', `ofa:v1:${NAME}:s:{${unknownId}}`],
      ['get', `ofa:v1:${NAME}:s:{${unknownId}}`],
    ]);
    for (const key of await scanKeys(inspector, '*')) {
      expect(key).toMatch(new RegExp(`^ofa:v1:${NAME}:(s:\\{[A-Za-z0-9_-]{22}\\}|sub:[A-Za-z0-9_-]+|sid:[A-Za-z0-9_-]+)$`));
      expect(key).not.toContain(unknownId);
    }
  });

  // Last in this describe: it stops and starts the server the others use.
  it('fails closed while Redis is down (503 with Retry-After, never a login or a cleared cookie) and lets the same cookie in when Redis is back', async () => {
    const { jar } = await loginWithKey('bob');
    expectSignedInAs(await check(service, jar), 'bob');
    const cookie = jar.cookieHeader(`${APP}/api/data`) ?? '';
    // A login that reaches its callback while Redis is down.
    const midLogin = createCookieJar();
    const started = await forwardAuth(service.authAddress(), { url: `${APP}/`, headers: NAVIGATION_HEADERS }, midLogin, TRAEFIK);
    expect(started.status).toBe(302);
    const callbackUrl = await completeLogin(started.location ?? '', { user: 'alice' });
    await redis.stop();
    try {
      // A load balancer stops sending traffic here meanwhile.
      expect(await poll(() => readinessOf(service), (status) => status === 503, 5_000)).toBe(503);
      for (const headers of [apiHeaders(), NAVIGATION_HEADERS]) {
        const refused = await checkWithCookie(service, cookie, headers);
        expect(refused.status).toBe(503);
        expect(Number(refused.headers['retry-after'])).toBeGreaterThan(0);
        expect(refused.forwardedHeaders).toEqual({});
        expect(refused.authSetCookies).toEqual([]);
      }
      // It names the dependency that is down.
      expect(JSON.parse((await checkWithCookie(service, cookie)).body)).toMatchObject({ error: 'OFA_STORE_UNAVAILABLE' });
      // Nobody is sent to log in either: the login could not be kept.
      const anonymousPage = await forwardAuth(service.authAddress(), { url: `${APP}/`, headers: NAVIGATION_HEADERS }, createCookieJar(), TRAEFIK);
      expect(anonymousPage.status).toBe(503);
      expect(Number(anonymousPage.headers['retry-after'])).toBeGreaterThan(0);
      // And a login already at the provider ends in 503 too, without a session cookie.
      const callback = await forwardAuth(service.authAddress(), { url: callbackUrl, headers: NAVIGATION_HEADERS }, midLogin, TRAEFIK);
      expect(callback.status).toBe(503);
      expect(sessionSetCookies(callback)).toEqual([]);
      const anonymousApi = await forwardAuth(service.authAddress(), { url: `${APP}/api/data`, headers: apiHeaders() }, createCookieJar(), TRAEFIK);
      expect([401, 503]).toContain(anonymousApi.status);
    } finally {
      await redis.start();
    }
    const back = await poll(
      () => checkWithCookie(service, cookie),
      (result) => result.status === 200,
      10_000,
    );
    expectSignedInAs(back, 'bob');
    expect(sessionSetCookies(back)).toEqual([]);
    expect(await readinessOf(service)).toBe(200);
  });
});

describe('sessions in a Redis Sentinel group', () => {
  const DATA_PASSWORD = 'data-pass-0123';
  const SENTINEL_PASSWORD = 'sentinel-pass-0123';
  /**
   * The stream below writes as well as reads: the service's clock moves CLOCK_STEP seconds (past
   * a tenth of SENTINEL_EXPIRY) every CLOCK_TICK_MS, so every session's next request is a sliding
   * renewal, and every ACCESS_TOKEN_TTL a refresh that rotates the refresh token. A session whose
   * renewals were all lost ends within SENTINEL_EXPIRY; one whose rotated token was lost is ended
   * by the provider at its next refresh.
   */
  const SENTINEL_EXPIRY = 400;
  const CLOCK_STEP = 41;
  const CLOCK_TICK_MS = 400;
  let group: RedisSentinelGroup;
  let service: RestartableService;

  beforeAll(async () => {
    group = await startRedisSentinelGroup({ password: DATA_PASSWORD, sentinelPassword: SENTINEL_PASSWORD });
    service = await redisService(
      makeRedisStoreConfig({
        endpoints: group.sentinelEndpoints,
        password: DATA_PASSWORD,
        sentinel: { masterSet: group.masterSet, username: undefined, password: SENTINEL_PASSWORD },
      }),
      SENTINEL_EXPIRY,
    );
  });
  afterAll(async () => {
    await service?.stop();
    await group?.destroy();
  });

  it('lets no one in wrongly and loses no session across a failover under a steady stream of requests', async () => {
    const users = ['alice', 'bob', 'alice', 'bob'];
    const sessions = await Promise.all(users.map(async (user) => ({ user, cookie: (await login(service, user)).cookieHeader(`${APP}/`) ?? '' })));
    for (const { user, cookie } of sessions) expectSignedInAs(await checkWithCookie(service, cookie), user);

    // Replication is asynchronous: the sessions must be on the replica before it takes over.
    const master = openInspector({ ...(await group.currentMaster()), password: DATA_PASSWORD });
    try {
      expect(await master.call('WAIT', '1', '1000')).toBeGreaterThanOrEqual(1);
    } finally {
      master.disconnect();
    }

    const sealer = createSealer([TEST_SECRET]);
    const forged = [
      `${SESSION_COOKIE}=forged`,
      `${SESSION_COOKIE}=${sealer.seal(Buffer.from(newSessionId(), 'latin1'), `${sessionPurpose({ name: NAME, issuer: op.issuer, clientID: TEST_CLIENT_ID })}:id`)}`,
    ];
    interface Outcome {
      readonly user: string | undefined;
      readonly status: number;
      readonly xUser: string | undefined;
      readonly xEmail: string | undefined;
    }
    const outcomes: Promise<Outcome>[] = [];
    const targets = [...sessions, ...forged.map((cookie) => ({ user: undefined, cookie }))];
    const grantsBefore = grants.refreshGrants;
    let streaming = true;
    let moved = 0;
    const clock = setInterval(() => {
      service.advance(CLOCK_STEP);
      moved += CLOCK_STEP;
    }, CLOCK_TICK_MS);
    const stream = (async () => {
      for (let i = 0; streaming; i += 1) {
        const target = targets[i % targets.length];
        if (target !== undefined) {
          outcomes.push(
            checkWithCookie(service, target.cookie).then((result) => ({
              user: target.user,
              status: result.status,
              xUser: result.upstreamHeaders['x-user'],
              xEmail: result.upstreamHeaders['x-email'],
            })),
          );
        }
        await sleep(20);
      }
    })();

    try {
      await sleep(300);
      const oldMaster = await group.currentMaster();
      const newMaster = await group.failover();
      expect(newMaster.port).not.toBe(oldMaster.port);
      await sleep(1_000);
      // Longer than a session lives without a renewal and than an access token lives: the sessions
      // let in below were renewed and refreshed (written) around the failover, not only read.
      while (moved <= Math.max(SENTINEL_EXPIRY, ACCESS_TOKEN_TTL)) await sleep(CLOCK_TICK_MS);
    } finally {
      clearInterval(clock);
      streaming = false;
      await stream;
    }
    const seen = await Promise.all(outcomes);
    expect(seen.length).toBeGreaterThan(50);
    expect(grants.refreshGrants - grantsBefore).toBeGreaterThanOrEqual(sessions.length);
    for (const outcome of seen) {
      if (outcome.user === undefined) {
        expect([401, 503]).toContain(outcome.status);
        continue;
      }
      expect([200, 503]).toContain(outcome.status);
      if (outcome.status === 200) {
        expect(outcome.xUser).toBe(outcome.user);
        expect(outcome.xEmail).toBe(emailOf(outcome.user));
      }
    }
    expect(seen.filter((o) => o.user !== undefined && o.status === 200).length).toBeGreaterThan(0);

    // Settled: every session is let in again, none lost.
    for (const { user, cookie } of sessions) {
      const back = await poll(
        () => checkWithCookie(service, cookie),
        (result) => result.status === 200,
        10_000,
      );
      expectSignedInAs(back, user);
    }
  });
});

describe('sessions in Redis with an ACL user, a database, and TLS', () => {
  let aclRedis: RedisServer;
  let tlsRedis: RedisServer;
  let pki: TestPki;

  beforeAll(async () => {
    pki = await createTestPki();
    [aclRedis, tlsRedis] = await Promise.all([
      startRedisServer({ password: 'default-user-pass', users: [{ name: 'ofa-service', password: 'ofa-service-pass' }] }),
      startRedisServer({ tls: { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey, requireClientCert: true } }),
    ]);
  });
  afterAll(async () => {
    await aclRedis?.destroy();
    await tlsRedis?.destroy();
    await pki?.cleanup();
  });

  async function expectOneLoginIn(redis: RedisStoreConfig, inspector: Redis): Promise<void> {
    const service = await redisService(redis);
    try {
      const jar = await login(service);
      expectSignedInAs(await check(service, jar), 'alice');
      expect(await scanKeys(inspector, SESSION_KEYS)).toHaveLength(1);
    } finally {
      await service.stop();
    }
  }

  it('signs in as an ACL user with its password, and keeps the session in the configured database', async () => {
    const db5 = openInspector({ ...aclRedis.endpoint, username: 'ofa-service', password: 'ofa-service-pass', db: 5 });
    const db0 = openInspector({ ...aclRedis.endpoint, username: 'ofa-service', password: 'ofa-service-pass', db: 0 });
    try {
      await expectOneLoginIn(
        makeRedisStoreConfig({ endpoints: [aclRedis.address], username: 'ofa-service', password: 'ofa-service-pass', database: 5 }),
        db5,
      );
      expect(await scanKeys(db0, '*')).toEqual([]);
    } finally {
      db5.disconnect();
      db0.disconnect();
    }
  });

  it('talks TLS to a server with a private CA that demands a client certificate', async () => {
    const tls = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey };
    const inspector = openInspector({ ...tlsRedis.endpoint, tls });
    try {
      await expectOneLoginIn(
        makeRedisStoreConfig({
          endpoints: [tlsRedis.address],
          tls: { caBundle: pki.ca, cert: pki.clientCert, key: pki.clientKey, insecureSkipVerify: false },
        }),
        inspector,
      );
    } finally {
      inspector.disconnect();
    }
  });
});
