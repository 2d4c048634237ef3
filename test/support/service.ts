/**
 * Our service, built from a typed config and listening on 127.0.0.1:0, with a clock the test moves.
 * Stopped by the test that started it.
 */
import type { AddressInfo } from 'node:net';
import type { Config, ListenAddress, MiddlewareConfig } from '../../src/config/types.js';
import type { Telemetry } from '../../src/observability/telemetry.js';
import type { SessionStore } from '../../src/session/store.js';
import { buildApp, type App } from '../../src/server/app.js';
import { createTestLogger, type TestLogger } from './log.js';
import { makeMiddlewareConfig, type MiddlewareOverrides } from './middleware-config.js';

export const TEST_SECRET = 'test-secret-that-is-long-enough-0123456789';

export interface TestService {
  readonly app: App;
  readonly origin: string;
  readonly logger: TestLogger;
  readonly config: Config;
  /** http://127.0.0.1:PORT/auth/NAME */
  authAddress(name?: string): string;
  /** Moves the service's clock (not the provider's) forward. */
  advance(seconds: number): void;
  now(): number;
  stop(): Promise<void>;
}

export interface TestServiceOptions {
  readonly middlewares: readonly MiddlewareOverrides[];
  readonly secrets?: readonly string[];
  readonly trustedProxies?: readonly string[];
  /** Wait until every middleware's provider is discovered (default true). */
  readonly awaitProviders?: boolean;
  /** Default: a free port. A real proxy must know the service's address before the provider can register the proxy's URLs. */
  readonly port?: number;
  /** How long a callback may spend at the provider (default: the service's own). */
  readonly callbackDeadlineMs?: number;
  /** Metrics and tracing (default: the app's own). */
  readonly telemetry?: Telemetry;
  /** `server.metricsListen`: /metrics then leaves the main port (the test starts the metrics listener). */
  readonly metricsListen?: ListenAddress;
  /** Session stores by middleware name, instead of those built from the config. */
  readonly stores?: Readonly<Record<string, SessionStore>>;
}

export async function startService(options: TestServiceOptions): Promise<TestService> {
  const middlewares: Record<string, MiddlewareConfig> = Object.create(null);
  for (const overrides of options.middlewares) {
    const middleware = makeMiddlewareConfig(overrides);
    middlewares[middleware.name] = middleware;
  }
  const config: Config = {
    server: {
      listen: { host: '127.0.0.1', port: 0 },
      secrets: options.secrets ?? [TEST_SECRET],
      trustedProxies: options.trustedProxies ?? ['127.0.0.1/32'],
      logLevel: 'debug',
      ...(options.metricsListen === undefined ? {} : { metricsListen: options.metricsListen }),
    },
    middlewares,
    warnings: [],
  };
  const logger = createTestLogger('debug');
  let offset = 0;
  const now = (): number => Math.floor(Date.now() / 1000) + offset;
  const app = buildApp(config, {
    log: logger.log,
    // The service reads the millisecond too (session creation, revocation cutoffs).
    now: () => Date.now() / 1000 + offset,
    ...(options.callbackDeadlineMs === undefined ? {} : { callbackDeadlineMs: options.callbackDeadlineMs }),
    ...(options.telemetry === undefined ? {} : { telemetry: options.telemetry }),
    ...(options.stores === undefined ? {} : { stores: options.stores }),
  });
  await app.fastify.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  const { port } = app.fastify.server.address() as AddressInfo;
  if (options.awaitProviders !== false) {
    await Promise.all([...app.middlewares.values()].map((runtime) => runtime.provider.ready()));
  }
  await awaitSessionStores(app);
  const origin = `http://127.0.0.1:${port}`;
  return {
    app,
    origin,
    logger,
    config,
    authAddress: (name = options.middlewares[0]?.name ?? 'test') => `${origin}/auth/${name}`,
    advance: (seconds) => {
      offset += seconds;
    },
    now,
    stop: async () => {
      await app.fastify.close();
      await app.stop();
    },
  };
}

/** A Redis store connects in the background; until it is ready no login starts (503). */
export async function awaitSessionStores(app: App, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const [name, runtime] of app.middlewares) {
    while (!runtime.store.isAvailable()) {
      if (Date.now() > deadline) throw new Error(`the session store of middleware ${name} did not become available`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}
