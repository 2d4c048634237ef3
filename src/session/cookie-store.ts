import { OfaError } from '../errors.js';
import { createLru } from './lru.js';
import type { Sealer } from './seal.js';
import { decodeSession, encodeSession, type Session } from './session.js';
import type { LoadedSession, SessionStore } from './store.js';

export interface CookieSessionStoreOptions {
  readonly sealer: Sealer;
  /** AAD for sealing, e.g. 'session:' + middleware name, so one middleware's cookie never opens in another. */
  readonly purpose: string;
  /** Longest cookie value we emit. Browsers cap name + value near 4096 bytes; the rest is for name and attributes. */
  readonly maxCookieBytes?: number;
  /** Decoded sessions kept by cookie value, so the hot path neither decrypts nor inflates. */
  readonly cacheSize?: number;
  /** Revoked session ids remembered until they expire; past this the oldest are forgotten. */
  readonly maxRevoked?: number;
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
 * The session is the cookie: sealed, deflated JSON in one cookie (no chunks, which a 2xx through
 * nginx, Traefik or Caddy could not carry). Revocation here is per process: it stops replay of a
 * cookie the browser was told to forget, on this replica, until the session would have expired;
 * a fleet that needs shared revocation uses the Redis store.
 */
export function createCookieSessionStore(options: CookieSessionStoreOptions): SessionStore {
  const { sealer, purpose } = options;
  const maxCookieBytes = options.maxCookieBytes ?? DEFAULT_MAX_COOKIE_BYTES;
  const cache = createLru<string, CacheEntry>(options.cacheSize ?? 1000);
  const maxRevoked = options.maxRevoked ?? 10_000;
  const revoked = new Map<string, number>();
  // revoke() has no clock of its own; pruning uses the latest time a load was asked about.
  let latestNow = -Infinity;

  function pruneRevoked(): void {
    if (revoked.size <= maxRevoked) return;
    for (const [id, expiresAt] of revoked) {
      if (expiresAt <= latestNow) revoked.delete(id);
    }
    for (const id of revoked.keys()) {
      if (revoked.size <= maxRevoked) break;
      revoked.delete(id);
    }
  }

  function openCookie(cookieValue: string): CacheEntry | undefined {
    const cached = cache.get(cacheKey(cookieValue));
    if (cached !== undefined && cached.cookieValue === cookieValue) return cached;
    const opened = sealer.openWithKey(cookieValue, purpose);
    if (opened === undefined) return undefined;
    const session = decodeSession(opened.plaintext);
    if (session === undefined) return undefined;
    const entry: CacheEntry = { cookieValue, session: deepFreeze(session), stale: opened.rotated };
    cache.set(cacheKey(cookieValue), entry);
    return entry;
  }

  async function load(cookieValue: string, now: number): Promise<LoadedSession | undefined> {
    if (typeof cookieValue !== 'string' || cookieValue.length === 0 || cookieValue.length > maxCookieBytes) return undefined;
    if (now > latestNow) latestNow = now;
    const entry = openCookie(cookieValue);
    if (entry === undefined) return undefined;
    // Revocation is checked after the cache on every load: logout must win over any cached entry.
    if (revoked.has(entry.session.id)) return undefined;
    if (now >= entry.session.expiresAt) {
      cache.delete(cacheKey(cookieValue));
      return undefined;
    }
    return { session: entry.session, stale: entry.stale };
  }

  async function save(session: Session): Promise<string> {
    let encoded = encodeSession(session);
    let value = sealer.seal(encoded, purpose);
    if (value.length > maxCookieBytes && session.idToken !== undefined) {
      // Logout can do without id_token_hint (client_id is enough for most providers); nothing else is optional.
      const { idToken: _dropped, ...withoutIdToken } = session;
      encoded = encodeSession(withoutIdToken);
      value = sealer.seal(encoded, purpose);
    }
    if (value.length > maxCookieBytes) {
      throw new OfaError(
        'OFA_SESSION_TOO_LARGE',
        `the sealed session is ${value.length} bytes, over the ${maxCookieBytes}-byte cookie limit: ` +
          'reference fewer claims (claims, forwardHeaders, usernameClaim) or use session.store.redis',
      );
    }
    const stored = decodeSession(encoded);
    if (stored !== undefined) cache.set(cacheKey(value), { cookieValue: value, session: deepFreeze(stored), stale: false });
    return value;
  }

  async function revoke(session: Session): Promise<void> {
    revoked.set(session.id, session.expiresAt);
    pruneRevoked();
  }

  return Object.freeze({ load, save, revoke });
}

/** Cached sessions are shared between requests: freezing makes an accidental mutation throw instead of leak. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
