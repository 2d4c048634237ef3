import { OfaError } from '../errors.js';
import { createAdmissionFilter } from '../cache/admission.js';
import { createLru } from '../cache/lru.js';
import { createRevocationHub, type MiddlewareRevocations } from './revocation-hub.js';
import type { Sealer } from './seal.js';
import { openSession, sealSession } from './sealed-session.js';
import type { Session, SessionCodecVersion } from './session.js';
import { createSingleFlight } from './single-flight.js';
import type { LoadedSession, RefreshAttempt, RefreshOutcome, SessionStore } from './store.js';

export interface CookieSessionStoreOptions {
  readonly sealer: Sealer;
  /** AAD for sealing, e.g. 'session:' + middleware name, so one middleware's cookie never opens in another. */
  readonly purpose: string;
  /** session.expiry: how long revocations must be remembered. */
  readonly sessionLifetimeSeconds: number;
  /** Longest cookie value we emit. Browsers cap name + value near 4096 bytes; the rest is for name and attributes. */
  readonly maxCookieBytes?: number;
  /** Decoded sessions kept by cookie value, so the hot path neither decrypts nor inflates. */
  readonly cacheSize?: number;
  /** Revocations remembered per kind (session, provider sid, subject); past this the oldest are forgotten. */
  readonly maxRevoked?: number;
  /**
   * The middleware's revocations, which outlive this store (a reload that rotates the secrets or
   * changes session.expiry builds a new one) and reach every worker. Default: this store's own.
   */
  readonly revocations?: MiddlewareRevocations;
  /** The ID token goes to the application (applicationTokens.idTokenHeader): never dropped for size. */
  readonly idTokenRequired?: boolean;
  /** session.codecVersion: the codec version written; every version is read. */
  readonly codecVersion?: SessionCodecVersion;
}

export const DEFAULT_MAX_COOKIE_BYTES = 3800;

interface CacheEntry {
  readonly cookieValue: string;
  readonly session: Session;
  readonly stale: boolean;
}

/**
 * The cache is keyed by the value's last characters (its GCM tag, random per sealing), then the
 * whole value is compared: hashing a fresh 2 KiB header string for a Map lookup costs ~9 µs,
 * comparing it ~0.1 µs. A collision only costs a miss.
 */
const CACHE_KEY_CHARS = 32;
const cacheKey = (cookieValue: string): string => cookieValue.slice(-CACHE_KEY_CHARS);

/**
 * The session is the cookie: sealed JSON (deflated when that pays, see session.ts) in one cookie (no chunks, which a 2xx through
 * nginx, Traefik or Caddy could not carry). Revocations are the middleware's (revocation-hub.ts):
 * they stop replay of a cookie the browser was told to forget, on every worker of this service and
 * across reloads, until the session would have expired. The refresh lock is per process. A fleet
 * of replicas that needs them shared uses the Redis store.
 */
export function createCookieSessionStore(options: CookieSessionStoreOptions): SessionStore {
  const { sealer, purpose } = options;
  const maxCookieBytes = options.maxCookieBytes ?? DEFAULT_MAX_COOKIE_BYTES;
  const cacheSize = options.cacheSize ?? 1000;
  const cache = createLru<string, CacheEntry>(cacheSize);
  // With the cache full, a cookie opened once and never again (more sessions than it holds) is not
  // kept: kept, it would outlive young-generation collections and be promoted, then evicted unused.
  const admission = createAdmissionFilter(Math.max(1, cacheSize));
  const lifetimeSeconds = options.sessionLifetimeSeconds;
  const revocations = options.revocations ?? createRevocationHub({ maxEntries: options.maxRevoked }).forMiddleware(purpose);
  const refreshes = createSingleFlight<string, RefreshOutcome>();

  function openCookie(cookieValue: string): CacheEntry | undefined {
    const cached = cache.get(cacheKey(cookieValue));
    if (cached !== undefined && cached.cookieValue === cookieValue) return cached;
    const opened = openSession(sealer, cookieValue, purpose);
    if (opened === undefined) return undefined;
    const entry: CacheEntry = { cookieValue, session: opened.session, stale: opened.rotated };
    const key = cacheKey(cookieValue);
    if (cache.size < cacheSize || admission.offer(key)) cache.set(key, entry);
    return entry;
  }

  async function load(cookieValue: string, nowSeconds: number): Promise<LoadedSession | undefined> {
    if (typeof cookieValue !== 'string' || cookieValue.length === 0 || cookieValue.length > maxCookieBytes) return undefined;
    const entry = openCookie(cookieValue);
    if (entry === undefined) return undefined;
    // Revocation is checked after the cache on every load: logout must win over any cached entry.
    if (revocations.isRevoked(entry.session, nowSeconds)) return undefined;
    if (nowSeconds >= entry.session.expiresAt) {
      cache.delete(cacheKey(cookieValue));
      return undefined;
    }
    return { session: entry.session, stale: entry.stale };
  }

  async function save(session: Session): Promise<string> {
    let sealed = sealSession(sealer, session, purpose, options.codecVersion);
    if (sealed.value.length > maxCookieBytes && session.idToken !== undefined && options.idTokenRequired !== true) {
      // Logout can do without id_token_hint (client_id is enough for most providers); nothing else is optional.
      const { idToken: _dropped, ...withoutIdToken } = session;
      sealed = sealSession(sealer, withoutIdToken, purpose, options.codecVersion);
    }
    if (sealed.value.length > maxCookieBytes) {
      throw new OfaError(
        'OFA_SESSION_TOO_LARGE',
        `the sealed session is ${sealed.value.length} bytes, over the ${maxCookieBytes}-byte cookie limit: ` +
          'reference fewer claims (claims, forwardHeaders, usernameClaim), pass fewer tokens (applicationTokens) or use session.store.redis',
      );
    }
    cache.set(cacheKey(sealed.value), { cookieValue: sealed.value, session: sealed.session, stale: false });
    return sealed.value;
  }

  async function refresh(
    session: Session,
    nowSeconds: number,
    attempt: (current: Session) => Promise<RefreshAttempt>,
  ): Promise<RefreshOutcome> {
    const key = `${session.id}:${session.accessTokenExpiresAt ?? 0}`;
    const outcome = await refreshes.runOnce(key, options.sessionLifetimeSeconds, nowSeconds, async (): Promise<RefreshOutcome> => {
      const attempted = await attempt(session);
      if (!attempted.ok) return attempted;
      return { ok: true, session: attempted.session, cookieValue: await save(attempted.session) };
    });
    // The next request after an outage must try again, not be handed the remembered failure.
    if (!outcome.ok && outcome.transient) refreshes.forget(key);
    return outcome;
  }

  return Object.freeze({
    serverSide: false,
    isAvailable: () => true,
    verdictEpoch: () => revocations.epoch(),
    load,
    create: (session: Session) => save(session),
    save: (session: Session) => save(session),
    revoke: (session: Session, nowSeconds: number) => revocations.revokeSession(session, nowSeconds, lifetimeSeconds),
    revokeProviderSession: (issuer: string, providerSid: string, nowSeconds: number) =>
      revocations.revokeProviderSession(issuer, providerSid, nowSeconds, lifetimeSeconds),
    revokeSubject: (issuer: string, subject: string, cutoffSeconds: number) => revocations.revokeSubject(issuer, subject, cutoffSeconds, lifetimeSeconds),
    refresh,
    recordLogoutToken: async (issuer: string, jti: string, untilSeconds: number, nowSeconds: number) =>
      revocations.recordOnce(`${issuer}\0${jti}`, untilSeconds, nowSeconds),
    close: async () => {},
  });
}
