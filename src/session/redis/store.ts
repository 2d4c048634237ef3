import { randomBytes } from 'node:crypto';
import { OfaError } from '../../errors.js';
import { sealSession } from '../sealed-session.js';
import type { Session } from '../session.js';
import { createSingleFlight } from '../single-flight.js';
import type { LoadedSession, RefreshAttempt, RefreshOutcome, SessionStore } from '../store.js';
import { createRedisCommands } from './commands.js';
import { closeRedisConnection } from './connection.js';
import { createRedisKeys, isSessionId } from './keys.js';
import { createRedisInvalidations } from './invalidations.js';
import { createOpenedSessions } from './opened-sessions.js';
import { pingRedis } from './ping.js';
import { createRedisRefresh, refreshedSince, withLaterExpiry } from './refresh-lock.js';
import { createReplicaAcks } from './replica-acks.js';
import { createRedisRevocations } from './revocations.js';
import { createSessionWrites, secondsUntil } from './session-writes.js';
import {
  assertRedisStoreOptions,
  DEFAULT_CACHE_SIZE,
  DEFAULT_REFRESH_LOCK_SECONDS,
  DEFAULT_REVOCATION_MARKER_SECONDS,
  type RedisSessionStoreOptions,
} from './store-options.js';

/**
 * A sealed 128-bit id (see newSessionId) is 75 characters; anything much longer is not ours, and
 * is dropped before it costs a decryption.
 */
const MAX_COOKIE_CHARS = 256;

/**
 * Sessions kept in Redis (single node, Sentinel or Cluster), sealed with AES-GCM under the store's
 * purpose; the cookie carries only the session id, sealed under purpose + ':id', and never changes
 * after login. Sliding renewal and refresh rewrite the Redis value, whose TTL follows expiresAt and
 * is the authority on how long a session lives.
 *
 * Keys and the Lua scripts that change them: see keys.ts; the indexes and revocations:
 * revocations.ts; the refresh lock: refresh-lock.ts.
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
  assertRedisStoreOptions(options);
  const { client, sealer, purpose, keyPrefix } = options;
  const idPurpose = `${purpose}:id`;
  const lockSeconds = options.refreshLockSeconds ?? DEFAULT_REFRESH_LOCK_SECONDS;
  const log = options.log;
  const refreshes = createSingleFlight<string, RefreshOutcome>();
  let closed = false;

  const keys = createRedisKeys(keyPrefix);
  const commands = createRedisCommands({ isClosed: () => closed, observer: options.commandObserver, log });
  const { writer, awaitReplica, ...acks } = createReplicaAcks(client, options.replicaAckTimeoutMs, commands, log);
  const opened = createOpenedSessions({
    client,
    commands,
    keys,
    sealer,
    purpose,
    idPurpose,
    cacheSize: options.cacheSize ?? DEFAULT_CACHE_SIZE,
    log,
  });

  const invalidations = createRedisInvalidations({ client, writer, channel: `${keyPrefix}revoked`, commands, log });

  /** Ids handed to us by callers become key names: anything but our own 22-character ids is misuse. */
  function assertSessionId(id: string): void {
    if (typeof id !== 'string' || !isSessionId(id)) throw new TypeError('a session id must be 22 base64url characters');
  }

  async function deleteSession(id: string): Promise<void> {
    opened.forget(id);
    // Both keys carry the {id} hash tag: one slot, so one DEL is fine on a Cluster.
    await commands.run('revoke a session', 'del', () => writer.del(keys.sessionKey(id), keys.lockKey(id)));
  }

  const revocations = createRedisRevocations({
    client,
    writer,
    commands,
    keys,
    sessionLifetimeSeconds: options.sessionLifetimeSeconds,
    markerSeconds: options.revocationMarkerSeconds ?? DEFAULT_REVOCATION_MARKER_SECONDS,
    deleteSession,
    log,
  });

  const writeSession = createSessionWrites({
    client,
    writer,
    commands,
    keys,
    sealer,
    purpose,
    codecVersion: options.codecVersion,
    read: opened.read,
    index: revocations.index,
    lockSeconds,
    log,
  });

  const refreshAcrossReplicas = createRedisRefresh({
    client,
    commands,
    keys,
    lockSeconds,
    readSession: opened.read,
    writeHoldingLock: (stored, attempted, nowSeconds, lockToken) =>
      writeSession(
        stored.session.id,
        nowSeconds,
        stored,
        // A sliding save that landed during the provider call only moved the expiry: keep it too.
        (latest) => (latest === stored.session ? attempted : withLaterExpiry(attempted, latest)),
        { last: true, lockToken },
      ),
    awaitReplica,
    log,
  });

  async function load(cookieValue: string, nowSeconds: number): Promise<LoadedSession | undefined> {
    // Checked before Redis hears of it: a hostile value must never become a key name.
    if (typeof cookieValue !== 'string' || cookieValue.length === 0 || cookieValue.length > MAX_COOKIE_CHARS) return undefined;
    const id = opened.idOf(cookieValue);
    if (id === undefined) return undefined;
    const stored = await opened.read(id);
    if (stored === undefined || !(nowSeconds < stored.session.expiresAt)) return undefined;
    return { session: stored.session, stale: false };
  }

  async function create(session: Session, nowSeconds: number): Promise<string> {
    assertSessionId(session.id);
    const sealed = sealSession(sealer, session, purpose, options.codecVersion);
    const ttl = secondsUntil(session.expiresAt, nowSeconds);
    // 128 random bits do not collide: the same session was created twice, and must not be overwritten.
    if (!(await commands.setIfAbsent(writer, 'create a session', keys.sessionKey(session.id), sealed.value, 'EX', ttl))) {
      throw new OfaError('OFA_INTERNAL', 'a session with this id already exists');
    }
    await revocations.index(sealed.session, nowSeconds);
    if (await revocations.endedBeforeStored(sealed.session)) {
      // Its login ended at the provider while the callback was under way: the browser goes back
      // to sign in, as it would had the session been stored a moment earlier.
      log?.info('a new session was ended by a back-channel logout that came before it was stored');
      await revoke(sealed.session);
    } else {
      await revocations.pruneSubjectIndex(sealed.session);
      await awaitReplica();
    }
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
      { last: false },
    );
    return undefined;
  }

  async function revoke(session: Session): Promise<void> {
    assertSessionId(session.id);
    await deleteSession(session.id);
    // Tidying the indexes is not what revokes; it only keeps them from growing.
    await revocations.unindex(session);
    await awaitReplica();
    await invalidations.publish();
  }

  async function revokeProviderSession(issuer: string, providerSid: string): Promise<void> {
    await revocations.revokeProviderSession(issuer, providerSid);
    await awaitReplica();
    await invalidations.publish();
  }

  async function revokeSubject(issuer: string, subject: string, cutoffSeconds: number): Promise<void> {
    await revocations.revokeSubject(issuer, subject, cutoffSeconds);
    await awaitReplica();
    await invalidations.publish();
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
    return commands.setIfAbsent(client, 'record a logout token', keys.logoutTokenKey(issuer, jti), mark, 'EX', secondsUntil(untilSeconds, nowSeconds));
  }

  async function ping(): Promise<boolean> {
    if (closed || client.status !== 'ready') return false;
    return pingRedis(client);
  }

  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    // QUIT with a bounded wait: a Redis that is down must not hold up shutdown.
    await Promise.all([acks.close(), invalidations.close(), ...(options.ownsClient ? [closeRedisConnection(client)] : [])]);
  }

  return Object.freeze({
    serverSide: true,
    // ioredis says 'ready' only once connected, authenticated and (Sentinel) on the master.
    isAvailable: () => !closed && client.status === 'ready',
    verdictEpoch: () => invalidations.epoch(),
    ping,
    load,
    create,
    save,
    revoke: (session: Session) => revoke(session),
    revokeProviderSession: (issuer: string, providerSid: string) => revokeProviderSession(issuer, providerSid),
    revokeSubject,
    refresh,
    recordLogoutToken,
    close,
  });
}
