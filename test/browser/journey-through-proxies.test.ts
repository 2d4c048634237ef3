/**
 * Headless Chromium through each real proxy running its shipped recipe: nginx over plain HTTP and
 * over HTTPS (as production runs it), Caddy (Debian's 2.6.2 and the current v2 release) over plain
 * HTTP, Traefik v3 and v2.11 over HTTPS (the shipped dynamic.yml's router asks for TLS). Sign-in on
 * the real provider's form, identity on the application's page, a sliding renewal (on the page's
 * own answer where the proxy passes a 2xx auth answer's cookie, else on a 302 back to the same
 * page), sign-out. HTTPS sites use a certificate for app.oidc.test from a CA made here, the name
 * mapped to 127.0.0.1 in Chromium, which trusts that certificate's key (it ignores no certificate
 * error). Behind nginx's HTTPS the cookies are what the README asks for: `secure`, a `__Host-`
 * session cookie with SameSite=None, and a `__Host-` login-state cookie with SameSite=Lax that must
 * ride the provider's cross-site redirect back (the provider stays on http://127.0.0.1, another
 * site). Screenshots land in test-artifacts/browser/<run>/.
 */
import { readFileSync } from 'node:fs';
import { connect } from 'node:tls';
import type { Cookie } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CookieOptions } from '../../src/config/types.js';
import type { CaddyBuild } from '../deploy/caddy-process.js';
import type { ProxySpec } from '../deploy/proxy.js';
import type { TraefikPeer } from '../deploy/traefik-process.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { PROXIED_MIDDLEWARE, useStack, type Stack } from '../support/stack.js';
import { BROWSER_STEP_TIMEOUT_MS, launchChromium, newBrowserContext } from './chromium.js';
import { describeBrowserJourney, type JourneyOptions } from './journey.js';
import { createSiteCertificate, type SiteCertificate } from './site-certificate.js';

const HOST_NAME = 'app.oidc.test';
const SESSION_EXPIRY_SECONDS = 600;
const FORWARD_HEADERS = { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups' };

type CookieChoice = Pick<CookieOptions, 'name' | 'secure' | 'sameSite'>;

interface JourneyRun {
  /** The screenshots' folder, which also names the proxy in the test names. */
  readonly run: string;
  readonly proxy: { readonly kind: 'nginx' } | { readonly kind: 'caddy'; readonly build: CaddyBuild } | { readonly kind: TraefikPeer };
  readonly https: boolean;
  readonly renewal: JourneyOptions['renewal'];
  readonly session: CookieChoice;
  readonly stateCookie: CookieChoice;
}

const PLAIN_COOKIES = {
  session: { name: `${PROXIED_MIDDLEWARE}-session`, secure: false, sameSite: 'lax' },
  stateCookie: { name: `${PROXIED_MIDDLEWARE}-state`, secure: false, sameSite: 'lax' },
} as const;
const SECURE_COOKIES = {
  session: { name: `${PROXIED_MIDDLEWARE}-session`, secure: true, sameSite: 'lax' },
  stateCookie: { name: `${PROXIED_MIDDLEWARE}-state`, secure: true, sameSite: 'lax' },
} as const;

const RUNS: readonly JourneyRun[] = [
  { run: 'nginx-http', proxy: { kind: 'nginx' }, https: false, renewal: 'on-the-page', ...PLAIN_COOKIES },
  {
    run: 'nginx-https',
    proxy: { kind: 'nginx' },
    https: true,
    renewal: 'on-the-page',
    session: { name: '__Host-app-session', secure: true, sameSite: 'none' },
    stateCookie: { name: '__Host-app-state', secure: true, sameSite: 'lax' },
  },
  { run: 'caddy-http', proxy: { kind: 'caddy', build: 'debian' }, https: false, renewal: 'redirect-to-same-url', ...PLAIN_COOKIES },
  { run: 'caddy-current-http', proxy: { kind: 'caddy', build: 'current' }, https: false, renewal: 'redirect-to-same-url', ...PLAIN_COOKIES },
  { run: 'traefik-v3', proxy: { kind: 'traefik-v3' }, https: true, renewal: 'on-the-page', ...SECURE_COOKIES },
  { run: 'traefik-v2', proxy: { kind: 'traefik-v2' }, https: true, renewal: 'redirect-to-same-url', ...SECURE_COOKIES },
];

let certificate: SiteCertificate | undefined;

beforeAll(async () => {
  certificate = await createSiteCertificate(HOST_NAME);
});

afterAll(async () => {
  await certificate?.cleanup();
});

function siteCertificate(): SiteCertificate {
  if (certificate === undefined) throw new Error('the site certificate was not made');
  return certificate;
}

/** The shipped recipe of the run's proxy, over HTTPS with the site's certificate where the run says so. */
function proxySpec(run: JourneyRun): ProxySpec {
  const { proxy } = run;
  if (proxy.kind === 'caddy') return { kind: 'caddy', build: proxy.build, copyHeaders: Object.keys(FORWARD_HEADERS) };
  if (proxy.kind === 'nginx') return run.https ? { kind: 'nginx', tls: siteCertificate() } : { kind: 'nginx' };
  const { certFile, keyFile, ca } = siteCertificate();
  return {
    kind: proxy.kind,
    additions: proxy.kind === 'traefik-v2' ? ['traefik-v2'] : [],
    certificate: { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), ca },
    host: HOST_NAME,
    underscoreHeadersStrategy: 'delete',
  };
}

const SAME_SITE: Readonly<Record<CookieChoice['sameSite'], Cookie['sameSite']>> = { lax: 'Lax', strict: 'Strict', none: 'None' };

for (const run of RUNS) {
  describe(run.run, () => {
    const stack = useStack(() => ({
      proxies: [proxySpec(run)],
      service: {
        middlewares: ({ issuer }) => {
          const defaults = makeMiddlewareConfig({ name: PROXIED_MIDDLEWARE });
          return [
            {
              name: PROXIED_MIDDLEWARE,
              issuer,
              redirectUrl: '/callback',
              logoutUrl: '/logout',
              postLogoutRedirectUrl: '/',
              forwardHeaders: FORWARD_HEADERS,
              session: { ...defaults.session, ...run.session, expiry: SESSION_EXPIRY_SECONDS, sliding: true },
              stateCookie: { ...defaults.stateCookie, ...run.stateCookie },
            },
          ];
        },
      },
    }));

    if (run.run === 'nginx-https') describeHttpsSite(stack);

    describeBrowserJourney({
      run: run.run,
      renewal: run.renewal,
      site: () => {
        const { site, op, service } = stack();
        return {
          site,
          providerOrigin: op.url,
          cookies: {
            session: run.session.name,
            statePrefix: `${run.stateCookie.name}.`,
            secure: run.https,
            sessionSameSite: SAME_SITE[run.session.sameSite],
            stateSameSite: SAME_SITE[run.stateCookie.sameSite],
          },
          sessionExpirySeconds: SESSION_EXPIRY_SECONDS,
          advanceServiceClock: (seconds) => service.advance(seconds),
          chromium: run.https ? { loopbackHosts: [HOST_NAME], trustedSpkiHashes: [siteCertificate().spkiSha256] } : {},
        };
      },
    });
  });
}

/** What only the HTTPS site behind nginx checks: the certificate it serves, and a Chromium that does not trust it. */
function describeHttpsSite(stack: () => Stack): void {
  describe('the HTTPS site', () => {
    it(`serves a certificate that chains to the test CA and names ${HOST_NAME}`, async () => {
      const { ca } = siteCertificate();
      const socket = connect({ host: '127.0.0.1', port: stack().proxy.port, servername: HOST_NAME, ca });
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
      const browser = await launchChromium({ loopbackHosts: [HOST_NAME] });
      try {
        const page = await (await newBrowserContext(browser)).newPage();
        await expect(page.goto(`${stack().site}/`)).rejects.toThrow(/ERR_CERT_AUTHORITY_INVALID/);
      } finally {
        await browser.close();
      }
    }, BROWSER_STEP_TIMEOUT_MS * 2);
  });
}
