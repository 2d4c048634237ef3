/**
 * Back-channel logout through each real proxy running its shipped recipe with the back-channel
 * route turned on (nginx's `location = /backchannel-logout`, Caddy's `handle /backchannel-logout`,
 * Debian's 2.6.2 and the current v2 release), in front of our real service (cookie store and Redis
 * store), the real oidc-provider and the demo's echo application: alice signs in through the
 * proxy, signs out at the provider itself, the provider's logout token reaches the service through
 * the proxy, and a copy of her session cookie opens nothing afterwards; bob stays signed in.
 * Traefik's two back-channel routes are tested with its login, in login-through-proxies.test.ts.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enableBackchannelLogout, SNIPPET_PATH } from '../../deploy/demo/nginx-conf.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { recordBackchannelDeliveries } from '../support/op.js';
import { makeRedisStoreConfig } from '../support/redis-service.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { PROXIED_MIDDLEWARE, useStack } from '../support/stack.js';
import { CADDY_BUILDS } from './caddy-process.js';
import { expectSignOutAtProviderEndsSessionThroughProxy } from './http-browser.js';
import type { ProxySpec } from './proxy.js';

const BACKCHANNEL_PATH = '/backchannel-logout';

const PROXIES: readonly { readonly name: string; readonly spec: () => ProxySpec }[] = [
  { name: 'nginx', spec: () => ({ kind: 'nginx', snippet: enableBackchannelLogout(readFileSync(SNIPPET_PATH, 'utf8')) }) },
  ...CADDY_BUILDS.map((build) => ({ name: `Caddy (${build} build)`, spec: (): ProxySpec => ({ kind: 'caddy', build, backchannelLogout: true }) })),
];

const CASES = PROXIES.flatMap((proxy) => (['cookie', 'redis'] as const).map((store) => ({ ...proxy, store })));

/** One Redis for the whole file, as before the cases shared a fixture: each case's sessions are its own logins. */
let redis: RedisServer;

beforeAll(async () => {
  redis = await startRedisServer();
});

afterAll(async () => {
  await redis?.destroy();
});

for (const { name, spec, store } of CASES) describe(`back-channel logout through ${name} with the ${store} store`, () => {
  const stack = useStack(() => ({
    proxies: [spec()],
    backchannelLogoutPath: BACKCHANNEL_PATH,
    service: {
      middlewares: ({ issuer }) => {
        const defaults = makeMiddlewareConfig({ name: PROXIED_MIDDLEWARE });
        return [
          {
            name: PROXIED_MIDDLEWARE,
            issuer,
            forwardHeaders: { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups' },
            backchannelLogoutUrl: BACKCHANNEL_PATH,
            backchannelLogoutSessionsRequired: true,
            session: { ...defaults.session, store: store === 'redis' ? { redis: makeRedisStoreConfig({ endpoints: [redis.address] }) } : undefined },
          },
        ];
      },
    },
  }));

  it(`alice signs out at the provider, its logout token goes through ${name} to the service, and her cookie replayed opens nothing; bob stays`, async () => {
    const { site, op, service, authAddress } = stack();
    const deliveries = recordBackchannelDeliveries(op);
    // The service listens where the proxy was told it is (its port was promised before it bound).
    expect(new URL(service.origin).host).toBe(authAddress);
    await expectSignOutAtProviderEndsSessionThroughProxy({ site, issuer: op.issuer, deliveries, serviceLogger: service.logger });
  });
});
