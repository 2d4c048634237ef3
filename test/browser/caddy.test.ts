/**
 * Headless Chromium through real Caddy (Debian's 2.6.2 and the current v2 release) running the
 * shipped Caddyfile, over plain HTTP: sign-in on the real provider's form, identity on the
 * application's page, a sliding renewal riding a 302 back to the same page (Caddy passes no
 * Set-Cookie of a 2xx auth answer), sign-out. Screenshots land in
 * test-artifacts/browser/caddy-http/ and caddy-current-http/.
 */
import { afterAll, beforeAll, describe } from 'vitest';
import { CADDY_BUILDS } from '../deploy/caddy-process.js';
import { describeBrowserJourney } from './journey.js';
import { MIDDLEWARE, startBrowserStack, type BrowserStack } from './stack.js';

const SESSION_EXPIRY_SECONDS = 600;
const SESSION_COOKIE = `${MIDDLEWARE}-session`;
const STATE_COOKIE = `${MIDDLEWARE}-state`;

for (const build of CADDY_BUILDS) {
  describe(`Caddy (${build} build)`, () => {
    let stack: BrowserStack | undefined;

    beforeAll(async () => {
      stack = await startBrowserStack({
        proxy: 'caddy',
        caddyBuild: build,
        sessionExpirySeconds: SESSION_EXPIRY_SECONDS,
        session: { name: SESSION_COOKIE, secure: false, sameSite: 'lax' },
        stateCookie: { name: STATE_COOKIE, secure: false, sameSite: 'lax' },
      });
    });

    afterAll(async () => {
      await stack?.stop();
    });

    describeBrowserJourney({
      run: build === 'debian' ? 'caddy-http' : 'caddy-current-http',
      renewal: 'redirect-to-same-url',
      site: () => {
        if (stack === undefined) throw new Error('the stack did not start');
        const { site, op, service } = stack;
        return {
          site,
          providerOrigin: op.url,
          cookies: { session: SESSION_COOKIE, statePrefix: `${STATE_COOKIE}.`, secure: false, sessionSameSite: 'Lax', stateSameSite: 'Lax' },
          sessionExpirySeconds: SESSION_EXPIRY_SECONDS,
          advanceServiceClock: (seconds) => service.advance(seconds),
          chromium: {},
        };
      },
    });
  });
}
