import type { Logger } from 'pino';
import type { MiddlewareConfig, RedisStoreConfig } from '../config/types.js';
import type { RedisCommandObserver } from '../observability/observers.js';
import { passesIdToken } from '../forward/application-tokens.js';
import { sessionPurpose } from '../session/sealed-session.js';
import { requestBudgetSeconds } from '../oidc/http-retry.js';
import { createCookieSessionStore } from '../session/cookie-store.js';
import { closeRedisConnection, createRedisConnection, type RedisConnection } from '../session/redis/connection.js';
import { refreshLockSecondsFor } from '../session/redis/refresh-lock.js';
import { createRedisSessionStore } from '../session/redis/store.js';
import type { RevocationHub } from '../session/revocation-hub.js';
import type { Sealer } from '../session/seal.js';
import type { SessionStore } from '../session/store.js';

/** The version in every Redis key we write: a change of layout gets a new prefix, not a migration in place. */
const REDIS_KEY_VERSION = 'v1';
/** Long enough for a replica on the same network, short enough that a lost replica costs little. */
const REPLICA_ACK_TIMEOUT_MS = 250;

export interface SessionStores {
  /** The store for one middleware: Redis when `session.store.redis` is set, else the cookie. */
  storeFor(middleware: MiddlewareConfig): SessionStore;
  /** Closes every store and Redis connection held here that `successor` did not take over. */
  closeExcept(successor: SessionStores | undefined): Promise<void>;
  /** Closes every store and Redis connection held here. */
  close(): Promise<void>;
}

interface StorePool {
  readonly sealer: Sealer;
  readonly stores: Map<string, SessionStore>;
  readonly connections: Map<string, RedisConnection>;
}

const pools = new WeakMap<SessionStores, StorePool>();

/**
 * Builds each middleware's session store. Middlewares pointing at the same Redis (same endpoints,
 * credentials, database and TLS) share one connection; their keys stay apart by middleware name.
 * Given a `predecessor` (the set before a configuration reload) with the same sealer, a store
 * whose settings did not change is taken over as it is, with its connection and its cache: a
 * reload must not sign anyone out. Cookie stores remember logouts in `revocations`, which every
 * store of a middleware shares, so a store built anew (rotated secrets, another session.expiry)
 * still refuses what its predecessor was told to forget.
 */
export function createSessionStores(deps: {
  readonly sealer: Sealer;
  readonly log: Logger;
  readonly predecessor?: SessionStores | undefined;
  /** The process's revocation memory; it outlives every set of stores. */
  readonly revocations: RevocationHub;
  /** Told of every command a Redis store sends (metrics). */
  readonly redisCommands?: RedisCommandObserver | undefined;
}): SessionStores {
  const pool: StorePool = { sealer: deps.sealer, stores: new Map(), connections: new Map() };
  const previous = deps.predecessor === undefined ? undefined : pools.get(deps.predecessor);
  const inherited = previous !== undefined && previous.sealer === deps.sealer ? previous : undefined;

  function connectionFor(config: RedisStoreConfig): RedisConnection {
    const key = JSON.stringify(config);
    let connection = pool.connections.get(key) ?? previous?.connections.get(key);
    if (connection === undefined) connection = createRedisConnection(config, { log: deps.log.child({ component: 'redis' }) });
    pool.connections.set(key, connection);
    return connection;
  }

  function build(middleware: MiddlewareConfig): SessionStore {
    const purpose = sessionPurpose(middleware);
    const redis = middleware.session.store?.redis;
    if (redis === undefined) {
      return createCookieSessionStore({
        sealer: deps.sealer,
        purpose,
        sessionLifetimeSeconds: middleware.session.expiry,
        revocations: deps.revocations.forMiddleware(middleware.name),
        idTokenRequired: passesIdToken(middleware),
        codecVersion: middleware.session.codecVersion,
      });
    }
    return createRedisSessionStore({
      client: connectionFor(redis),
      sealer: deps.sealer,
      purpose,
      keyPrefix: `ofa:${REDIS_KEY_VERSION}:${encodeURIComponent(middleware.name)}:`,
      sessionLifetimeSeconds: middleware.session.expiry,
      refreshLockSeconds: refreshLockSecondsFor(requestBudgetSeconds(middleware.clientConfig)),
      // Sentinel means replicas that may be promoted: writes that matter wait for one.
      ...(redis.sentinel === undefined ? {} : { replicaAckTimeoutMs: REPLICA_ACK_TIMEOUT_MS }),
      log: deps.log.child({ middleware: middleware.name }),
      commandObserver: deps.redisCommands,
      codecVersion: middleware.session.codecVersion,
    });
  }

  const stores: SessionStores = {
    storeFor(middleware) {
      const key = storeKey(middleware);
      const existing = pool.stores.get(key) ?? inherited?.stores.get(key);
      if (existing !== undefined) {
        const redis = middleware.session.store?.redis;
        if (redis !== undefined) connectionFor(redis);
        pool.stores.set(key, existing);
        return existing;
      }
      const store = build(middleware);
      pool.stores.set(key, store);
      return store;
    },
    async closeExcept(successor) {
      const next = successor === undefined ? undefined : pools.get(successor);
      const keptStores = new Set(next?.stores.values() ?? []);
      const keptConnections = new Set(next?.connections.values() ?? []);
      await Promise.all([...pool.stores.values()].filter((store) => !keptStores.has(store)).map((store) => store.close()));
      await Promise.all(
        [...pool.connections.values()].filter((connection) => !keptConnections.has(connection)).map((connection) => closeRedisConnection(connection)),
      );
      pool.stores.clear();
      pool.connections.clear();
    },
    close() {
      return stores.closeExcept(undefined);
    },
  };
  pools.set(stores, pool);
  return stores;
}

/** Everything a store is built from; two middlewares (or two configurations) with the same key share it. */
function storeKey(middleware: MiddlewareConfig): string {
  return JSON.stringify([
    middleware.name,
    sessionPurpose(middleware),
    middleware.session.expiry,
    middleware.session.store?.redis ?? null,
    // A reload that changes it (the second step of a codec rollout) must reach the writes.
    middleware.session.codecVersion ?? null,
    // The refresh lock's lifetime follows the provider's request budget.
    requestBudgetSeconds(middleware.clientConfig),
  ]);
}
