import type { Session } from './session.js';

export interface LoadedSession {
  readonly session: Session;
  /** Opened with an old key (or otherwise due for rewriting): save it again to renew the cookie. */
  readonly stale: boolean;
}

/**
 * The one interface every session store implements (cookie now, Redis later); the shared
 * contract suite in test/session/store-contract.ts holds each of them to it.
 */
export interface SessionStore {
  /** Undefined when the cookie does not open, the session has expired (now ≥ expiresAt) or was revoked. */
  load(cookieValue: string, now: number): Promise<LoadedSession | undefined>;
  /** Returns the cookie value that carries (or points to) the session. */
  save(session: Session): Promise<string>;
  /** After this resolves, no load of any cookie for this session id succeeds. */
  revoke(session: Session): Promise<void>;
}
