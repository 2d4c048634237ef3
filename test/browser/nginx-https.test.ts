/**
 * Headless Chromium through real nginx running the shipped recipe over HTTPS, as production runs
 * it: a certificate for app.oidc.test from a CA made here, the name mapped to 127.0.0.1 in
 * Chromium, and Chromium trusting that certificate's key (not ignoring certificate errors). The
 * middleware's cookies are what the README asks for behind HTTPS: `secure`, a `__Host-` session
 * cookie with SameSite=None, and a `__Host-` login-state cookie with SameSite=Lax that must ride
 * the provider's cross-site redirect back (the provider stays on http://127.0.0.1, another site).
 * Screenshots land in test-artifacts/browser/nginx-https/.
 */
import { connect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BROWSER_STEP_TIMEOUT_MS, launchChromium, newBrowserContext } from './chromium.js';
import { describeBrowserJourney } from './journey.js';
import { createSiteCertificate, type SiteCertificate } from './site-certificate.js';
import { startBrowserStack, type BrowserStack } from './stack.js';

const HOST_NAME = 'app.oidc.test';
const SESSION_EXPIRY_SECONDS = 600;
const SESSION_COOKIE = '__Host-app-session';
const STATE_COOKIE = '__Host-app-state';

let certificate: SiteCertificate | undefined;
let stack: BrowserStack | undefined;

beforeAll(async () => {
  certificate = await createSiteCertificate(HOST_NAME);
  stack = await startBrowserStack({
    proxy: 'nginx',
    certificate,
    sessionExpirySeconds: SESSION_EXPIRY_SECONDS,
    session: { name: SESSION_COOKIE, secure: true, sameSite: 'none' },
    stateCookie: { name: STATE_COOKIE, secure: true, sameSite: 'lax' },
  });
});

afterAll(async () => {
  await stack?.stop();
  await certificate?.cleanup();
});

function started(): { stack: BrowserStack; certificate: SiteCertificate } {
  if (stack === undefined || certificate === undefined) throw new Error('the stack did not start');
  return { stack, certificate };
}

describe('the HTTPS site', () => {
  it(`serves a certificate that chains to the test CA and names ${HOST_NAME}`, async () => {
    const { stack, certificate } = started();
    const socket = connect({ host: '127.0.0.1', port: stack.tlsPort, servername: HOST_NAME, ca: certificate.ca });
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('secureConnect', resolve);
        socket.once('error', reject);
      });
      expect(socket.authorized).toBe(true);
    } finally {
      socket.destroy();
    }
  });

  it("is refused by a Chromium that was not told to trust the certificate's key", async () => {
    const { stack } = started();
    const browser = await launchChromium({ loopbackHosts: [HOST_NAME] });
    try {
      const page = await (await newBrowserContext(browser)).newPage();
      await expect(page.goto(`${stack.site}/`)).rejects.toThrow(/ERR_CERT_AUTHORITY_INVALID/);
    } finally {
      await browser.close();
    }
  }, BROWSER_STEP_TIMEOUT_MS * 2);
});

describeBrowserJourney({
  run: 'nginx-https',
  renewal: 'on-the-page',
  site: () => {
    const { stack, certificate } = started();
    return {
      site: stack.site,
      providerOrigin: stack.op.url,
      cookies: { session: SESSION_COOKIE, statePrefix: `${STATE_COOKIE}.`, secure: true, sessionSameSite: 'None', stateSameSite: 'Lax' },
      sessionExpirySeconds: SESSION_EXPIRY_SECONDS,
      advanceServiceClock: (seconds) => stack.service.advance(seconds),
      chromium: { loopbackHosts: [HOST_NAME], trustedSpkiHashes: [certificate.spkiSha256] },
    };
  },
});
