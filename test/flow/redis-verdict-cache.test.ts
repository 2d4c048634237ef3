/**
 * Two replicas of the service on one Redis, each answering a signed-in cookie from its verdict
 * cache: a logout or a back-channel logout on one is refused on the other once the revocation's
 * announcement arrives, without either reading Redis for every request before. Real redis-server,
 * real provider.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS, type ForwardAuthResult } from '../support/forward-auth-client.js';
import { startTestProvider, TEST_APP_ORIGIN, type DevProvider } from '../support/op.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { makeRedisMiddlewareConfig, makeRedisStoreConfig, makeServiceConfig, startRestartableService, type RestartableService } from '../support/redis-service.js';

const APP = TEST_APP_ORIGIN;
const NAME = 'test';
const API = { accept: 'application/json' };

describe('a signed-in answer cached by a replica on a shared Redis', () => {
  let op: DevProvider;
  let redis: RedisServer;
  let a: RestartableService;
  let b: RestartableService;

  beforeAll(async () => {
    op = await startTestProvider();
    redis = await startRedisServer();
    const config = makeServiceConfig([
      makeRedisMiddlewareConfig(makeRedisStoreConfig({ endpoints: [redis.address] }), { name: NAME, issuer: op.issuer, logoutUrl: '/logout', forwardHeaders: { 'X-User': 'sub' } }),
    ]);
    a = await startRestartableService(config);
    b = await startRestartableService(config);
  });
  afterAll(async () => {
    await a?.stop();
    await b?.stop();
    await redis?.destroy();
    await op?.stop();
  });

  const checkWith = (replica: RestartableService, cookie: string): Promise<ForwardAuthResult> =>
    forwardAuth(replica.authAddress(), { url: `${APP}/api`, headers: { ...API, cookie } }, createCookieJar());
  const cachedBytes = (replica: RestartableService): number => replica.app.middlewares.get(NAME)?.verdicts.bytes ?? -1;

  /** The replica's subscription to revocations is in place (its store vouches for its cache). */
  async function subscribed(replica: RestartableService): Promise<void> {
    for (let attempt = 0; attempt < 500; attempt += 1) {
      if (replica.app.middlewares.get(NAME)?.store.verdictEpoch?.() !== undefined) return;
      await sleep(10);
    }
    throw new Error('the replica never subscribed to revocations');
  }

  it('refuses on replica B a cookie that a logout on replica A ended, though B had it cached', async () => {
    await Promise.all([subscribed(a), subscribed(b)]);
    const login = await browserLogin({ authAddress: a.authAddress(), url: `${APP}/`, user: 'alice' });
    expect(login.final.status).toBe(200);
    const stolen = login.jar.cookieHeader(`${APP}/`) ?? '';
    for (let i = 0; i < 3; i += 1) expect((await checkWith(b, stolen)).status).toBe(200);
    expect(cachedBytes(b)).toBeGreaterThan(0);

    expect((await forwardAuth(a.authAddress(), { url: `${APP}/logout`, headers: NAVIGATION_HEADERS }, login.jar)).status).toBe(302);
    // The announcement crosses Redis: B refuses once it arrives, and never answers 200 again.
    let status = 200;
    for (let attempt = 0; attempt < 500 && status === 200; attempt += 1) {
      status = (await checkWith(b, stolen)).status;
      if (status === 200) await sleep(5);
    }
    expect(status).toBe(401);
    expect((await checkWith(b, stolen)).status).toBe(401);
    expect((await checkWith(a, stolen)).status).toBe(401);
  });
});
