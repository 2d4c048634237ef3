/**
 * Headless Chromium through real Traefik, v3 and v2.11 (the pinned builds of deploy/peers/), each
 * running the shipped traefik/dynamic.yml over HTTPS (its router asks for TLS): a certificate for
 * app.oidc.test from a CA made here, the name mapped to 127.0.0.1 in Chromium, which trusts that
 * certificate's key. Sign-in on the real provider's form, identity on the application's page, a
 * sliding renewal (v3: on the page's own answer, through addAuthCookiesToResponse; v2.11: on a
 * 302 back to the same page), sign-out. Screenshots land in test-artifacts/browser/traefik-v3/ and
 * traefik-v2/.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import type { TraefikPeer } from '../deploy/traefik-process.js';
import { describeBrowserJourney } from './journey.js';
import { createSiteCertificate, type SiteCertificate } from './site-certificate.js';
import { MIDDLEWARE, startBrowserStack, type BrowserStack } from './stack.js';

const HOST_NAME = 'app.oidc.test';
const SESSION_EXPIRY_SECONDS = 600;
const SESSION_COOKIE = `${MIDDLEWARE}-session`;
const STATE_COOKIE = `${MIDDLEWARE}-state`;

let certificate: SiteCertificate | undefined;

beforeAll(async () => {
  certificate = await createSiteCertificate(HOST_NAME);
});

afterAll(async () => {
  await certificate?.cleanup();
});

const RUNS: readonly { peer: TraefikPeer; renewal: 'on-the-page' | 'redirect-to-same-url' }[] = [
  { peer: 'traefik-v3', renewal: 'on-the-page' },
  { peer: 'traefik-v2', renewal: 'redirect-to-same-url' },
];

for (const run of RUNS) {
  describe(run.peer, () => {
    let stack: BrowserStack | undefined;

    beforeAll(async () => {
      stack = await startBrowserStack({
        proxy: run.peer,
        certificate,
        sessionExpirySeconds: SESSION_EXPIRY_SECONDS,
        session: { name: SESSION_COOKIE, secure: true, sameSite: 'lax' },
        stateCookie: { name: STATE_COOKIE, secure: true, sameSite: 'lax' },
      });
    });

    afterAll(async () => {
      await stack?.stop();
    });

    describeBrowserJourney({
      run: run.peer,
      renewal: run.renewal,
      site: () => {
        if (stack === undefined || certificate === undefined) throw new Error('the stack did not start');
        const { site, op, service } = stack;
        return {
          site,
          providerOrigin: op.url,
          cookies: { session: SESSION_COOKIE, statePrefix: `${STATE_COOKIE}.`, secure: true, sessionSameSite: 'Lax', stateSameSite: 'Lax' },
          sessionExpirySeconds: SESSION_EXPIRY_SECONDS,
          advanceServiceClock: (seconds) => service.advance(seconds),
          chromium: { loopbackHosts: [HOST_NAME], trustedSpkiHashes: [certificate.spkiSha256] },
        };
      },
    });
  });
}
