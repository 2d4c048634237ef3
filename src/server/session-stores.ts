import type { Logger } from 'pino';
import type { MiddlewareConfig, RedisStoreConfig } from '../config/types.js';
import { sessionPurpose } from '../forward/runtime.js';
import { createCookieSessionStore } from '../session/cookie-store.js';
import { closeRedisConnection, createRedisConnection, type RedisConnection } from '../session/redis-connection.js';
import { createRedisSessionStore } from '../session/redis-store.js';
import type { Sealer } from '../session/seal.js';
import type { SessionStore } from '../session/store.js';

/** The version in every Redis key we write: a change of layout gets a new prefix, not a migration in place. */
const REDIS_KEY_VERSION = 'v1';
/** Long enough for a replica on the same network, short enough that a lost replica costs little. */
const REPLICA_ACK_TIMEOUT_MS = 250;

export interface SessionStores {
  /** The store for one middleware: Redis when `session.store.redis` is set, else the cookie. */
  storeFor(middleware: MiddlewareConfig): SessionStore;
  /** Closes every store and Redis connection made here. */
  close(): Promise<void>;
}

/**
 * Builds each middleware's session store. Middlewares pointing at the same Redis (same endpoints,
 * credentials, database and TLS) share one connection; their keys stay apart by middleware name.
 */
export function createSessionStores(deps: { readonly sealer: Sealer; readonly log: Logger }): SessionStores {
  const connections = new Map<string, RedisConnection>();
  const stores: SessionStore[] = [];

  function connectionFor(config: RedisStoreConfig): RedisConnection {
    const key = JSON.stringify(config);
    let connection = connections.get(key);
    if (connection === undefined) {
      connection = createRedisConnection(config, { log: deps.log.child({ component: 'redis' }) });
      connections.set(key, connection);
    }
    return connection;
  }

  return {
    storeFor(middleware) {
      const purpose = sessionPurpose(middleware);
      const redis = middleware.session.store?.redis;
      const store =
        redis === undefined
          ? createCookieSessionStore({ sealer: deps.sealer, purpose, sessionLifetimeSeconds: middleware.session.expiry })
          : createRedisSessionStore({
              client: connectionFor(redis),
              sealer: deps.sealer,
              purpose,
              keyPrefix: `ofa:${REDIS_KEY_VERSION}:${encodeURIComponent(middleware.name)}:`,
              sessionLifetimeSeconds: middleware.session.expiry,
              // Sentinel means replicas that may be promoted: writes that matter wait for one.
              ...(redis.sentinel === undefined ? {} : { replicaAckTimeoutMs: REPLICA_ACK_TIMEOUT_MS }),
              log: deps.log.child({ middleware: middleware.name }),
            });
      stores.push(store);
      return store;
    },
    async close() {
      await Promise.all(stores.splice(0).map((store) => store.close()));
      await Promise.all([...connections.values()].map((connection) => closeRedisConnection(connection)));
      connections.clear();
    },
  };
}
