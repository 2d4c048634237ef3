/**
 * What a user does through a proxy recipe, in real headless Chromium: opens a protected page, signs
 * in on the provider's form, works, stays signed in past the session's first expiry because the
 * session slides, and signs out. Each step leaves a screenshot. The proxy, the service, the provider
 * and the application are started by the test file that calls `describeBrowserJourney`.
 */
import type { Browser, BrowserContext, Cookie, Page, Request } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium, newBrowserContext, BROWSER_STEP_TIMEOUT_MS, type ChromiumOptions } from './chromium.js';
import { createStepScreenshots, expectPngFile, type StepScreenshots } from './screenshots.js';

export interface JourneyCookies {
  /** The session cookie's name. */
  readonly session: string;
  /** The login-state cookies' names start with this (`NAME-state.`). */
  readonly statePrefix: string;
  /** Whether the browser must have stored both as Secure. */
  readonly secure: boolean;
  readonly sessionSameSite: Cookie['sameSite'];
  readonly stateSameSite: Cookie['sameSite'];
}

/** Known once the test file's beforeAll has started everything. */
export interface JourneySite {
  /** The origin the browser opens, e.g. https://app.oidc.test:PORT. */
  readonly site: string;
  /** The provider's origin, where its login form and end-session page live. */
  readonly providerOrigin: string;
  readonly cookies: JourneyCookies;
  readonly sessionExpirySeconds: number;
  /** Moves the service's clock: session lifetimes pass without waiting. */
  advanceServiceClock(seconds: number): void;
  readonly chromium: ChromiumOptions;
}

export interface JourneyOptions {
  /** Folder under test-artifacts/browser/ for the screenshots, e.g. nginx-https. */
  readonly run: string;
  /**
   * How the proxy hands a renewed cookie to the browser (README, "How sessions renew"): nginx on
   * the page's own 2xx answer, Caddy on a 302 back to the same URL.
   */
  readonly renewal: 'on-the-page' | 'redirect-to-same-url';
  readonly site: () => JourneySite;
}

const PAGE_PATH = '/private/journey?tab=1';
/** Each step may wait on several slow page loads. */
const STEP_TIMEOUT_MS = BROWSER_STEP_TIMEOUT_MS * 2;
const STEPS = ['provider-login', 'signed-in', 'renewed', 'provider-sign-out', 'signed-out'];

export function describeBrowserJourney(options: JourneyOptions): void {
  describe(`headless Chromium through ${options.run}`, () => {
    let browser: Browser | undefined;
    let context: BrowserContext;
    let page: Page;
    let shots: StepScreenshots;
    let site: JourneySite;
    let pageUrl: string;
    let laterUrl: string;

    beforeAll(async () => {
      site = options.site();
      pageUrl = `${site.site}${PAGE_PATH}`;
      laterUrl = `${pageUrl}&later=1`;
      shots = createStepScreenshots(options.run);
      browser = await launchChromium(site.chromium);
      context = await newBrowserContext(browser);
      // The favicon fetch that follows each page load would race the step's own request for a
      // sliding renewal; the application has no icon anyway.
      await context.route('**/favicon.ico', (route) => route.fulfill({ status: 204 }));
      page = await context.newPage();
    }, STEP_TIMEOUT_MS);

    afterAll(async () => {
      await browser?.close();
    });

    const cookieNamed = async (name: string): Promise<Cookie | undefined> =>
      (await context.cookies(site.site)).find((cookie) => cookie.name === name);
    const stateCookies = async (): Promise<Cookie[]> =>
      (await context.cookies(site.site)).filter((cookie) => cookie.name.startsWith(site.cookies.statePrefix));

    async function expectOnProviderLoginForm(): Promise<void> {
      await page.waitForURL((url) => url.href.startsWith(`${site.providerOrigin}/interaction/`));
      await page.locator('input[name="login"]').waitFor();
    }

    async function expectSignedInAsAlice(url: string): Promise<void> {
      expect(page.url()).toBe(url);
      expect(await page.textContent('#greeting')).toBe('Signed in as alice@example.com');
      const identity = await page.$$eval('tr.identity', (rows) =>
        rows.map((row) => [row.querySelector('th')?.textContent ?? '', row.querySelector('td')?.textContent ?? '']),
      );
      expect(Object.fromEntries(identity)).toEqual({ 'x-forwarded-user': 'alice@example.com', 'x-forwarded-groups': 'admin,dev' });
    }

    it("opens a protected page and lands on the provider's login form, holding one login-state cookie", async () => {
      await page.goto(pageUrl);
      await expectOnProviderLoginForm();
      await shots.take(page, 'provider-login');

      const states = await stateCookies();
      expect(states).toHaveLength(1);
      expect(attributesOf(states[0])).toEqual({ httpOnly: true, secure: site.cookies.secure, sameSite: site.cookies.stateSameSite, path: '/' });
      expect(await cookieNamed(site.cookies.session)).toBeUndefined();
    }, STEP_TIMEOUT_MS);

    it('signs in as alice on that form and comes back, state cookie and all, to the page showing her identity', async () => {
      const callback = page.waitForRequest((request) => request.url().startsWith(`${site.site}/callback?`));
      await page.fill('input[name="login"]', 'alice');
      await page.fill('input[name="password"]', 'alice');
      await Promise.all([page.waitForURL(pageUrl), page.click('button[type="submit"]')]);

      // The provider's redirect back is a cross-site navigation: the browser decides, by the state
      // cookie's SameSite and Secure, whether it rides along. Only its name is looked at.
      const sentOnCallback = cookieNames(await (await callback).headerValue('cookie'));
      expect(sentOnCallback.filter((name) => name.startsWith(site.cookies.statePrefix))).toHaveLength(1);

      await expectSignedInAsAlice(pageUrl);
      await shots.take(page, 'signed-in');
      const session = await cookieNamed(site.cookies.session);
      expect(attributesOf(session)).toEqual({ httpOnly: true, secure: site.cookies.secure, sameSite: site.cookies.sessionSameSite, path: '/' });
      expect(session?.expires).toBeGreaterThan(Date.now() / 1000);
      expect(await stateCookies()).toEqual([]);
    }, STEP_TIMEOUT_MS);

    it('renews the session cookie as she keeps working, and keeps her signed in past its first expiry without the provider', async () => {
      const first = await cookieNamed(site.cookies.session);
      if (first === undefined) throw new Error('no session cookie after signing in');
      const providerRequests: string[] = [];
      const recordProvider = (request: Request): void => {
        if (request.url().startsWith(site.providerOrigin)) providerRequests.push(new URL(request.url()).pathname);
      };
      context.on('request', recordProvider);
      try {
        // Two thirds of the lifetime: well past the point where a sliding session renews.
        const firstStep = Math.floor((site.sessionExpirySeconds * 2) / 3);
        site.advanceServiceClock(firstStep);
        const renewal = await page.goto(pageUrl);
        if (renewal === null) throw new Error('no answer to the page load');
        const redirectedFrom = renewal.request().redirectedFrom();
        if (options.renewal === 'redirect-to-same-url') {
          expect(redirectedFrom?.url()).toBe(pageUrl);
          const hop = await redirectedFrom?.response();
          expect(hop?.status()).toBe(302);
          expect(cookieNames(await hop?.headerValue('set-cookie'), /\n/)).toContain(site.cookies.session);
        } else {
          expect(redirectedFrom).toBeNull();
          expect(renewal.status()).toBe(200);
          expect(cookieNames(await renewal.headerValue('set-cookie'), /\n/)).toContain(site.cookies.session);
        }
        await expectSignedInAsAlice(pageUrl);
        const renewed = await cookieNamed(site.cookies.session);
        expect(renewed?.value === first.value, 'the session cookie has a new value').toBe(false);
        expect(renewed?.expires).toBeGreaterThan(first.expires);
        expect(attributesOf(renewed)).toEqual(attributesOf(first));

        // Past the first cookie's end by the service's clock: only the renewal keeps her in.
        const secondStep = Math.floor(site.sessionExpirySeconds / 2);
        expect(firstStep + secondStep).toBeGreaterThan(site.sessionExpirySeconds);
        site.advanceServiceClock(secondStep);
        await page.goto(laterUrl);
        await expectSignedInAsAlice(laterUrl);
        await shots.take(page, 'renewed');
        expect(providerRequests).toEqual([]);
      } finally {
        context.off('request', recordProvider);
      }

      // The first cookie alone, in a browser without a provider session, opens nothing any more.
      if (browser === undefined) throw new Error('no browser');
      const other = await newBrowserContext(browser);
      try {
        const { name, value, httpOnly, secure, sameSite } = first;
        await other.addCookies([{ name, value, httpOnly, secure, sameSite, url: site.site }]);
        const stranger = await other.newPage();
        await stranger.goto(laterUrl);
        await stranger.waitForURL((url) => url.href.startsWith(`${site.providerOrigin}/interaction/`));
      } finally {
        await other.close();
      }
    }, STEP_TIMEOUT_MS);

    it("signs out at /logout: the provider asks, she confirms, the session cookie is gone and the page leads to the provider's login again", async () => {
      await page.goto(`${site.site}/logout`);
      await page.waitForURL((url) => url.href.startsWith(`${site.providerOrigin}/session/end`));
      await shots.take(page, 'provider-sign-out');
      expect(await cookieNamed(site.cookies.session)).toBeUndefined();

      await page.click('button[name="logout"][value="yes"]');
      // Back at the post-logout page, which is protected: a new login starts at the provider.
      await expectOnProviderLoginForm();
      await shots.take(page, 'signed-out');
      expect(await cookieNamed(site.cookies.session)).toBeUndefined();

      await page.goto(laterUrl);
      await expectOnProviderLoginForm();
      expect(await cookieNamed(site.cookies.session)).toBeUndefined();
    }, STEP_TIMEOUT_MS);

    it('left a PNG screenshot of every step', () => {
      expect(shots.files.map((file) => file.slice(shots.dir.length + 1))).toEqual(
        STEPS.map((step, index) => `${String(index + 1).padStart(2, '0')}-${step}.png`),
      );
      for (const file of shots.files) expectPngFile(file);
    });
  });
}

/** What the browser stored about a cookie, without its value (which never goes into a test's output). */
function attributesOf(cookie: Cookie | undefined): Pick<Cookie, 'httpOnly' | 'secure' | 'sameSite' | 'path'> | undefined {
  if (cookie === undefined) return undefined;
  const { httpOnly, secure, sameSite, path } = cookie;
  return { httpOnly, secure, sameSite, path };
}

/** Cookie names from a Cookie header (`; `-separated) or from Set-Cookie lines. */
function cookieNames(header: string | null | undefined, separator: RegExp = /;\s*/): string[] {
  if (header === null || header === undefined) return [];
  return header
    .split(separator)
    .map((part) => part.split('=')[0]?.trim() ?? '')
    .filter((name) => name !== '');
}
