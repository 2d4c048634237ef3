/**
 * Our service built from a given Config, which a test can stop and start again with that same
 * config (same secrets, same Redis): a restart, or a second replica. Each start listens on a new
 * free port on 127.0.0.1, and is ready once every provider is discovered and every session store
 * can answer; the clock offset a test has moved carries over a restart, as real time would.
 * Stopped by the test that started it.
 *
 * Also: the Redis store config the service reads (`session.store.redis`), and a plain ioredis
 * client for tests that look at what the service left in Redis.
 */
import type { AddressInfo } from 'node:net';
import { Redis, type RedisOptions } from 'ioredis';
import type { Config, MiddlewareConfig, RedisStoreConfig, SessionConfig } from '../../src/config/types.js';
import { buildApp, type App } from '../../src/server/app.js';
import { createTestLogger, type TestLogger } from './log.js';
import { makeMiddlewareConfig, type MiddlewareOverrides } from './middleware-config.js';
import { awaitSessionStores, TEST_SECRET } from './service.js';

export interface RestartableService {
  readonly config: Config;
  /** The running app; throws while stopped. */
  readonly app: App;
  /** The running instance's logger (a new one on every start). */
  readonly logger: TestLogger;
  /** http://127.0.0.1:PORT of the running instance. */
  readonly origin: string;
  /** http://127.0.0.1:PORT/auth/NAME of the running instance. */
  authAddress(name?: string): string;
  /** Moves the service's clock (not the provider's or Redis's) forward. */
  advance(seconds: number): void;
  now(): number;
  /** Closes the listener, then the provider and Redis connections. */
  stop(): Promise<void>;
  /** Builds a new app from the same config and listens again; waits for provider discovery and the stores. */
  start(): Promise<void>;
}

export interface ServiceConfigOptions {
  readonly secrets?: readonly string[];
  readonly trustedProxies?: readonly string[];
}

export function makeServiceConfig(middlewares: readonly MiddlewareConfig[], options: ServiceConfigOptions = {}): Config {
  const byName: Record<string, MiddlewareConfig> = Object.create(null);
  for (const middleware of middlewares) byName[middleware.name] = middleware;
  return {
    server: {
      listen: { host: '127.0.0.1', port: 0 },
      secrets: options.secrets ?? [TEST_SECRET],
      trustedProxies: options.trustedProxies ?? ['127.0.0.1/32'],
      logLevel: 'debug',
    },
    middlewares: byName,
    warnings: [],
  };
}

/** `session.store.redis` as the config loader would produce it: one server, no auth, database 0. */
export function makeRedisStoreConfig(overrides: Partial<RedisStoreConfig> = {}): RedisStoreConfig {
  return {
    endpoints: [],
    username: undefined,
    password: undefined,
    database: 0,
    cluster: false,
    tls: undefined,
    sentinel: undefined,
    ...overrides,
  };
}

/** A middleware whose sessions live in Redis. */
export function makeRedisMiddlewareConfig(redis: RedisStoreConfig, overrides: MiddlewareOverrides & { readonly sessionOverrides?: Partial<SessionConfig> } = {}): MiddlewareConfig {
  const { sessionOverrides, ...rest } = overrides;
  const base = makeMiddlewareConfig(rest);
  return { ...base, session: { ...base.session, ...sessionOverrides, store: { redis } } };
}

export async function startRestartableService(config: Config): Promise<RestartableService> {
  let offset = 0;
  const now = (): number => Math.floor(Date.now() / 1000) + offset;
  let running: { app: App; logger: TestLogger; origin: string } | undefined;
  const firstName = Object.keys(config.middlewares)[0] ?? 'test';

  const current = (): NonNullable<typeof running> => {
    if (running === undefined) throw new Error('the service is stopped');
    return running;
  };

  async function start(): Promise<void> {
    if (running !== undefined) return;
    const logger = createTestLogger('debug');
    const app = buildApp(config, { log: logger.log, now });
    try {
      await app.fastify.listen({ host: '127.0.0.1', port: 0 });
      await Promise.all([...app.middlewares.values()].map((runtime) => runtime.provider.ready()));
      await awaitSessionStores(app);
    } catch (error) {
      await app.fastify.close();
      await app.stop();
      throw error;
    }
    const { port } = app.fastify.server.address() as AddressInfo;
    running = { app, logger, origin: `http://127.0.0.1:${port}` };
  }

  async function stop(): Promise<void> {
    const instance = running;
    if (instance === undefined) return;
    running = undefined;
    await instance.app.fastify.close();
    await instance.app.stop();
  }

  await start();
  return {
    config,
    get app() {
      return current().app;
    },
    get logger() {
      return current().logger;
    },
    get origin() {
      return current().origin;
    },
    authAddress: (name = firstName) => `${current().origin}/auth/${name}`,
    advance: (seconds) => {
      offset += seconds;
    },
    now,
    stop,
    start,
  };
}

/** A plain client for looking into Redis from a test; reconnects on its own, never throws on events. */
export function openInspector(options: RedisOptions): Redis {
  const client = new Redis({ maxRetriesPerRequest: 2, retryStrategy: (attempt) => Math.min(attempt * 50, 500), ...options });
  client.on('error', () => undefined);
  return client;
}

/** Every key matching `pattern`, through SCAN (never KEYS). */
export async function scanKeys(client: Redis, pattern: string): Promise<string[]> {
  const keys: string[] = [];
  let cursor = '0';
  do {
    const [next, batch] = await client.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    keys.push(...batch);
  } while (cursor !== '0');
  return keys;
}
