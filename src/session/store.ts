import type { ErrorCode } from '../errors.js';
import type { Session } from './session.js';

export interface LoadedSession {
  readonly session: Session;
  /** Opened with an old key (or otherwise due for rewriting): save it again to renew the cookie. */
  readonly stale: boolean;
}

/**
 * Why a refresh brought no new session: a stable code for logs, never free text. The provider's
 * failures keep their OfaError code; the others say what the configuration or the store decided.
 */
export type RefreshFailureCode =
  | ErrorCode
  /** session.refresh is off. */
  | 'REFRESH_DISABLED'
  /** The session holds no refresh token. */
  | 'NO_REFRESH_TOKEN'
  /** The stored session was gone once the refresh lock was ours (revoked, or expired). */
  | 'SESSION_ENDED'
  /** Another replica held the refresh lock, and its refresh did not finish in time. */
  | 'REFRESHING_ELSEWHERE'
  /** This refresh outlived its lock: the replica that took the lock over decides. */
  | 'REFRESH_LOCK_LOST';

/** `transient`: the provider (or the store) could not answer for now; the session is kept. */
export interface RefreshFailure {
  readonly ok: false;
  readonly code: RefreshFailureCode;
  readonly transient: boolean;
}

/** What one refresh at the provider produced, before the store keeps it. */
export type RefreshAttempt = { readonly ok: true; readonly session: Session } | RefreshFailure;

/** The outcome of one refresh, shared by every request that raced for it. */
export type RefreshOutcome =
  | {
      readonly ok: true;
      readonly session: Session;
      /** The new cookie value; undefined when the browser's cookie stays as it is (server-side store). */
      readonly cookieValue: string | undefined;
    }
  | RefreshFailure;

/**
 * The one interface every session store implements: the cookie store (the cookie is the session)
 * and the Redis store (the cookie only names a session kept in Redis). The shared contract suite
 * in test/session/store-contract.ts holds each of them to it.
 *
 * Stores fail closed: when the backing service cannot answer, methods reject with an OfaError
 * whose code is transient (OFA_STORE_UNAVAILABLE), never resolve as if no session existed.
 * All times are epoch seconds (a subject's cutoff to the millisecond).
 */
export interface SessionStore {
  /** True when the session lives on the server and the cookie never changes after login. */
  readonly serverSide: boolean;
  /**
   * False while the backing service is known to be unreachable (a Redis connection not ready):
   * no login starts then, since its callback could not keep the session.
   */
  isAvailable(): boolean;
  /**
   * Readiness: true when the backing service answers a round trip within its command timeout.
   * A paused or hung server keeps its connection open, so isAvailable alone stays true. Absent
   * for stores with nothing to ask (the cookie store).
   */
  ping?(): Promise<boolean>;
  /**
   * A number that moves whenever a session this store loaded before may have ended (a revocation
   * applied here, or announced by another replica). Verdicts are cached under it
   * (forward/verdict-cache.ts). Undefined, or absent, while the store cannot tell (a Redis store
   * whose revocation channel is down): every request then loads.
   */
  verdictEpoch?(): number | undefined;
  /** Undefined when the cookie does not open, the session has expired (now ≥ expiresAt) or was revoked. */
  load(cookieValue: string, nowSeconds: number): Promise<LoadedSession | undefined>;
  /** Keeps a new session (a login); the cookie value that carries or points to it. */
  create(session: Session, nowSeconds: number): Promise<string>;
  /**
   * Keeps a changed session (sliding renewal). The new cookie value, or undefined when the browser's
   * cookie stays valid as it is. A session revoked meanwhile stays revoked.
   */
  save(session: Session, nowSeconds: number): Promise<string | undefined>;
  /** After this resolves, no load of any cookie for this session id succeeds. */
  revoke(session: Session, nowSeconds: number): Promise<void>;
  /** Ends every session of one login at the provider (its `sid`), as back-channel logout asks. */
  revokeProviderSession(issuer: string, providerSid: string, nowSeconds: number): Promise<void>;
  /**
   * Ends every session of one user created at or before `cutoffSeconds` (epoch seconds to the
   * millisecond, compared with creationSeconds), also one stored after this call; later logins are
   * not affected. A session that knows only its second (written before createdAtMs) ends if the
   * cutoff falls in that second: the safe side of the tie.
   */
  revokeSubject(issuer: string, subject: string, cutoffSeconds: number): Promise<void>;
  /**
   * One refresh per session at a time (across replicas when the store is shared): `attempt` runs
   * with the latest stored state of the session, its result is kept and shared with every request
   * that raced for it, and a request still carrying the pre-refresh cookie gets the same result
   * instead of spending a rotated refresh token twice.
   */
  refresh(session: Session, nowSeconds: number, attempt: (current: Session) => Promise<RefreshAttempt>): Promise<RefreshOutcome>;
  /**
   * Records a back-channel logout token id until `untilSeconds`; false when it was already recorded
   * (a replay).
   */
  recordLogoutToken(issuer: string, jti: string, untilSeconds: number, nowSeconds: number): Promise<boolean>;
  /** Releases connections; the store is unusable afterwards. */
  close(): Promise<void>;
}
