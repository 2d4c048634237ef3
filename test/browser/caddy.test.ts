/**
 * Headless Chromium through real Caddy (Debian's 2.6.2) running the shipped Caddyfile, over plain
 * HTTP: sign-in on the real provider's form, identity on the application's page, a sliding renewal
 * riding a 302 back to the same page (Caddy passes no Set-Cookie of a 2xx auth answer), sign-out.
 * Screenshots land in test-artifacts/browser/caddy-http/.
 */
import { afterAll, beforeAll } from 'vitest';
import { describeBrowserJourney } from './journey.js';
import { MIDDLEWARE, startBrowserStack, type BrowserStack } from './stack.js';

const SESSION_EXPIRY_SECONDS = 600;
const SESSION_COOKIE = `${MIDDLEWARE}-session`;
const STATE_COOKIE = `${MIDDLEWARE}-state`;

let stack: BrowserStack | undefined;

beforeAll(async () => {
  stack = await startBrowserStack({
    proxy: 'caddy',
    sessionExpirySeconds: SESSION_EXPIRY_SECONDS,
    session: { name: SESSION_COOKIE, secure: false, sameSite: 'lax' },
    stateCookie: { name: STATE_COOKIE, secure: false, sameSite: 'lax' },
  });
});

afterAll(async () => {
  await stack?.stop();
});

describeBrowserJourney({
  run: 'caddy-http',
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
