/**
 * Headless Chromium (Debian's package) driven by playwright-core, quiet and self-contained: no
 * background networking, no sync, no component updates. A missing binary fails the test (never a
 * skip): install it with `bash deploy/install-deps.sh`.
 */
import { chromium, type Browser, type BrowserContext } from 'playwright-core';
import { findBinary } from '../deploy/binaries.js';

const QUIET_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Chromium starts slowly on a loaded two-core machine; every step gets this long. */
export const BROWSER_STEP_TIMEOUT_MS = 60_000;

export interface ChromiumOptions {
  /** Host names Chromium resolves to 127.0.0.1 (`--host-resolver-rules`), e.g. app.oidc.test. */
  readonly loopbackHosts?: readonly string[];
  /**
   * base64 SHA-256 SPKI hashes of certificates Chromium accepts as trusted, as it would a
   * certificate from a CA in its store. Nothing else is waved through: no ignoreHTTPSErrors.
   */
  readonly trustedSpkiHashes?: readonly string[];
}

export function findChromiumBinary(): string {
  return findBinary('chromium', ['/usr/bin']);
}

export function launchChromium(options: ChromiumOptions = {}): Promise<Browser> {
  const args = [...QUIET_ARGS];
  const hosts = options.loopbackHosts ?? [];
  if (hosts.length > 0) args.push(`--host-resolver-rules=${hosts.map((host) => `MAP ${host} 127.0.0.1`).join(',')}`);
  const spki = options.trustedSpkiHashes ?? [];
  if (spki.length > 0) args.push(`--ignore-certificate-errors-spki-list=${spki.join(',')}`);
  return chromium.launch({ executablePath: findChromiumBinary(), headless: true, args, timeout: BROWSER_STEP_TIMEOUT_MS });
}

/** A fresh profile (its own cookie jar) whose every wait allows for a slow machine. */
export async function newBrowserContext(browser: Browser): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  context.setDefaultTimeout(BROWSER_STEP_TIMEOUT_MS);
  context.setDefaultNavigationTimeout(BROWSER_STEP_TIMEOUT_MS);
  return context;
}
