/**
 * Ory Hydra behind real Traefik v3 (the pinned build of deploy/peers/) running the shipped
 * traefik/dynamic.yml over HTTPS, with only its addresses replaced plus the additions its comments
 * describe for bearer tokens and for back-channel logout (forwardBody + preserveRequestMethod), in
 * front of our real service and the demo's echo application: sign-in, refresh with rotation,
 * RP-initiated logout, back-channel logout sent by Hydra itself (its logout token has no exp:
 * accepted within its iat bound), opaque bearer tokens by introspection, private_key_jwt.
 */
import { join } from 'node:path';
import { Agent, getGlobalDispatcher, setGlobalDispatcher, type Dispatcher } from 'undici';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../deploy/demo/echo-upstream.js';
import { startHydra, type RunningHydra } from '../support/hydra.js';
import { reservePort } from '../support/scripted-server.js';
import { startService, type TestService } from '../support/service.js';
import { createTestPki, type TestPki } from '../support/tls.js';
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
import { readShippedDynamic, renderDynamic } from './traefik-dynamic.js';
import { startTraefik, type RunningTraefik } from './traefik-process.js';

let pki: TestPki;
let upstream: EchoUpstream;
let hydra: RunningHydra;
let appTraefik: RunningTraefik;
let pkjwtTraefik: RunningTraefik;
let service: TestService;
let sites: HydraSites;
let bed: HydraBed;
let previousDispatcher: Dispatcher;

/** The shipped file for another middleware of the service: its address and its session cookie. */
function forMiddleware(dynamic: Record<string, unknown>, middleware: string): Record<string, unknown> {
  return JSON.parse(JSON.stringify(dynamic).replaceAll('/auth/app', `/auth/${middleware}`).replaceAll('"app-session"', `"${middleware}-session"`)) as Record<string, unknown>;
}

beforeAll(async () => {
  [pki, upstream] = await Promise.all([createTestPki(), startEchoUpstream()]);
  // The browser's requests go to Traefik over HTTPS, under the test CA.
  previousDispatcher = getGlobalDispatcher();
  setGlobalDispatcher(new Agent({ connect: { ca: pki.ca } }));
  // Hydra posts its logout tokens to Traefik over HTTPS too.
  hydra = await startHydra({ accessTokenTtl: `${ACCESS_TOKEN_TTL_SECONDS}s`, caFile: join(pki.dir, 'ca.crt') });
  // Held until their servers bind them: other test files bind ports meanwhile.
  const [serviceReserved, appReserved, pkjwtReserved] = [await reservePort(), await reservePort(), await reservePort()];
  const [servicePort, appPort, pkjwtPort] = [serviceReserved.port, appReserved.port, pkjwtReserved.port];
  sites = await registerHydraSites(hydra, `https://127.0.0.1:${appPort}`, `https://127.0.0.1:${pkjwtPort}`);
  await serviceReserved.release();
  service = await startService({ port: servicePort, trustedProxies: ['127.0.0.1/32'], middlewares: sites.middlewares });
  bed = { hydra, service };
  const dynamic = renderDynamic(
    readShippedDynamic(),
    { authAddress: `127.0.0.1:${servicePort}`, appAddress: `127.0.0.1:${upstream.port}`, host: '127.0.0.1' },
    ['bearer-tokens', 'backchannel-forward-body'],
  );
  const certificate = { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca };
  await Promise.all([appReserved.release(), pkjwtReserved.release()]);
  appTraefik = await startTraefik({ peer: 'traefik-v3', dynamic: forMiddleware(dynamic, APP_MIDDLEWARE), certificate, underscoreHeadersStrategy: 'delete', port: appPort });
  pkjwtTraefik = await startTraefik({ peer: 'traefik-v3', dynamic: forMiddleware(dynamic, PKJWT_MIDDLEWARE), certificate, underscoreHeadersStrategy: 'delete', port: pkjwtPort });
});

afterAll(async () => {
  await pkjwtTraefik?.stop();
  await appTraefik?.stop();
  await service?.stop();
  await hydra?.stop();
  if (previousDispatcher !== undefined) setGlobalDispatcher(previousDispatcher);
  await upstream?.close();
  await pki?.cleanup();
});

describe('Ory Hydra through Traefik v3', () => {
  it('signs alice in: Traefik sends the browser to Hydra, its login and consent, back through /callback, the application sees her', async () => {
    await expectAliceSignsInAtHydra(bed, sites.app);
  });

  it('refreshes with rotation: the renewed cookie (addAuthCookiesToResponse) carries a new refresh token, the old one is dead at Hydra', async () => {
    await expectRefreshRotatesAtHydra(bed, sites.app);
  });

  it('signs out at /logout through Hydra’s end-session endpoint and back, ending her login session at Hydra', async () => {
    await expectRpInitiatedLogoutAtHydra(bed, sites.app);
  });

  it('delivers the back-channel logout Hydra itself sends through forwardBody + preserveRequestMethod, and her session ends here too (its token has no exp: bounded by iat)', async () => {
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
