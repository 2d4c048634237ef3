import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RedisStoreConfig } from '../../../src/config/types.js';
import { isOfaError } from '../../../src/errors.js';
import { closeRedisConnection, createRedisConnection } from '../../../src/session/redis/connection.js';
import { createRedisSessionStore } from '../../../src/session/redis/store.js';
import type { RedisSessionStoreOptions } from '../../../src/session/redis/store-options.js';
import { createSealer } from '../../../src/session/seal.js';
import { sealSession } from '../../../src/session/sealed-session.js';
import type { Session } from '../../../src/session/session.js';
import type { RefreshAttempt, SessionStore } from '../../../src/session/store.js';
import { createTestLogger } from '../../support/log.js';
import { makeRedisStoreConfig } from '../../support/redis-service.js';
import {
  startRedisCluster,
  startRedisSentinelGroup,
  startRedisServer,
  type RedisCluster,
  type RedisSentinelGroup,
  type RedisServer,
} from '../../support/redis.js';
import { describeSessionStoreContract } from '../store-contract.js';
import { SECRET, sampleSession } from '../fixtures.js';

const now = 1_700_000_100;
const PURPOSE = 'session:app';
const sealer = createSealer([SECRET]);
const logger = createTestLogger('debug');

/** A fresh prefix per test: tests never see each other's keys, two stores of one test share theirs. */
let prefix = '';
beforeEach(() => {
  prefix = `ofa:v1:test-${randomBytes(6).toString('hex')}:`;
});

const sessionKey = (id: string): string => `${prefix}s:{${id}}`;

function redisConfig(endpoints: readonly string[], overrides: Partial<RedisStoreConfig> = {}): RedisStoreConfig {
  return makeRedisStoreConfig({ endpoints, ...overrides });
}

/**
 * A store on its own, ready connection: a Cluster connection has no offline queue (see
 * session/redis/connection.ts), so a command sent before it is ready fails at once.
 */
type StoreTuning = Partial<Pick<RedisSessionStoreOptions, 'sessionLifetimeSeconds' | 'refreshLockSeconds' | 'replicaAckTimeoutMs' | 'revocationMarkerSeconds' | 'codecVersion'>>;

async function storeOn(config: RedisStoreConfig, options: StoreTuning = {}): Promise<SessionStore> {
  const client = createRedisConnection(config, { log: logger.log });
  if (client.status !== 'ready') await once(client, 'ready');
  return createRedisSessionStore({
    client,
    ownsClient: true,
    sealer,
    purpose: PURPOSE,
    keyPrefix: prefix,
    sessionLifetimeSeconds: 86_400,
    log: logger.log,
    ...options,
  });
}

const rotated = (session: Session, suffix: string): RefreshAttempt => ({
  ok: true,
  session: { ...session, refreshToken: `rotated-${suffix}`, accessTokenExpiresAt: (session.accessTokenExpiresAt ?? now) + 300 },
});

/** A promise to open by hand, and one that says when the code under test reached it. */
function gate(): { reached: Promise<void>; wait: () => Promise<void>; open: () => void } {
  let reach!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((resolve) => (reach = resolve));
  const opened = new Promise<void>((resolve) => (open = resolve));
  return {
    reached,
    wait: () => {
      reach();
      return opened;
    },
    open,
  };
}

async function eventually(what: string, condition: () => Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 10_000; !(await condition()); await sleep(20)) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen`);
  }
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection');
}

describe('createRedisSessionStore on one server', () => {
  let server: RedisServer;
  let admin: Redis;
  const stores: SessionStore[] = [];
  const open = async (): Promise<SessionStore> => {
    const store = await storeOn(redisConfig([server.address]));
    stores.push(store);
    return store;
  };

  beforeAll(async () => {
    server = await startRedisServer();
    admin = new Redis({ ...server.endpoint, lazyConnect: true });
    await admin.connect();
  });
  afterAll(async () => {
    await Promise.all(stores.splice(0).map((store) => store.close()));
    admin.disconnect();
    await server.destroy();
  });

  describeSessionStoreContract('redis store (single)', () => storeOn(redisConfig([server.address])), { sharedBetweenInstances: true });

  it('keeps the same cookie value through a save and a refresh', async () => {
    const store = await open();
    const session = sampleSession();
    const value = await store.create(session, now);
    expect(await store.save({ ...session, renewedAt: now + 60, expiresAt: now + 60 + 86_400 }, now + 60)).toBeUndefined();
    const outcome = await store.refresh(session, now + 60, async (current) => rotated(current, 'r'));
    expect(outcome.ok && outcome.cookieValue).toBeUndefined();
    const loaded = await store.load(value, now + 60);
    expect(loaded?.session.refreshToken).toBe('rotated-r');
    expect(loaded?.session.expiresAt).toBe(now + 60 + 86_400);
  });

  it('writes the codec version it is given on create, save and refresh, and reads what a replica on the other version wrote', async () => {
    const stepOne = await storeOn(redisConfig([server.address]), { codecVersion: 1 });
    const stepTwo = await open();
    stores.push(stepOne);
    const codecOf = async (id: string): Promise<number | undefined> => sealer.open((await admin.get(sessionKey(id))) ?? '', PURPOSE)?.[0];
    const session = sampleSession();
    const value = await stepOne.create(session, now);
    expect(await codecOf(session.id)).toBe(1);
    expect((await stepTwo.load(value, now))?.session).toEqual(session);
    await stepTwo.save({ ...session, renewedAt: now + 60 }, now + 60);
    expect(await codecOf(session.id)).toBe(2);
    expect((await stepOne.load(value, now + 60))?.session.renewedAt).toBe(now + 60);
    const outcome = await stepOne.refresh(session, now + 70, async (current) => rotated(current, 'one'));
    expect(outcome.ok).toBe(true);
    expect(await codecOf(session.id)).toBe(1);
    expect((await stepTwo.load(value, now + 70))?.session.refreshToken).toBe('rotated-one');
  });

  it('opens an unchanged stored session once, yet sees another replica’s change or deletion on the very next load', async () => {
    const replica = await open();
    const other = await open();
    const session = sampleSession();
    const value = await other.create(session, now);
    const first = await replica.load(value, now);
    const again = await replica.load(value, now);
    // The same bytes in Redis: the same frozen session object, not a second decryption.
    expect(again?.session).toBe(first?.session);

    const outcome = await other.refresh(session, now + 10, async (current) => rotated(current, 'elsewhere'));
    expect(outcome.ok).toBe(true);
    const changed = await replica.load(value, now + 10);
    expect(changed?.session.refreshToken).toBe('rotated-elsewhere');
    expect(changed?.session).not.toBe(first?.session);

    const raw = await admin.get(sessionKey(session.id));
    await other.revoke(changed?.session as Session, now + 20);
    expect(await replica.load(value, now + 20)).toBeUndefined();
    // Written back by hand (a restored backup): read, opened and served again.
    await admin.set(sessionKey(session.id), raw as string, 'EX', 3600);
    expect((await replica.load(value, now + 30))?.session.refreshToken).toBe('rotated-elsewhere');
  });

  it('keeps the session sealed in Redis and only a sealed id in the cookie', async () => {
    const store = await open();
    const session = sampleSession();
    const value = await store.create(session, now);
    const stored = await admin.get(sessionKey(session.id));
    expect(stored?.startsWith('v1.')).toBe(true);
    for (const secret of ['refresh-token-value', 'a@example.com', 'user-1', session.idToken ?? '']) {
      expect(stored).not.toContain(secret);
      expect(value).not.toContain(secret);
    }
    expect(value).not.toContain(session.id);
    expect(value.length).toBeLessThan(100);
  });

  it('never lets a hostile cookie value reach Redis', async () => {
    const client = createRedisConnection(redisConfig([server.address]), { log: logger.log });
    const store = createRedisSessionStore({ client, sealer, purpose: PURPOSE, keyPrefix: prefix, sessionLifetimeSeconds: 86_400 });
    try {
      const session = sampleSession();
      const genuine = await store.create(session, now);
      const foreignSealer = createSealer(['some-other-secret-some-other-secret-0']);
      const sealedId = (id: string, purpose = `${PURPOSE}:id`): string => sealer.seal(Buffer.from(id, 'latin1'), purpose);
      const hostile = [
        '',
        '*',
        '{x}',
        'garbage',
        'x'.repeat(10_000),
        genuine.slice(0, -1),
        `${genuine}A`,
        sealedId(session.id, PURPOSE),
        sealedId(session.id, 'session:other:id'),
        foreignSealer.seal(Buffer.from(session.id), `${PURPOSE}:id`),
        sealSession(sealer, session, PURPOSE).value,
        sealedId('*'),
        sealedId('{x}'),
        sealedId(`${session.id}x`),
        sealedId(session.id.slice(1)),
        sealedId(`${session.id.slice(1)}*`),
        sealedId(`${session.id.slice(1)}\n`),
        sealedId(`${session.id.slice(0, 10)}}{${session.id.slice(12)}`),
        sealedId(''),
      ];
      await client.ping();

      const monitor = await admin.monitor();
      const seen: string[][] = [];
      const waiting = new Map<string, () => void>();
      monitor.on('monitor', (_time: string, args: string[]) => {
        const marked = args[0]?.toLowerCase() === 'echo' ? waiting.get(args[1] ?? '') : undefined;
        if (marked !== undefined) marked();
        else seen.push(args);
      });
      /** Everything the store sent before this returns has reached MONITOR: one connection keeps order. */
      const flush = async (): Promise<void> => {
        const marker = `marker-${randomBytes(4).toString('hex')}`;
        const arrived = new Promise<void>((resolve) => waiting.set(marker, resolve));
        await client.echo(marker);
        await arrived;
      };
      try {
        for (const value of hostile) expect(await store.load(value, now)).toBeUndefined();
        await flush();
        expect(seen).toEqual([]);
        // The same connection, watched the same way, does show a genuine load.
        expect((await store.load(genuine, now))?.session.id).toBe(session.id);
        await flush();
        expect(seen).toEqual([['get', sessionKey(session.id)]]);
      } finally {
        monitor.disconnect();
      }
    } finally {
      await closeRedisConnection(client);
    }
  });

  it('counts its own SET, sent again after a dropped connection, as its own (a login, the refresh lock, a logout token)', async () => {
    const client = createRedisConnection(redisConfig([server.address]), { log: logger.log });
    type AnyCall = (...args: unknown[]) => Promise<unknown>;
    // What ioredis does when a connection drops after Redis ran a command but before the reply came.
    const resending = new Proxy(client, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (property !== 'set' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: unknown[]) => {
          await (value as AnyCall).apply(target, args);
          return (value as AnyCall).apply(target, args);
        };
      },
    });
    const store = createRedisSessionStore({ client: resending, sealer, purpose: PURPOSE, keyPrefix: prefix, sessionLifetimeSeconds: 86_400 });
    try {
      const session = sampleSession();
      const value = await store.create(session, now);
      expect((await store.load(value, now))?.session).toEqual(session);
      const outcome = await store.refresh(session, now, async (current) => rotated(current, 'resent'));
      expect(outcome.ok && outcome.session.refreshToken).toBe('rotated-resent');
      expect(await store.recordLogoutToken('https://idp.example', 'jti-resent', now + 60, now)).toBe(true);
      expect(await store.recordLogoutToken('https://idp.example', 'jti-resent', now + 60, now)).toBe(false);
    } finally {
      await closeRedisConnection(client);
    }
  });

  it('sets the session key to expire with the session, on create and on every save', async () => {
    const store = await open();
    const session = sampleSession({ expiresAt: now + 3600 });
    await store.create(session, now);
    const created = await admin.ttl(sessionKey(session.id));
    expect(created).toBeGreaterThanOrEqual(3599);
    expect(created).toBeLessThanOrEqual(3600);
    await store.save({ ...session, renewedAt: now + 60, expiresAt: now + 60 + 7200 }, now + 60);
    const saved = await admin.ttl(sessionKey(session.id));
    expect(saved).toBeGreaterThanOrEqual(7199);
    expect(saved).toBeLessThanOrEqual(7200);
  });

  it('keeps the provider-sid and subject indexes alive as long as a session that slides past the lifetime', async () => {
    const short = await storeOn(redisConfig([server.address]), { sessionLifetimeSeconds: 100 });
    stores.push(short);
    const session = sampleSession({ expiresAt: now + 100 });
    const value = await short.create(session, now);
    await short.save({ ...session, renewedAt: now + 90, expiresAt: now + 90 + 5000 }, now + 90);
    const indexTtls = await Promise.all(
      (await admin.keys(`${prefix}si[d]:*`)).concat(await admin.keys(`${prefix}su[b]:*`)).map((key) => admin.ttl(key)),
    );
    expect(indexTtls).toHaveLength(2);
    for (const ttl of indexTtls) expect(ttl).toBeGreaterThanOrEqual(4999);
    await short.revokeProviderSession('https://idp.example', 'sid-1', now + 4000);
    expect(await short.load(value, now + 4000)).toBeUndefined();
  });

  it('does not let a sliding save that read the session before a refresh put the spent refresh token back', async () => {
    const store = await open();
    const session = sampleSession();
    const value = await store.create(session, now);
    const loadedBefore = (await store.load(value, now))?.session;
    if (loadedBefore === undefined) throw new Error('session not loaded');
    await store.refresh(session, now, async (current) => rotated(current, 'new'));
    await store.save({ ...loadedBefore, renewedAt: now + 60, expiresAt: now + 60 + 86_400 }, now + 60);
    const after = (await store.load(value, now + 60))?.session;
    expect(after?.refreshToken).toBe('rotated-new');
    expect(after?.expiresAt).toBe(now + 60 + 86_400);
  });

  it('calls the provider once when two replicas refresh together and the refresh outlasts several polls', async () => {
    const [replicaA, replicaB, replicaC] = await Promise.all([open(), open(), open()]);
    const session = sampleSession();
    const value = await replicaA.create(session, now);
    let attempts = 0;
    const slow = async (current: Session): Promise<RefreshAttempt> => {
      attempts += 1;
      await sleep(400);
      return rotated(current, 'slow');
    };
    const [a, b] = await Promise.all([replicaA.refresh(session, now, slow), replicaB.refresh(session, now, slow)]);
    expect(attempts).toBe(1);
    expect(a.ok && a.session.refreshToken).toBe('rotated-slow');
    expect(b.ok && b.session.refreshToken).toBe('rotated-slow');
    // A third replica, still holding the pre-refresh session, is handed the stored result.
    const late = await replicaC.refresh(session, now + 1, slow);
    expect(attempts).toBe(1);
    expect(late.ok && late.session.refreshToken).toBe('rotated-slow');
    expect((await replicaC.load(value, now + 1))?.session.refreshToken).toBe('rotated-slow');
  });

  it('lets a refresh that outlived its lock neither release the lock another replica took since nor write over the session', async () => {
    const replicaA = await storeOn(redisConfig([server.address]), { refreshLockSeconds: 0.2 });
    stores.push(replicaA);
    const replicaB = await open();
    const session = sampleSession();
    const value = await replicaA.create(session, now);
    const lock = `${prefix}s:{${session.id}}:lock`;
    const providerA = gate();
    const refreshA = replicaA.refresh(session, now, async (current) => {
      await providerA.wait();
      return rotated(current, 'a');
    });
    await providerA.reached;
    // A's provider call outlasts A's lock; B finds the session due and takes the lock.
    await eventually('the lock of replica A expiring', async () => (await admin.exists(lock)) === 0);
    const providerB = gate();
    const refreshB = replicaB.refresh(session, now, async (current) => {
      await providerB.wait();
      return rotated(current, 'b');
    });
    await providerB.reached;
    const lockOfB = await admin.get(lock);
    expect(lockOfB).not.toBeNull();

    providerA.open();
    expect(await refreshA).toEqual({ ok: false, code: 'REFRESH_LOCK_LOST', transient: true });
    expect(await admin.get(lock)).toBe(lockOfB);
    expect((await replicaA.load(value, now))?.session.refreshToken).toBe('refresh-token-value');

    providerB.open();
    const outcomeB = await refreshB;
    expect(outcomeB.ok && outcomeB.session.refreshToken).toBe('rotated-b');
    expect((await replicaA.load(value, now))?.session.refreshToken).toBe('rotated-b');
    expect(await admin.exists(lock)).toBe(0);
  });

  it('ends a login stored between a subject revocation’s index read and its deletes, if it was created before the cutoff', async () => {
    const replicaB = await open();
    const session = sampleSession({ subject: 'user-race', providerSid: 'sid-race-1' });
    const createdAfter = sampleSession({ subject: 'user-race', providerSid: 'sid-race-2', createdAt: now + 6, renewedAt: now + 6 });
    let racing: Promise<[string, string]> | undefined;
    const client = createRedisConnection(redisConfig([server.address]), { log: logger.log });
    // Replica A's revocation reads the index; replica B's callbacks store their logins right then.
    const revoking = new Proxy(client, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (property !== 'zrangebyscore' || typeof value !== 'function') return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: unknown[]) => {
          const listed: unknown = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          racing ??= Promise.all([replicaB.create(session, now), replicaB.create(createdAfter, now + 6)]);
          await racing;
          return listed;
        };
      },
    });
    const replicaA = createRedisSessionStore({ client: revoking, sealer, purpose: PURPOSE, keyPrefix: prefix, sessionLifetimeSeconds: 86_400 });
    try {
      await replicaA.revokeSubject('https://idp.example', 'user-race', now + 5);
      const [value, laterValue] = (await racing) ?? ['', ''];
      expect(await replicaB.load(value, now + 6)).toBeUndefined();
      expect((await replicaB.load(laterValue, now + 6))?.session.id).toBe(createdAfter.id);
    } finally {
      await closeRedisConnection(client);
    }
  });

  it('ends a login whose provider session a back-channel logout ended before its callback stored it', async () => {
    const store = await open();
    await store.revokeProviderSession('https://idp.example', 'sid-ended-early', now);
    const ended = await store.create(sampleSession({ providerSid: 'sid-ended-early' }), now + 1);
    const otherLogin = await store.create(sampleSession({ providerSid: 'sid-still-on' }), now + 1);
    expect(await store.load(ended, now + 1)).toBeUndefined();
    expect(await store.load(otherLogin, now + 1)).toBeDefined();
  });

  it('ends a login created before a subject’s cutoff though stored after the revocation, and keeps a later one', async () => {
    const store = await open();
    await store.revokeSubject('https://idp.example', 'user-late', now + 5.25);
    const before = await store.create(sampleSession({ subject: 'user-late', createdAt: now + 5, createdAtMs: (now + 5) * 1000 + 250 }), now + 6);
    const after = await store.create(sampleSession({ subject: 'user-late', createdAt: now + 5, createdAtMs: (now + 5) * 1000 + 251 }), now + 6);
    expect(await store.load(before, now + 6)).toBeUndefined();
    expect(await store.load(after, now + 6)).toBeDefined();
  });

  it('keeps its revocation markers longer than a callback and an authorization code may take', async () => {
    const store = await open();
    await store.revokeProviderSession('https://idp.example', 'sid-marked', now);
    await store.revokeSubject('https://idp.example', 'user-marked', now);
    const markers = [...(await admin.keys(`${prefix}sid-ended:*`)), ...(await admin.keys(`${prefix}sub-cutoff:*`))];
    expect(markers).toHaveLength(2);
    // Ten minutes: the longest an authorization code should live, and far past CALLBACK_DEADLINE_MS.
    for (const marker of markers) expect(await admin.ttl(marker)).toBeGreaterThanOrEqual(600);
  });

  it('drops ids of sessions that are gone from the subject index as new logins come', async () => {
    const store = await open();
    const subject = 'user-prune';
    const old = [sampleSession({ subject }), sampleSession({ subject }), sampleSession({ subject })];
    for (const session of old) await store.create(session, now);
    const kept = old[1] as Session;
    // Two of them expire (their keys go, as Redis lets them go).
    await admin.del(sessionKey((old[0] as Session).id), sessionKey((old[2] as Session).id));
    const fresh = sampleSession({ subject });
    await store.create(fresh, now);
    const [index] = await admin.keys(`${prefix}su[b]:*`);
    expect((await admin.zrange(index as string, '0', '-1')).sort()).toEqual([kept.id, fresh.id].sort());
  });

  it('tells a replica that waited for a refresh which then failed to try again later', async () => {
    const [holder, waiter] = await Promise.all([open(), open()]);
    const session = sampleSession();
    await holder.create(session, now);
    const failing = async (): Promise<RefreshAttempt> => {
      await sleep(200);
      return { ok: false, code: 'OFA_REFRESH_FAILED', transient: false };
    };
    const first = holder.refresh(session, now, failing);
    await sleep(50);
    const waited = await waiter.refresh(session, now, async () => {
      throw new Error('the waiter must not call the provider');
    });
    expect(await first).toEqual({ ok: false, code: 'OFA_REFRESH_FAILED', transient: false });
    expect(waited).toEqual({ ok: false, code: 'REFRESHING_ELSEWHERE', transient: true });
  });

  it('ends the refresh of a revoked session without calling the provider', async () => {
    const store = await open();
    const session = sampleSession();
    await store.create(session, now);
    await store.revoke(session, now);
    let attempts = 0;
    const outcome = await store.refresh(session, now, async (current) => {
      attempts += 1;
      return rotated(current, 'x');
    });
    expect(outcome).toEqual({ ok: false, code: 'SESSION_ENDED', transient: false });
    expect(attempts).toBe(0);
  });

  it('refuses with OFA_STORE_UNAVAILABLE within seconds while Redis is down, and serves the same sessions once it is back', async () => {
    const own = await startRedisServer();
    try {
      const store = await storeOn(redisConfig([own.address]));
      stores.push(store);
      const session = sampleSession();
      const value = await store.create(session, now);
      await own.stop();

      const timed = async (what: string, call: () => Promise<unknown>): Promise<{ what: string; error: unknown; ms: number }> => {
        const started = Date.now();
        const error = await rejection(call());
        return { what, error, ms: Date.now() - started };
      };
      const results = await Promise.all([
        timed('load', () => store.load(value, now)),
        timed('create', () => store.create(sampleSession(), now)),
        timed('save', () => store.save({ ...session, renewedAt: now + 1 }, now + 1)),
        timed('revoke', () => store.revoke(sampleSession(), now)),
        timed('revokeProviderSession', () => store.revokeProviderSession('https://idp.example', 'sid-x', now)),
        timed('revokeSubject', () => store.revokeSubject('https://idp.example', 'user-x', now)),
        timed('refresh', () => store.refresh(session, now, async (current) => rotated(current, 'down'))),
        timed('recordLogoutToken', () => store.recordLogoutToken('https://idp.example', 'jti-down', now + 60, now)),
      ]);
      for (const { what, error, ms } of results) {
        expect(isOfaError(error) && error.code, what).toBe('OFA_STORE_UNAVAILABLE');
        expect(ms, what).toBeLessThan(5_000);
        const message = error instanceof Error ? `${error.message} ${String(error.cause)}` : '';
        expect(message).not.toContain(value);
        expect(message).not.toContain(session.id);
      }

      await own.start();
      let loaded: Session | undefined;
      for (const deadline = Date.now() + 15_000; loaded === undefined && Date.now() < deadline; ) {
        try {
          loaded = (await store.load(value, now))?.session;
          // Back, and answering: the session must be there (never a silent miss).
          expect(loaded).toBeDefined();
        } catch (error) {
          if (!isOfaError(error) || error.code !== 'OFA_STORE_UNAVAILABLE') throw error;
          await sleep(200);
        }
      }
      expect(loaded).toEqual(session);
      const logged = logger.text();
      for (const secret of [value, session.id, 'refresh-token-value']) expect(logged).not.toContain(secret);
    } finally {
      await own.destroy();
    }
  });

});

describe('createRedisSessionStore on a Cluster of three masters', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3 });
  });
  afterAll(async () => {
    await cluster.destroy();
  });

  describeSessionStoreContract('redis store (cluster)', () => storeOn(redisConfig(cluster.endpoints, { cluster: true })), {
    sharedBetweenInstances: true,
  });
});

describe('createRedisSessionStore through Sentinel', () => {
  let group: RedisSentinelGroup;
  const sentinelConfig = (): RedisStoreConfig =>
    redisConfig(group.sentinelEndpoints, { sentinel: { masterSet: group.masterSet, username: undefined, password: undefined } });
  beforeAll(async () => {
    group = await startRedisSentinelGroup();
  });
  afterAll(async () => {
    await group.destroy();
  });

  describeSessionStoreContract('redis store (sentinel)', () => storeOn(sentinelConfig()), { sharedBetweenInstances: true });

  it('reads sessions while a write waits for a replica that does not answer (WAIT has a connection of its own)', async () => {
    const store = await storeOn(sentinelConfig(), { replicaAckTimeoutMs: 30_000 });
    const master = await group.currentMaster();
    const replica = group.servers.find((server) => server.endpoint.port !== master.port);
    if (replica === undefined) throw new Error('the group has no replica');
    const admin = new Redis({ ...master, lazyConnect: true });
    await admin.connect();
    const waitPending = async (): Promise<boolean> => String(await admin.client('LIST')).includes('cmd=wait');
    try {
      const session = sampleSession();
      const value = await store.create(session, now);
      process.kill(replica.pid, 'SIGSTOP');
      try {
        const creating = store.create(sampleSession(), now);
        await eventually('a WAIT pending on the master', waitPending);
        expect((await store.load(value, now))?.session.id).toBe(session.id);
        // Still pending after the read came back: the read did not queue behind it.
        expect(await waitPending()).toBe(true);
        await creating;
      } finally {
        process.kill(replica.pid, 'SIGCONT');
      }
      // The sentinels may have marked the stopped replica down: the failover test needs it back.
      await eventually('every sentinel seeing the replica up again', async () => {
        const views = await Promise.all(
          group.sentinels.map(async (sentinel) => {
            const client = new Redis({ ...sentinel.endpoint, lazyConnect: true });
            try {
              await client.connect();
              const replicas = (await client.call('SENTINEL', 'REPLICAS', group.masterSet)) as string[][];
              return replicas.map((fields) => fields[fields.indexOf('flags') + 1]);
            } finally {
              client.disconnect();
            }
          }),
        );
        return views.every((flags) => flags.length > 0 && flags.every((flag) => flag === 'slave'));
      });
    } finally {
      admin.disconnect();
      await store.close();
    }
  });

  it('never answers "no session" during a failover, and keeps reading and writing through the new master', async () => {
    const store = await storeOn(sentinelConfig());
    try {
      const session = sampleSession();
      const value = await store.create(session, now);
      const failover = group.failover();
      let done = false;
      void failover.then(
        () => (done = true),
        () => (done = true),
      );
      const answers: string[] = [];
      const answer = async (call: () => Promise<string>): Promise<void> => {
        try {
          answers.push(await call());
        } catch (error) {
          answers.push(isOfaError(error) ? error.code : 'other error');
        }
      };
      let lastSaved = session.renewedAt;
      for (let tick = 1; !done; tick++) {
        await answer(async () => ((await store.load(value, now)) === undefined ? 'no session' : 'session'));
        await answer(async () => {
          await store.save({ ...session, renewedAt: session.renewedAt + tick }, now);
          lastSaved = session.renewedAt + tick;
          return 'saved';
        });
        await sleep(20);
      }
      await failover;
      expect(answers).not.toContain('no session');
      expect(answers).not.toContain('other error');

      let loaded: Session | undefined;
      for (const deadline = Date.now() + 15_000; loaded === undefined && Date.now() < deadline; await sleep(200)) {
        loaded = (await store.load(value, now).catch(() => undefined))?.session;
      }
      // A save that timed out may still have landed late (see session/redis/connection.ts): never earlier.
      expect(loaded?.renewedAt).toBeGreaterThanOrEqual(lastSaved);
      expect(await store.recordLogoutToken('https://idp.example', 'jti-after-failover', now + 60, now)).toBe(true);
    } finally {
      await store.close();
    }
  });
});
