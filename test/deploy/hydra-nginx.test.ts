/**
 * Ory Hydra, an OpenID-certified provider that operators run, behind real nginx running the
 * shipped snippet (its back-channel logout block turned on) in front of our real service and the
 * demo's echo application: sign-in, refresh with rotation, RP-initiated logout, back-channel logout
 * sent by Hydra itself (its logout token has no exp; accepted within its iat bound), opaque bearer
 * tokens by introspection, private_key_jwt.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { enableBackchannelLogout, SNIPPET_PATH } from '../../deploy/demo/nginx-conf.js';
import { startEchoUpstream, type EchoUpstream } from '../../deploy/demo/echo-upstream.js';
import { startHydra, type RunningHydra } from '../support/hydra.js';
import { reservePort } from '../support/scripted-server.js';
import { startService, type TestService } from '../support/service.js';
import { API_CALLER, APP_MIDDLEWARE, PKJWT_MIDDLEWARE, registerHydraSites, type HydraSites } from './hydra-bed.js';
import {
  ACCESS_TOKEN_TTL_SECONDS,
  expectAliceSignsInAtHydra,
  expectHydraBackchannelLogoutEndsHerSession,
  expectOpaqueBearerTokensByIntrospection,
  expectRefreshRotatesAtHydra,
  expectRpInitiatedLogoutAtHydra,
  type HydraBed,
} from './hydra-journeys.js';
import { startNginx, type RunningNginx } from './nginx-process.js';

let upstream: EchoUpstream;
let hydra: RunningHydra;
let appNginx: RunningNginx;
let pkjwtNginx: RunningNginx;
let service: TestService;
let sites: HydraSites;
let bed: HydraBed;

beforeAll(async () => {
  // Held until the service binds it: Hydra takes seconds to start, and other test files bind ports meanwhile.
  const reserved = await reservePort();
  const servicePort = reserved.port;
  upstream = await startEchoUpstream();
  hydra = await startHydra({ accessTokenTtl: `${ACCESS_TOKEN_TTL_SECONDS}s` });
  const upstreams = { authAddress: `127.0.0.1:${servicePort}`, appAddress: `127.0.0.1:${upstream.port}` };
  appNginx = await startNginx({ ...upstreams, middleware: APP_MIDDLEWARE, snippet: enableBackchannelLogout(readFileSync(SNIPPET_PATH, 'utf8')) });
  pkjwtNginx = await startNginx({ ...upstreams, middleware: PKJWT_MIDDLEWARE });
  sites = await registerHydraSites(hydra, appNginx.url, pkjwtNginx.url);
  await reserved.release();
  service = await startService({ port: servicePort, trustedProxies: ['127.0.0.1/32'], middlewares: sites.middlewares });
  bed = { hydra, service };
});

afterAll(async () => {
  await pkjwtNginx?.stop();
  await appNginx?.stop();
  await service?.stop();
  await hydra?.stop();
  await upstream?.close();
});

describe('Ory Hydra through nginx', () => {
  it('signs alice in: nginx sends the browser to Hydra, its login and consent, back through /callback, the application sees her', async () => {
    await expectAliceSignsInAtHydra(bed, sites.app);
  });

  it('refreshes with rotation: the renewed cookie carries a new refresh token, the old one is dead at Hydra, the session keeps working', async () => {
    await expectRefreshRotatesAtHydra(bed, sites.app);
  });

  it('signs out at /logout through Hydra’s end-session endpoint and back, ending her login session at Hydra', async () => {
    await expectRpInitiatedLogoutAtHydra(bed, sites.app);
  });

  it('delivers the back-channel logout Hydra itself sends through nginx, and her session ends here too (its token has no exp: bounded by iat)', async () => {
    await expectHydraBackchannelLogoutEndsHerSession(bed, sites.app);
  });

  it('checks Hydra’s opaque access tokens by introspection: a live one passes, a revoked one and a refresh token do not', async () => {
    await expectOpaqueBearerTokensByIntrospection(bed, sites.app, API_CALLER);
  });

  it('signs in and refreshes with private_key_jwt, the only method Hydra accepts from that client', async () => {
    await expectAliceSignsInAtHydra(bed, sites.pkjwt);
    await expectRefreshRotatesAtHydra(bed, sites.pkjwt);
  });
});
