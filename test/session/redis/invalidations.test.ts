/**
 * Revocations announced between replicas sharing one Redis, which lets each keep signed-in answers
 * in its verdict cache: real redis-server (single node and Cluster), two stores as two replicas.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RedisStoreConfig } from '../../../src/config/types.js';
import { createRedisConnection } from '../../../src/session/redis/connection.js';
import { createRedisSessionStore } from '../../../src/session/redis/store.js';
import { createSealer } from '../../../src/session/seal.js';
import type { SessionStore } from '../../../src/session/store.js';
import { createTestLogger } from '../../support/log.js';
import { makeRedisStoreConfig } from '../../support/redis-service.js';
import { startRedisCluster, startRedisServer, type RedisCluster, type RedisServer } from '../../support/redis.js';
import { SECRET, sampleSession } from '../fixtures.js';

const NOW = 1_700_000_100;
const logger = createTestLogger('debug');

/** A user and provider login of its own: an earlier test's revocation markers must not end it at create. */
function freshSession() {
  const tag = randomBytes(4).toString('hex');
  return sampleSession({ subject: `user-${tag}`, providerSid: `sid-${tag}` });
}

async function replicaOn(config: RedisStoreConfig, prefix: string): Promise<SessionStore> {
  const client = createRedisConnection(config, { log: logger.log });
  if (client.status !== 'ready') await once(client, 'ready');
  return createRedisSessionStore({
    client,
    ownsClient: true,
    sealer: createSealer([SECRET]),
    purpose: 'session:app',
    keyPrefix: prefix,
    sessionLifetimeSeconds: 86_400,
    log: logger.log,
  });
}

/** Polls (the message crosses a connection) until `check` holds; fails after a generous bound. */
async function eventually(what: string, check: () => boolean): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt += 1) {
    if (check()) return;
    await sleep(10);
  }
  throw new Error(`never: ${what}`);
}

function describeInvalidations(topology: string, config: () => RedisStoreConfig): void {
  describe(`revocations announced between replicas (${topology})`, () => {
    let a: SessionStore;
    let b: SessionStore;

    beforeAll(async () => {
      const prefix = `ofa:v1:inv-${randomBytes(6).toString('hex')}:`;
      a = await replicaOn(config(), prefix);
      b = await replicaOn(config(), prefix);
      await eventually('both replicas subscribed', () => a.verdictEpoch?.() !== undefined && b.verdictEpoch?.() !== undefined);
    });
    afterAll(async () => {
      await a?.close();
      await b?.close();
    });

    for (const [what, revoke] of [
      ['a logout', async (store: SessionStore, session: ReturnType<typeof sampleSession>) => store.revoke(session, NOW)],
      ['a back-channel logout by sid', async (store: SessionStore, session: ReturnType<typeof sampleSession>) => store.revokeProviderSession(session.issuer, session.providerSid ?? '', NOW)],
      ['a back-channel logout by sub', async (store: SessionStore, session: ReturnType<typeof sampleSession>) => store.revokeSubject(session.issuer, session.subject, NOW)],
    ] as const) {
      it(`moves the other replica’s epoch after ${what} on one, and this replica’s at once`, async () => {
        const session = freshSession();
        await a.create(session, NOW);
        const before = { a: a.verdictEpoch?.(), b: b.verdictEpoch?.() };
        await revoke(a, session);
        expect(a.verdictEpoch?.()).not.toBe(before.a);
        await eventually('replica B heard of it', () => b.verdictEpoch?.() !== before.b);
      });
    }

    it('does not move the other replica’s epoch for a sliding save', async () => {
      const session = freshSession();
      await a.create(session, NOW);
      const before = b.verdictEpoch?.();
      await a.save({ ...session, renewedAt: NOW + 100, expiresAt: NOW + 86_500 }, NOW + 100);
      // Something that does announce, sent after: once B has heard it, the save would have arrived too.
      await a.revoke(freshSession(), NOW);
      await eventually('replica B heard the later revocation', () => b.verdictEpoch?.() !== before);
      expect(b.verdictEpoch?.()).toBe((before ?? 0) + 1);
    });
  });
}

let server: RedisServer;
let cluster: RedisCluster;
beforeAll(async () => {
  server = await startRedisServer();
  cluster = await startRedisCluster();
});
afterAll(async () => {
  await server?.destroy();
  await cluster?.destroy();
});

describeInvalidations('single node', () => makeRedisStoreConfig({ endpoints: [server.address] }));
describeInvalidations('cluster', () => makeRedisStoreConfig({ endpoints: cluster.endpoints, cluster: true }));

describe('a replica whose revocation channel drops', () => {
  it('caches nothing until it has subscribed again, and then under a new epoch', async () => {
    const prefix = `ofa:v1:inv-${randomBytes(6).toString('hex')}:`;
    const store = await replicaOn(makeRedisStoreConfig({ endpoints: [server.address] }), prefix);
    const admin = new Redis({ ...server.endpoint });
    try {
      await eventually('subscribed', () => store.verdictEpoch?.() !== undefined);
      const before = store.verdictEpoch?.();
      // Redis closes every subscriber connection: messages sent meanwhile would be lost.
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await eventually('the store stops vouching for its cache', () => store.verdictEpoch?.() === undefined);
      await eventually('subscribed again', () => store.verdictEpoch?.() !== undefined);
      expect(store.verdictEpoch?.()).not.toBe(before);
    } finally {
      admin.disconnect();
      await store.close();
    }
  });
});
