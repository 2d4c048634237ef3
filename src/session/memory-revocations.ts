import { creationSeconds, type Session } from './session.js';

/**
 * Revocations kept in this process, for stores whose sessions live in the browser: a cookie the
 * browser was told to forget (logout) or whose login ended at the provider (back-channel logout)
 * must not open again when replayed. Each entry is kept only as long as a matching session could
 * still be alive, and the whole set is bounded (oldest forgotten first). Several replicas do not
 * share these: a fleet that needs shared revocation uses the Redis store.
 */
export interface MemoryRevocations {
  isRevoked(session: Session, nowSeconds: number): boolean;
  revokeSession(session: Session, nowSeconds: number): void;
  revokeProviderSession(issuer: string, providerSid: string, nowSeconds: number): void;
  /**
   * Sessions of the subject created at or before `cutoffSeconds` (to the millisecond, compared
   * with creationSeconds) are revoked; later logins are not. A later cutoff for the same subject
   * replaces an earlier one, never the reverse.
   */
  revokeSubject(issuer: string, subject: string, cutoffSeconds: number): void;
  /** False when the id was already recorded and has not expired (a replay). */
  recordOnce(key: string, untilSeconds: number, nowSeconds: number): boolean;
}

export interface MemoryRevocationsOptions {
  /**
   * The longest a session can live past its last renewal (session.expiry): a login revoked at T
   * was last renewed before T, so none of its cookies opens after T + this.
   */
  readonly sessionLifetimeSeconds: number;
  /** Entries kept per kind; past this the oldest are forgotten. */
  readonly maxEntries?: number;
}

interface BoundedExpiringMap {
  get(key: string, nowSeconds: number): number | undefined;
  set(key: string, value: number, untilSeconds: number, nowSeconds: number): void;
}

/** A Map in insertion order whose entries carry an expiry; pruning drops expired, then oldest. */
function createBoundedExpiringMap(maxEntries: number): BoundedExpiringMap {
  const entries = new Map<string, { readonly value: number; readonly until: number }>();
  return {
    get(key, nowSeconds) {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      if (entry.until <= nowSeconds) {
        entries.delete(key);
        return undefined;
      }
      return entry.value;
    },
    set(key, value, untilSeconds, nowSeconds) {
      entries.delete(key);
      entries.set(key, { value, until: untilSeconds });
      if (entries.size <= maxEntries) return;
      for (const [k, entry] of entries) if (entry.until <= nowSeconds) entries.delete(k);
      for (const k of entries.keys()) {
        if (entries.size <= maxEntries) break;
        entries.delete(k);
      }
    },
  };
}

/**
 * How much earlier than its arrival a subject's cutoff may lie: a logout token's iat plus the
 * allowed skew, and tokens older than five minutes are refused. Its entry is kept this much longer
 * than a session lifetime from the cutoff, so a session renewed between cutoff and arrival stays
 * refused as long as it could live.
 */
const CUTOFF_LAG_ALLOWANCE_SECONDS = 600;

// "\0" cannot occur in an issuer URL, a sid or a sub we keep: the joined key is unambiguous.
const joinKey = (issuer: string, value: string): string => `${issuer}\0${value}`;

export function createMemoryRevocations(options: MemoryRevocationsOptions): MemoryRevocations {
  const lifetime = options.sessionLifetimeSeconds;
  const maxEntries = options.maxEntries ?? 10_000;
  const sessions = createBoundedExpiringMap(maxEntries);
  const providerSessions = createBoundedExpiringMap(maxEntries);
  const subjects = createBoundedExpiringMap(maxEntries);
  const recorded = createBoundedExpiringMap(maxEntries);

  return Object.freeze({
    isRevoked(session: Session, nowSeconds: number): boolean {
      if (sessions.get(session.id, nowSeconds) !== undefined) return true;
      if (session.providerSid !== undefined && providerSessions.get(joinKey(session.issuer, session.providerSid), nowSeconds) !== undefined) {
        return true;
      }
      const subjectRevokedAt = subjects.get(joinKey(session.issuer, session.subject), nowSeconds);
      return subjectRevokedAt !== undefined && creationSeconds(session) <= subjectRevokedAt;
    },
    revokeSession(session: Session, nowSeconds: number): void {
      sessions.set(session.id, 1, session.expiresAt, nowSeconds);
    },
    revokeProviderSession(issuer: string, providerSid: string, nowSeconds: number): void {
      providerSessions.set(joinKey(issuer, providerSid), nowSeconds, nowSeconds + lifetime, nowSeconds);
    },
    revokeSubject(issuer: string, subject: string, cutoffSeconds: number): void {
      const key = joinKey(issuer, subject);
      const until = cutoffSeconds + CUTOFF_LAG_ALLOWANCE_SECONDS + lifetime;
      const earlier = subjects.get(key, cutoffSeconds);
      if (earlier !== undefined && earlier >= cutoffSeconds) return;
      subjects.set(key, cutoffSeconds, until, cutoffSeconds);
    },
    recordOnce(key: string, untilSeconds: number, nowSeconds: number): boolean {
      if (recorded.get(key, nowSeconds) !== undefined) return false;
      recorded.set(key, 1, untilSeconds, nowSeconds);
      return true;
    },
  });
}
