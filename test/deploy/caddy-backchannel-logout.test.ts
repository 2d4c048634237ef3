/**
 * Back-channel logout through real Caddy (Debian's 2.6.2 and the current v2 release) running the
 * shipped example with its `handle /backchannel-logout` route turned on, in front of our real
 * service (cookie store and Redis store), the real oidc-provider and the demo's echo application:
 * alice signs in through Caddy, signs out at the provider itself, the provider's logout token
 * reaches the service through Caddy, and a copy of her session cookie opens nothing afterwards;
 * bob stays signed in.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../deploy/demo/echo-upstream.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { recordBackchannelDeliveries, startTestProvider, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type BackchannelDelivery, type DevProvider } from '../support/op.js';
import { makeRedisStoreConfig } from '../support/redis-service.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { findFreePort } from '../support/scripted-server.js';
import { startService, type TestService } from '../support/service.js';
import { CADDY_BUILDS, startCaddy, type RunningCaddy } from './caddy-process.js';
import { expectSignOutAtProviderEndsSessionThroughProxy } from './http-browser.js';

const MIDDLEWARE = 'app';

let redis: RedisServer;
let upstream: EchoUpstream;

beforeAll(async () => {
  [redis, upstream] = await Promise.all([startRedisServer(), startEchoUpstream()]);
});

afterAll(async () => {
  await upstream?.close();
  await redis?.destroy();
});

const CASES = CADDY_BUILDS.flatMap((build) => (['cookie', 'redis'] as const).map((store) => ({ build, store })));

describe.each(CASES)('back-channel logout through Caddy ($build build) with the $store store', ({ build, store }) => {
  let caddy: RunningCaddy;
  let op: DevProvider;
  let service: TestService;
  let site: string;
  let deliveries: readonly BackchannelDelivery[];

  beforeAll(async () => {
    // The provider must know Caddy's URLs before the service can discover it, and Caddy needs the
    // service's address: Caddy's port is chosen first and Caddy started last.
    const caddyPort = await findFreePort();
    site = `http://127.0.0.1:${caddyPort}`;
    op = await startTestProvider({
      clients: [
        {
          client_id: TEST_CLIENT_ID,
          client_secret: TEST_CLIENT_SECRET,
          redirect_uris: [`${site}/callback`],
          backchannel_logout_uri: `${site}/backchannel-logout`,
          backchannel_logout_session_required: true,
        },
      ],
    });
    deliveries = recordBackchannelDeliveries(op);
    const defaults = makeMiddlewareConfig({ name: MIDDLEWARE });
    service = await startService({
      middlewares: [
        {
          name: MIDDLEWARE,
          issuer: op.issuer,
          forwardHeaders: { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups' },
          backchannelLogoutUrl: '/backchannel-logout',
          backchannelLogoutSessionsRequired: true,
          session: {
            ...defaults.session,
            store:
              store === 'redis'
                ? { redis: makeRedisStoreConfig({ endpoints: [redis.address] }) }
                : undefined,
          },
        },
      ],
    });
    caddy = await startCaddy(
      { authAddress: new URL(service.origin).host, appAddress: `127.0.0.1:${upstream.port}`, middleware: MIDDLEWARE, backchannelLogout: true },
      caddyPort,
      build,
    );
  });

  afterAll(async () => {
    await caddy?.stop();
    await service?.stop();
    await op?.stop();
  });

  it('alice signs out at the provider, its logout token goes through Caddy to the service, and her cookie replayed opens nothing; bob stays', async () => {
    await expectSignOutAtProviderEndsSessionThroughProxy({ site, issuer: op.issuer, deliveries, serviceLogger: service.logger });
  });
});
