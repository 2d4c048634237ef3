import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisCommandObserver } from '../../observability/observers.js';
import type { Sealer } from '../seal.js';
import type { SessionCodecVersion } from '../session.js';

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
   * The longest a refresh may hold the cross-replica lock (default 30; the service passes
   * refreshLockSecondsFor its provider's request budget). Past it another replica may refresh too.
   */
  readonly refreshLockSeconds?: number;
  /** How long a revocation's markers are kept (default 900; see revocations.ts). */
  readonly revocationMarkerSeconds?: number;
  /**
   * With replicas (Sentinel): after a write that must not be lost in a failover (a new session, a
   * rotated refresh token, a revocation), wait up to this long for one replica to acknowledge it.
   * Replication stays asynchronous: this narrows the window, it cannot close it. Never on a
   * single server, where WAIT would always run out its time. Those writes and their WAIT go on a
   * connection of the store's own: WAIT holds up every command queued behind it on a connection.
   */
  readonly replicaAckTimeoutMs?: number;
  readonly log?: Logger;
  /** Told the latency and failure of every command the store sends (metrics). */
  readonly commandObserver?: RedisCommandObserver;
  /** Opened cookies and stored values kept, so a session read again unchanged is not decrypted again. */
  readonly cacheSize?: number;
  /** session.codecVersion: the codec version of values written; every version is read. */
  readonly codecVersion?: SessionCodecVersion;
}

export const DEFAULT_CACHE_SIZE = 1000;
export const DEFAULT_REFRESH_LOCK_SECONDS = 30;
/**
 * Longer than a callback takes from its clock reading to its store write (CALLBACK_DEADLINE_MS),
 * and than an authorization code may live between a logout at the provider and our callback.
 */
export const DEFAULT_REVOCATION_MARKER_SECONDS = 900;

/** Misuse by the caller (the config has been validated before): a TypeError, at once. */
export function assertRedisStoreOptions(options: RedisSessionStoreOptions): void {
  if (typeof options.purpose !== 'string' || options.purpose.length === 0) throw new TypeError('the Redis session store needs a purpose');
  if (!Number.isInteger(options.sessionLifetimeSeconds) || options.sessionLifetimeSeconds <= 0) {
    throw new TypeError('sessionLifetimeSeconds must be a positive integer');
  }
  for (const [name, value] of [['refreshLockSeconds', options.refreshLockSeconds], ['revocationMarkerSeconds', options.revocationMarkerSeconds]] as const) {
    if (value !== undefined && (!Number.isFinite(value) || value <= 0)) throw new TypeError(`${name} must be a positive number`);
  }
}
