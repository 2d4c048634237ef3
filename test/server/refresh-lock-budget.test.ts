/**
 * The Redis store the service builds holds its refresh lock for as long as the provider's token
 * call may take with every retry (timeout × attempts, with the waits between them, plus a margin),
 * not a fixed time that a slow provider with retries outlasts.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSessionStores } from '../../src/server/session-stores.js';
import { createRevocationHub } from '../../src/session/revocation-hub.js';
import { createSealer } from '../../src/session/seal.js';
import { newSessionId, type Session } from '../../src/session/session.js';
import { createTestLogger } from '../support/log.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { makeRedisStoreConfig } from '../support/redis-service.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { TEST_SECRET } from '../support/service.js';

const now = 1_700_000_000;

let server: RedisServer;
let admin: Redis;
beforeAll(async () => {
  server = await startRedisServer();
  admin = new Redis({ ...server.endpoint, lazyConnect: true });
  await admin.connect();
});
afterAll(async () => {
  admin?.disconnect();
  await server?.destroy();
});

function sampleSession(): Session {
  return {
    v: 1,
    id: newSessionId(),
    issuer: 'https://id.example',
    subject: 'alice',
    idClaims: { iss: 'https://id.example', sub: 'alice' },
    refreshToken: 'refresh-token',
    accessTokenExpiresAt: now,
    createdAt: now,
    renewedAt: now,
    expiresAt: now + 3600,
  };
}

describe('the refresh lock of the service’s Redis store', () => {
  it.each([
    // 20 s × 4 attempts and 3 waits between them: well past the old fixed 30 s.
    [{ timeoutSeconds: 20, maxRetries: 3 }, 20 * 4],
    [{ timeoutSeconds: 2, maxRetries: 0 }, 2],
  ])('outlasts the provider’s whole call (%o)', async (clientConfig, callSeconds) => {
    const stores = createSessionStores({ sealer: createSealer([TEST_SECRET]), log: createTestLogger('info').log, revocations: createRevocationHub() });
    try {
      const middleware = makeMiddlewareConfig({
        name: `lock-${callSeconds}`,
        clientConfig,
        session: { ...makeMiddlewareConfig().session, store: { redis: makeRedisStoreConfig({ endpoints: [server.address] }) } },
      });
      const store = stores.storeFor(middleware);
      const session = sampleSession();
      await store.create(session, now);
      let lockMs = 0;
      const outcome = await store.refresh(session, now, async (current) => {
        const [lockKey] = await admin.keys(`*{${session.id}}:lock`);
        lockMs = await admin.pttl(lockKey as string);
        return { ok: true, session: { ...current, refreshToken: 'rotated', accessTokenExpiresAt: now + 300 } };
      });
      expect(outcome.ok).toBe(true);
      expect(lockMs).toBeGreaterThan(callSeconds * 1000);
      // Not unbounded either: a replica that dies holding it blocks refreshes that long.
      expect(lockMs).toBeLessThanOrEqual((callSeconds + 2 * clientConfig.maxRetries + 1 + 5) * 1000);
    } finally {
      await stores.close();
    }
  });
});
