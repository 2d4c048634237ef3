/**
 * app.reload: what a new configuration keeps (provider client, discovery, keys, session store),
 * what it replaces, and that a request in flight finishes with the configuration it started with.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Config, MiddlewareConfig } from '../../src/config/types.js';
import { buildApp, type App } from '../../src/server/app.js';
import { sessionPurpose } from '../../src/session/sealed-session.js';
import { createCookieSessionStore } from '../../src/session/cookie-store.js';
import { createSealer } from '../../src/session/seal.js';
import type { SessionStore } from '../../src/session/store.js';
import { createTestLogger } from '../support/log.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { startTestProvider, TEST_APP_ORIGIN, type DevProvider } from '../support/op.js';
import { TEST_SECRET } from '../support/service.js';

function configOf(middlewares: readonly MiddlewareConfig[], secrets = [TEST_SECRET]): Config {
  const byName: Record<string, MiddlewareConfig> = Object.create(null);
  for (const middleware of middlewares) byName[middleware.name] = middleware;
  return {
    server: { listen: { host: '127.0.0.1', port: 0 }, secrets, trustedProxies: ['127.0.0.1/32'], logLevel: 'info' },
    middlewares: byName,
    warnings: [],
  };
}

const FORWARDED = { 'x-forwarded-proto': 'http', 'x-forwarded-host': new URL(TEST_APP_ORIGIN).host, 'x-forwarded-uri': '/api', accept: 'application/json' };

describe('app.reload', () => {
  let op: DevProvider;
  let app: App | undefined;

  beforeAll(async () => {
    op = await startTestProvider();
  });
  afterAll(async () => {
    await app?.fastify.close();
    await app?.stop();
    await op?.stop();
  });

  it('keeps an unchanged middleware’s provider and store, rebuilds a changed client, and answers 404 for a removed one', async () => {
    const kept = makeMiddlewareConfig({ name: 'kept', issuer: op.issuer });
    const rekeyed = makeMiddlewareConfig({ name: 'rekeyed', issuer: op.issuer });
    const removed = makeMiddlewareConfig({ name: 'removed', issuer: op.issuer });
    app = buildApp(configOf([kept, rekeyed, removed]), { log: createTestLogger().log });
    await Promise.all([...app.middlewares.values()].map((runtime) => runtime.provider.ready()));
    const before = new Map(app.middlewares);

    const summary = app.reload(
      configOf([
        { ...kept, claims: 'Equals(`sub`, `alice`)' },
        { ...rekeyed, clientSecret: 'another-client-secret-0123456789abcdef' },
        makeMiddlewareConfig({ name: 'added', issuer: op.issuer }),
      ]),
    );
    expect(summary).toMatchObject({ added: ['added'], removed: ['removed'], changed: ['kept', 'rekeyed'], needRestart: [] });
    await summary.retired;

    const after = app.middlewares;
    expect(after.get('kept')?.provider).toBe(before.get('kept')?.provider);
    expect(after.get('kept')?.store).toBe(before.get('kept')?.store);
    expect(after.get('kept')?.claims).toBeDefined();
    expect(after.get('kept')?.provider.state().status).toBe('ready');
    expect(after.get('rekeyed')?.provider).not.toBe(before.get('rekeyed')?.provider);
    expect(after.has('removed')).toBe(false);

    const gone = await app.fastify.inject({ url: '/auth/removed', headers: FORWARDED });
    expect(gone.statusCode).toBe(404);
    const added = await app.fastify.inject({ url: '/auth/added', headers: FORWARDED });
    expect(added.statusCode).toBe(401);
  });

  it('lets a request in flight finish with the configuration it started with, and closes the old parts after it', async () => {
    const middleware = makeMiddlewareConfig({ name: 'slow', issuer: op.issuer });
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let loads = 0;
    let closed = false;
    const base = createCookieSessionStore({
      sealer: createSealer([TEST_SECRET]),
      purpose: sessionPurpose(middleware),
      sessionLifetimeSeconds: middleware.session.expiry,
    });
    const slowStore: SessionStore = {
      ...base,
      async load(cookieValue, nowSeconds) {
        loads += 1;
        await held;
        return base.load(cookieValue, nowSeconds);
      },
      async close() {
        closed = true;
      },
    };
    const local = buildApp(configOf([middleware]), { log: createTestLogger().log, stores: { slow: slowStore } });
    try {
      await local.middlewares.get('slow')?.provider.ready();
      const inFlight = local.fastify.inject({ url: '/auth/slow', headers: { ...FORWARDED, cookie: `${middleware.session.name}=x` } });
      while (loads === 0) await new Promise((resolve) => setTimeout(resolve, 5));

      const summary = local.reload(configOf([makeMiddlewareConfig({ name: 'other', issuer: op.issuer })]));
      let retired = false;
      void summary.retired.then(() => (retired = true));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(retired).toBe(false);
      expect((await local.fastify.inject({ url: '/auth/slow', headers: FORWARDED })).statusCode).toBe(404);

      release();
      expect((await inFlight).statusCode).toBe(401);
      await summary.retired;
      expect(retired).toBe(true);
      // A store handed in by the caller is the caller's to close.
      expect(closed).toBe(false);
    } finally {
      release();
      await local.fastify.close();
      await local.stop();
    }
  });
});
