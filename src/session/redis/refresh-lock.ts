import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Session } from '../session.js';
import type { RefreshAttempt, RefreshOutcome } from '../store.js';
import type { RedisCommands } from './commands.js';
import { RELEASE_LOCK, type RedisKeys } from './keys.js';
import type { StoredSession } from './opened-sessions.js';
import type { LockedWrite } from './session-writes.js';

/** How long a refresh may hold the cross-replica lock, from the provider's request budget. */
export const REFRESH_LOCK_MARGIN_SECONDS = 5;

/**
 * The lock's lifetime for a provider whose whole call, retries included, may take
 * `requestBudgetSeconds`: past it another replica may refresh too, so it must outlast that call.
 */
export function refreshLockSecondsFor(requestBudgetSeconds: number): number {
  return requestBudgetSeconds + REFRESH_LOCK_MARGIN_SECONDS;
}

/** How often a replica waiting for another one's refresh looks at the lock. */
const LOCK_POLL_MS = 50;

const SESSION_ENDED: RefreshOutcome = Object.freeze({ ok: false, code: 'SESSION_ENDED', transient: false });
const REFRESHING_ELSEWHERE: RefreshOutcome = Object.freeze({ ok: false, code: 'REFRESHING_ELSEWHERE', transient: true });
const OUTLIVED_LOCK: RefreshOutcome = Object.freeze({ ok: false, code: 'REFRESH_LOCK_LOST', transient: true });

/** A refresh moved the session on: its tokens are not the ones `before` carried. */
export const refreshedSince = (after: Session, before: Session): boolean =>
  after.accessTokenExpiresAt !== before.accessTokenExpiresAt || after.refreshToken !== before.refreshToken;

/** `kept`, renewed as late as either of the two says: the expiry a sliding save moved survives a refresh, and back. */
export const withLaterExpiry = (kept: Session, other: Session): Session => ({
  ...kept,
  renewedAt: Math.max(kept.renewedAt, other.renewedAt),
  expiresAt: Math.max(kept.expiresAt, other.expiresAt),
});

/**
 * One refresh per session across replicas, through a lock key beside the session (same slot). The
 * refresh's result is written only while the lock is still ours: a refresh that outlived its lock
 * leaves the session to the replica that took the lock over, and its release leaves that lock.
 */
export function createRedisRefresh(deps: {
  readonly client: Redis | Cluster;
  readonly commands: RedisCommands;
  readonly keys: RedisKeys;
  readonly lockSeconds: number;
  readonly readSession: (id: string) => Promise<StoredSession | undefined>;
  /** Writes `attempted` (merged with a sliding save that landed meanwhile) while `lockToken` holds the lock. */
  readonly writeHoldingLock: (stored: StoredSession, attempted: Session, nowSeconds: number, lockToken: string) => Promise<LockedWrite>;
  readonly awaitReplica: () => Promise<void>;
  readonly log: Logger | undefined;
}): (session: Session, nowSeconds: number, attempt: (current: Session) => Promise<RefreshAttempt>) => Promise<RefreshOutcome> {
  const { client, commands, keys, lockSeconds, readSession, log } = deps;
  const lockMs = Math.ceil(lockSeconds * 1000);

  async function releaseLock(id: string, token: string): Promise<void> {
    try {
      const released = await commands.run('release the refresh lock', 'eval', () => client.eval(RELEASE_LOCK, 1, keys.lockKey(id), token));
      if (released !== 1) log?.warn({ refreshLockSeconds: lockSeconds }, 'a refresh outlived its lock; the provider took longer than its request budget');
    } catch {
      // The lock expires by itself; the refresh's own outcome matters more than its release.
    }
  }

  async function refreshHoldingLock(session: Session, nowSeconds: number, attempt: (current: Session) => Promise<RefreshAttempt>, token: string): Promise<RefreshOutcome> {
    const stored = await readSession(session.id);
    if (stored === undefined) return SESSION_ENDED;
    // A replica refreshed between this request's load and our lock: share its result.
    if (refreshedSince(stored.session, session)) return { ok: true, session: stored.session, cookieValue: undefined };
    const attempted = await attempt(stored.session);
    if (!attempted.ok) return attempted;
    const written = await deps.writeHoldingLock(stored, attempted.session, nowSeconds, token);
    if (written.kept === undefined) return written.lockLost ? OUTLIVED_LOCK : SESSION_ENDED;
    // The spent refresh token is gone at the provider: losing its successor would end the login.
    await deps.awaitReplica();
    return { ok: true, session: written.kept, cookieValue: undefined };
  }

  /** Another replica holds the lock: wait for it to let go (or for the lock to expire), then read its result. */
  async function refreshedElsewhere(session: Session): Promise<RefreshOutcome> {
    const deadline = Date.now() + lockMs + LOCK_POLL_MS;
    while (Date.now() < deadline) {
      await sleep(LOCK_POLL_MS);
      const held = await commands.run('wait for the refresh lock', 'exists', () => client.exists(keys.lockKey(session.id)));
      if (held === 0) break;
    }
    const stored = await readSession(session.id);
    if (stored === undefined) return SESSION_ENDED;
    if (refreshedSince(stored.session, session)) return { ok: true, session: stored.session, cookieValue: undefined };
    // The other replica failed, or is still at it past its lock: the caller tries again later.
    return REFRESHING_ELSEWHERE;
  }

  return async (session, nowSeconds, attempt) => {
    const token = randomBytes(16).toString('base64url');
    if (!(await commands.setIfAbsent(client, 'take the refresh lock', keys.lockKey(session.id), token, 'PX', lockMs))) return refreshedElsewhere(session);
    try {
      return await refreshHoldingLock(session, nowSeconds, attempt, token);
    } finally {
      await releaseLock(session.id, token);
    }
  };
}
