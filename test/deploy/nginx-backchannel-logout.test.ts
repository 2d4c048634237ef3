/**
 * Back-channel logout through real nginx running the shipped snippet with its
 * `location = /backchannel-logout` block turned on, in front of our real service (cookie store and
 * Redis store), the real oidc-provider and the demo's echo application: alice signs in through
 * nginx, signs out at the provider itself, the provider's logout token reaches the service through
 * nginx, and a copy of her session cookie opens nothing afterwards; bob stays signed in.
 */
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enableBackchannelLogout, SNIPPET_PATH } from '../../deploy/demo/nginx-conf.js';
import { startEchoUpstream, type EchoUpstream } from '../../deploy/demo/echo-upstream.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { recordBackchannelDeliveries, startTestProvider, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type BackchannelDelivery, type DevProvider } from '../support/op.js';
import { makeRedisStoreConfig } from '../support/redis-service.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { findFreePort } from '../support/scripted-server.js';
import { startService, type TestService } from '../support/service.js';
import { expectSignOutAtProviderEndsSessionThroughProxy } from './http-browser.js';
import { startNginx, type RunningNginx } from './nginx-process.js';

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

describe.each(['cookie', 'redis'] as const)('back-channel logout through nginx with the %s store', (store) => {
  let nginx: RunningNginx;
  let op: DevProvider;
  let service: TestService;
  let site: string;
  let deliveries: readonly BackchannelDelivery[];

  beforeAll(async () => {
    const servicePort = await findFreePort();
    nginx = await startNginx({
      authAddress: `127.0.0.1:${servicePort}`,
      appAddress: `127.0.0.1:${upstream.port}`,
      middleware: MIDDLEWARE,
      snippet: enableBackchannelLogout(readFileSync(SNIPPET_PATH, 'utf8')),
    });
    site = nginx.url;
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
      port: servicePort,
      middlewares: [{
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
      }],
    });
    expect((service.app.fastify.server.address() as AddressInfo).port).toBe(servicePort);
  });

  afterAll(async () => {
    await nginx?.stop();
    await service?.stop();
    await op?.stop();
  });

  it('alice signs out at the provider, its logout token goes through nginx to the service, and her cookie replayed opens nothing; bob stays', async () => {
    await expectSignOutAtProviderEndsSessionThroughProxy({ site, issuer: op.issuer, deliveries, serviceLogger: service.logger });
  });
});
