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
import { startEchoUpstream, type EchoUpstream, type EchoedRequest } from '../../deploy/demo/echo-upstream.js';
import type { LogRecord } from '../support/log.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { signOutAtProvider, startTestProvider, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type DevProvider } from '../support/op.js';
import { makeRedisStoreConfig } from '../support/redis-service.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { findFreePort } from '../support/scripted-server.js';
import { startService, type TestService } from '../support/service.js';
import { createHttpBrowser, loginThroughProxy } from './http-browser.js';
import { startNginx, type RunningNginx } from './nginx-process.js';

const MIDDLEWARE = 'app';
const API_HEADERS = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' };

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
  const backchannel: { readonly outcome: 'success' | 'error'; readonly detail: string }[] = [];

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
    op.provider.on('backchannel.success', () => backchannel.push({ outcome: 'success', detail: '' }));
    op.provider.on('backchannel.error', (_ctx: unknown, error: unknown) => backchannel.push({ outcome: 'error', detail: String(error) }));
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
    const alice = await loginThroughProxy(`${site}/`, 'alice');
    const bob = await loginThroughProxy(`${site}/`, 'bob');
    const stolen = alice.browser.jar.cookieHeader(`${site}/`) ?? '';
    expect((await alice.browser.send(`${site}/api`, { headers: API_HEADERS })).status).toBe(200);

    await signOutAtProvider(op.issuer, alice.providerJar);

    // The provider got the service's 200 back through nginx.
    expect(backchannel).toEqual([{ outcome: 'success', detail: '' }]);
    const line = service.logger.records.find((record: LogRecord) => record.msg === 'forward-auth' && record.path === '/backchannel-logout');
    expect(line).toMatchObject({ method: 'POST', status: 200, decision: 'backchannel-logout' });

    // A copy of her cookie: a page load is sent to sign in again, an API call gets 401.
    const thief = createHttpBrowser();
    const page = await thief.navigate(`${site}/private`, { Cookie: stolen });
    expect(page.status).toBe(302);
    expect(page.location?.startsWith(`${op.issuer}/auth?`)).toBe(true);
    expect((await thief.send(`${site}/api`, { headers: { ...API_HEADERS, Cookie: stolen } })).status).toBe(401);
    expect((await alice.browser.send(`${site}/api`, { headers: API_HEADERS })).status).toBe(401);

    const bobs = await bob.browser.send(`${site}/api`, { headers: API_HEADERS });
    expect(bobs.status).toBe(200);
    expect((JSON.parse(bobs.body) as EchoedRequest).headers['x-forwarded-user']).toBe('bob@example.com');
  });
});
