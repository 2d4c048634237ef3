import { createHash, randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { OfaError } from '../errors.js';
import type { RedisCommandName, RedisCommandObserver } from '../observability/observers.js';
import { createLru } from './lru.js';
import { closeRedisConnection } from './redis-connection.js';
import { ADD_TO_INDEX, COMPARE_AND_SET, createRedisKeys, isSessionId, RELEASE_LOCK } from './redis-keys.js';
import type { Sealer } from './seal.js';
import { openSession, sealSession } from './sealed-session.js';
import type { Session } from './session.js';
import { createSingleFlight } from './single-flight.js';
import type { LoadedSession, RefreshAttempt, RefreshOutcome, SessionStore } from './store.js';

export interface RedisSessionStoreOptions {
  /** Owned by the caller unless ownsClient. */
  readonly client: Redis | Cluster;
  /** close() quits the client. */
  readonly ownsClient?: boolean;
  readonly sealer: Sealer;
  /** 'session:' + middleware name: AAD of the stored value; the cookie's id is sealed under purpose + ':id'. */
  readonly purpose: string;
  /** Versioned and per middleware, e.g. 'ofa:v1:' + encodeURIComponent(name) + ':'. */
  readonly keyPrefix: string;
  /** session.expiry: the shortest time an index of sessions (provider sid, subject) is kept. */
  readonly sessionLifetimeSeconds: number;
  /**
   * The longest a refresh may hold the cross-replica lock (default 30). Past it another replica may
   * refresh too, so it must outlast the provider's token call with its timeout and retries.
   */
  readonly refreshLockSeconds?: number;
  /**
   * With replicas (Sentinel): after a write that must not be lost in a failover (a new session, a
   * rotated refresh token, a revocation), wait up to this long for one replica to acknowledge it.
   * Replication stays asynchronous: this narrows the window, it cannot close it. Never on a
   * single server, where WAIT would always run out its time.
   */
  readonly replicaAckTimeoutMs?: number;
  readonly log?: Logger;
  /** Told the latency and failure of every command the store sends (metrics). */
  readonly commandObserver?: RedisCommandObserver;
  /** Opened cookies and stored values kept, so a session read again unchanged is not decrypted again. */
  readonly cacheSize?: number;
}

/**
 * A sealed 128-bit id (see newSessionId) is 75 characters; anything much longer is not ours, and
 * is dropped before it costs a decryption.
 */
const MAX_COOKIE_CHARS = 256;
const DEFAULT_CACHE_SIZE = 1000;
const DEFAULT_REFRESH_LOCK_SECONDS = 30;
/** How often a replica waiting for another one's refresh looks at the lock. */
const LOCK_POLL_MS = 50;
/** Compare-and-set rounds before a save gives up (a lost sliding renewal is harmless). */
const MAX_WRITE_ROUNDS = 4;

const SESSION_ENDED: RefreshOutcome = Object.freeze({ ok: false, reason: 'session ended', transient: false });
const REFRESHING_ELSEWHERE: RefreshOutcome = Object.freeze({ ok: false, reason: 'another replica is refreshing', transient: true });

interface StoredSession {
  /** The sealed value as read, to compare-and-set against. */
  readonly raw: string;
  readonly session: Session;
}

/** A refresh moved the session on: its tokens are not the ones `before` carried. */
const refreshedSince = (after: Session, before: Session): boolean =>
  after.accessTokenExpiresAt !== before.accessTokenExpiresAt || after.refreshToken !== before.refreshToken;

/** `kept`, renewed as late as either of the two says: the expiry a sliding save moved survives a refresh, and back. */
const withLaterExpiry = (kept: Session, other: Session): Session => ({
  ...kept,
  renewedAt: Math.max(kept.renewedAt, other.renewedAt),
  expiresAt: Math.max(kept.expiresAt, other.expiresAt),
});

/** Seconds until expiresAt, at least 1: Redis rejects EX 0, and load checks the time anyway. */
const secondsUntil = (expiresAt: number, nowSeconds: number): number => Math.max(1, Math.ceil(expiresAt - nowSeconds));

/**
 * What is safe to carry from an ioredis error: ioredis attaches the failed command with its
 * arguments (a sealed session, a key holding a session id) to the error object, and an error's
 * cause ends up in logs.
 */
function safeCause(error: unknown): Error {
  if (!(error instanceof Error)) return new Error('unknown Redis failure');
  const copy = new Error(error.message);
  copy.name = error.name;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') Object.assign(copy, { code });
  return copy;
}

function validateOptions(options: RedisSessionStoreOptions): void {
  if (typeof options.purpose !== 'string' || options.purpose.length === 0) throw new TypeError('the Redis session store needs a purpose');
  if (!Number.isInteger(options.sessionLifetimeSeconds) || options.sessionLifetimeSeconds <= 0) {
    throw new TypeError('sessionLifetimeSeconds must be a positive integer');
  }
  const lock = options.refreshLockSeconds;
  if (lock !== undefined && (!Number.isFinite(lock) || lock <= 0)) throw new TypeError('refreshLockSeconds must be a positive number');
}

/**
 * Sessions kept in Redis (single node, Sentinel or Cluster), sealed with AES-GCM under the store's
 * purpose; the cookie carries only the session id, sealed under purpose + ':id', and never changes
 * after login. Sliding renewal and refresh rewrite the Redis value, whose TTL follows expiresAt and
 * is the authority on how long a session lives.
 *
 * Keys and the Lua scripts that change them: see redis-keys.ts.
 *
 * Writes after a login are compare-and-set against the value read (never onto a missing key): a
 * sliding save and a refresh racing on two replicas each keep their part, and a revoked session
 * stays revoked. ioredis may resend a command Redis already ran (after a dropped connection): a
 * SET … NX recognises its own value. A command may also land after its caller timed out: then a
 * refresh lock stays until it expires, and a logout token id is recorded although the caller saw
 * an error; a sender that retries that token is told it is a replay.
 *
 * Every Redis failure rejects with OFA_STORE_UNAVAILABLE, refresh included: the store never answers
 * "no session" because Redis did not answer.
 *
 * `stale` is always false: the cookie never changes, so there is nothing to rewrite. After a secret
 * rotation the old secret must stay configured (as an old secret) until every session sealed before
 * it has ended, or those sessions stop opening.
 */
export function createRedisSessionStore(options: RedisSessionStoreOptions): SessionStore {
  validateOptions(options);
  const { client, sealer, purpose, keyPrefix: p, sessionLifetimeSeconds } = options;
  const idPurpose = `${purpose}:id`;
  const lockSeconds = options.refreshLockSeconds ?? DEFAULT_REFRESH_LOCK_SECONDS;
  const lockMs = Math.ceil(lockSeconds * 1000);
  const log = options.log;
  const observer = options.commandObserver;
  const refreshes = createSingleFlight<string, RefreshOutcome>();
  /**
   * What opening costs is remembered, never what Redis says: every load still reads the session
   * from Redis, so a revocation or a write by any replica counts at once. A cookie always opens
   * to the same id, and a stored value to the same session, so the same bytes need opening once.
   */
  const cacheSize = options.cacheSize ?? DEFAULT_CACHE_SIZE;
  const idsByCookie = createLru<string, string>(cacheSize);
  const openedById = createLru<string, StoredSession>(cacheSize);
  let closed = false;

  const { sessionKey, lockKey, providerSessionKey, subjectKey, logoutTokenKey } = createRedisKeys(p);

  /** Ids handed to us by callers become key names: anything but our own 22-character ids is misuse. */
  function assertSessionId(id: string): void {
    if (typeof id !== 'string' || !isSessionId(id)) throw new TypeError('a session id must be 22 base64url characters');
  }

  /** Times one command for the observer, counting a rejection as a failed command. */
  async function timed<T>(command: RedisCommandName, call: () => Promise<T>): Promise<T> {
    if (observer === undefined) return call();
    const started = process.hrtime.bigint();
    let failed = true;
    try {
      const result = await call();
      failed = false;
      return result;
    } finally {
      observer.observe(command, Number(process.hrtime.bigint() - started) / 1e9, failed);
    }
  }

  /** One Redis command; any failure (refused, timed out, CLUSTERDOWN, READONLY…) becomes OFA_STORE_UNAVAILABLE. */
  async function redis<T>(action: string, command: RedisCommandName, call: () => Promise<T>): Promise<T> {
    if (closed) throw new OfaError('OFA_STORE_UNAVAILABLE', `the Redis session store is closed (${action})`);
    try {
      return await timed(command, call);
    } catch (error) {
      const cause = safeCause(error);
      log?.debug({ err: cause, action }, 'the Redis session store did not answer');
      throw new OfaError('OFA_STORE_UNAVAILABLE', `the Redis session store did not answer (${action})`, { cause });
    }
  }

  /**
   * SET … NX, true when this call set the key. ioredis sends a command again after a dropped
   * connection (autoResendUnfulfilledCommands) even if Redis had run it: the resent SET then finds
   * our own value, which must count as ours, not as someone else's (a taken lock, a replayed token).
   */
  async function setIfAbsent(action: string, key: string, value: string, expiry: 'EX' | 'PX', amount: number): Promise<boolean> {
    const set = await redis(action, 'set', () =>
      expiry === 'EX' ? client.set(key, value, 'EX', amount, 'NX') : client.set(key, value, 'PX', amount, 'NX'),
    );
    if (set !== null) return true;
    return (await redis(action, 'get', () => client.get(key))) === value;
  }

  async function readSession(id: string): Promise<StoredSession | undefined> {
    const raw = await redis('read a session', 'get', () => client.get(sessionKey(id)));
    if (raw === null) {
      openedById.delete(id);
      return undefined;
    }
    const cached = openedById.get(id);
    if (cached !== undefined && cached.raw === raw) return cached;
    const opened = openSession(sealer, raw, purpose);
    if (opened === undefined || opened.session.id !== id) {
      // Ours by key, not by seal: a secret removed too early, or a value written by something else.
      log?.warn('a session stored in Redis did not open; was a secret removed while sessions sealed with it were alive?');
      return undefined;
    }
    const stored: StoredSession = { raw, session: opened.session };
    openedById.set(id, stored);
    return stored;
  }

  /** The session id a cookie holds, or undefined for anything that is not one of our cookies. */
  function openCookie(cookieValue: string): string | undefined {
    const known = idsByCookie.get(cookieValue);
    if (known !== undefined) return known;
    const opened = sealer.open(cookieValue, idPurpose);
    if (opened === undefined) return undefined;
    const id = Buffer.from(opened).toString('latin1');
    if (!isSessionId(id)) return undefined;
    idsByCookie.set(cookieValue, id);
    return id;
  }

  async function addToIndexes(session: Session, nowSeconds: number): Promise<void> {
    const ttl = String(Math.max(sessionLifetimeSeconds, secondsUntil(session.expiresAt, nowSeconds)));
    const add = (key: string): Promise<unknown> =>
      redis('index a session', 'eval', () => client.eval(ADD_TO_INDEX, 1, key, session.id, String(session.createdAt), ttl));
    const indexes = [subjectKey(session.issuer, session.subject)];
    if (session.providerSid !== undefined) indexes.push(providerSessionKey(session.issuer, session.providerSid));
    await Promise.all(indexes.map(add));
  }

  /**
   * Read-change-write of one stored session under compare-and-set, so no writer loses another's
   * change: `change` sees the latest stored session. Undefined when the session is gone (or, with
   * `overwriteLast` false, when it kept changing under us). With `overwriteLast`, the last round
   * writes over whatever is there (still never over a missing key): used for tokens the provider
   * has just rotated, which must not be dropped.
   */
  async function writeSession(
    id: string,
    nowSeconds: number,
    first: StoredSession | undefined,
    change: (stored: Session) => Session,
    overwriteLast: boolean,
  ): Promise<Session | undefined> {
    let stored = first ?? (await readSession(id));
    for (let round = 1; stored !== undefined; round++) {
      const next = sealSession(sealer, change(stored.session), purpose);
      if (next.session.id !== id) throw new TypeError('a stored session cannot change its id');
      const last = round >= MAX_WRITE_ROUNDS;
      const expected = last && overwriteLast ? '' : createHash('sha1').update(stored.raw).digest('hex');
      const ttl = String(secondsUntil(next.session.expiresAt, nowSeconds));
      const written = await redis('save a session', 'eval', () => client.eval(COMPARE_AND_SET, 1, sessionKey(id), expected, next.value, ttl));
      if (written === 1) {
        // Sliding may carry the session past the indexes' TTL: they must outlive it, or a
        // back-channel logout would no longer find it.
        await addToIndexes(next.session, nowSeconds);
        return next.session;
      }
      if (last) {
        log?.debug('a session kept changing while it was saved; this save is dropped');
        return undefined;
      }
      stored = await readSession(id);
    }
    return undefined;
  }

  async function awaitReplica(): Promise<void> {
    const timeoutMs = options.replicaAckTimeoutMs;
    if (timeoutMs === undefined) return;
    try {
      // WAIT covers every earlier write of this connection; a Cluster client is never given this option.
      const acknowledged = await timed('wait', () => (client as Redis).wait(1, timeoutMs));
      if (acknowledged < 1) log?.warn({ timeoutMs }, 'no Redis replica acknowledged a session write in time');
    } catch {
      // The master took the write; whether a replica has it yet is best effort.
    }
  }

  async function load(cookieValue: string, nowSeconds: number): Promise<LoadedSession | undefined> {
    // Checked before Redis hears of it: a hostile value must never become a key name.
    if (typeof cookieValue !== 'string' || cookieValue.length === 0 || cookieValue.length > MAX_COOKIE_CHARS) return undefined;
    const id = openCookie(cookieValue);
    if (id === undefined) return undefined;
    const stored = await readSession(id);
    if (stored === undefined || !(nowSeconds < stored.session.expiresAt)) return undefined;
    return { session: stored.session, stale: false };
  }

  async function create(session: Session, nowSeconds: number): Promise<string> {
    assertSessionId(session.id);
    const sealed = sealSession(sealer, session, purpose);
    const ttl = secondsUntil(session.expiresAt, nowSeconds);
    // 128 random bits do not collide: the same session was created twice, and must not be overwritten.
    if (!(await setIfAbsent('create a session', sessionKey(session.id), sealed.value, 'EX', ttl))) {
      throw new OfaError('OFA_INTERNAL', 'a session with this id already exists');
    }
    await addToIndexes(sealed.session, nowSeconds);
    await awaitReplica();
    return sealer.seal(Buffer.from(session.id, 'latin1'), idPurpose);
  }

  async function save(session: Session, nowSeconds: number): Promise<undefined> {
    assertSessionId(session.id);
    // A save is a sliding renewal of what the caller loaded. If a refresh has stored new tokens
    // since, those win and the save only moves the expiry.
    await writeSession(
      session.id,
      nowSeconds,
      undefined,
      (stored) => (refreshedSince(stored, session) ? withLaterExpiry(stored, session) : session),
      false,
    );
    return undefined;
  }

  async function deleteSession(id: string): Promise<void> {
    openedById.delete(id);
    // Both keys carry the {id} hash tag: one slot, so one DEL is fine on a Cluster.
    await redis('revoke a session', 'del', () => client.del(sessionKey(id), lockKey(id)));
  }

  async function revoke(session: Session): Promise<void> {
    assertSessionId(session.id);
    await deleteSession(session.id);
    // Tidying the indexes is not what revokes; it only keeps them from growing.
    const indexes = [subjectKey(session.issuer, session.subject)];
    if (session.providerSid !== undefined) indexes.push(providerSessionKey(session.issuer, session.providerSid));
    await Promise.all(indexes.map((key) => redis('revoke a session', 'zrem', () => client.zrem(key, session.id))));
    await awaitReplica();
  }

  async function revokeProviderSession(issuer: string, providerSid: string): Promise<void> {
    const index = providerSessionKey(issuer, providerSid);
    const ids = await redis('revoke a provider session', 'zrange', () => client.zrange(index, 0, '-1'));
    await Promise.all(ids.filter(isSessionId).map(deleteSession));
    await redis('revoke a provider session', 'del', () => client.del(index));
    await awaitReplica();
  }

  async function revokeSubject(issuer: string, subject: string, nowSeconds: number): Promise<void> {
    const index = subjectKey(issuer, subject);
    // Scored by createdAt: sessions created after this revocation are later logins and stay.
    const ids = await redis('revoke a subject', 'zrangebyscore', () => client.zrangebyscore(index, '-inf', String(nowSeconds)));
    await Promise.all(ids.filter(isSessionId).map(deleteSession));
    await redis('revoke a subject', 'zremrangebyscore', () => client.zremrangebyscore(index, '-inf', String(nowSeconds)));
    await awaitReplica();
  }

  async function releaseLock(id: string, token: string): Promise<void> {
    try {
      const released = await redis('release the refresh lock', 'eval', () => client.eval(RELEASE_LOCK, 1, lockKey(id), token));
      if (released !== 1) {
        log?.warn({ refreshLockSeconds: lockSeconds }, 'a refresh outlived its lock; raise refreshLockSeconds above the provider timeout');
      }
    } catch {
      // The lock expires by itself; the refresh's own outcome matters more than its release.
    }
  }

  async function refreshHoldingLock(
    session: Session,
    nowSeconds: number,
    attempt: (current: Session) => Promise<RefreshAttempt>,
  ): Promise<RefreshOutcome> {
    const stored = await readSession(session.id);
    if (stored === undefined) return SESSION_ENDED;
    // A replica refreshed between this request's load and our lock: share its result.
    if (refreshedSince(stored.session, session)) return { ok: true, session: stored.session, cookieValue: undefined };
    const attempted = await attempt(stored.session);
    if (!attempted.ok) return attempted;
    const kept = await writeSession(
      session.id,
      nowSeconds,
      stored,
      // A sliding save that landed during the provider call only moved the expiry: keep it too.
      (latest) => (latest === stored.session ? attempted.session : withLaterExpiry(attempted.session, latest)),
      true,
    );
    if (kept === undefined) return SESSION_ENDED;
    // The spent refresh token is gone at the provider: losing its successor would end the login.
    await awaitReplica();
    return { ok: true, session: kept, cookieValue: undefined };
  }

  /** Another replica holds the lock: wait for it to let go (or for the lock to expire), then read its result. */
  async function refreshedElsewhere(session: Session): Promise<RefreshOutcome> {
    const deadline = Date.now() + lockMs + LOCK_POLL_MS;
    while (Date.now() < deadline) {
      await sleep(LOCK_POLL_MS);
      const held = await redis('wait for the refresh lock', 'exists', () => client.exists(lockKey(session.id)));
      if (held === 0) break;
    }
    const stored = await readSession(session.id);
    if (stored === undefined) return SESSION_ENDED;
    if (refreshedSince(stored.session, session)) return { ok: true, session: stored.session, cookieValue: undefined };
    // The other replica failed, or is still at it past its lock: the caller tries again later.
    return REFRESHING_ELSEWHERE;
  }

  async function refreshAcrossReplicas(
    session: Session,
    nowSeconds: number,
    attempt: (current: Session) => Promise<RefreshAttempt>,
  ): Promise<RefreshOutcome> {
    const token = randomBytes(16).toString('base64url');
    if (!(await setIfAbsent('take the refresh lock', lockKey(session.id), token, 'PX', lockMs))) return refreshedElsewhere(session);
    try {
      return await refreshHoldingLock(session, nowSeconds, attempt);
    } finally {
      await releaseLock(session.id, token);
    }
  }

  /**
   * One refresh per session: in this process through a single flight (one Redis round of locking
   * per replica), across replicas through a lock key. Redis failures reject with
   * OFA_STORE_UNAVAILABLE like every other method; a transient outcome means the provider could
   * not answer or another replica's refresh did not finish.
   */
  async function refresh(
    session: Session,
    nowSeconds: number,
    attempt: (current: Session) => Promise<RefreshAttempt>,
  ): Promise<RefreshOutcome> {
    assertSessionId(session.id);
    const key = `${session.id}:${session.accessTokenExpiresAt ?? 0}`;
    // Remembered only briefly: Redis holds the latest state, and a straggler that loaded before the
    // refresh finds it there (refreshedSince) without spending the token again.
    const outcome = await refreshes.runOnce(key, lockSeconds, nowSeconds, () => refreshAcrossReplicas(session, nowSeconds, attempt));
    // The next request after an outage must try again, not be handed the remembered failure.
    if (!outcome.ok && outcome.transient) refreshes.forget(key);
    return outcome;
  }

  async function recordLogoutToken(issuer: string, jti: string, untilSeconds: number, nowSeconds: number): Promise<boolean> {
    // A value of our own, so a resent SET is told apart from a replay.
    const mark = randomBytes(12).toString('base64url');
    return setIfAbsent('record a logout token', logoutTokenKey(issuer, jti), mark, 'EX', secondsUntil(untilSeconds, nowSeconds));
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    // QUIT with a bounded wait: a Redis that is down must not hold up shutdown.
    if (options.ownsClient) await closeRedisConnection(client);
  }

  return Object.freeze({
    serverSide: true,
    // ioredis says 'ready' only once connected, authenticated and (Sentinel) on the master.
    isAvailable: () => !closed && client.status === 'ready',
    load,
    create,
    save,
    revoke,
    revokeProviderSession: (issuer: string, providerSid: string) => revokeProviderSession(issuer, providerSid),
    revokeSubject,
    refresh,
    recordLogoutToken,
    close,
  });
}
