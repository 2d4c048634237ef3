import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar } from '../../support/cookie-jar.js';
import { createTestKey, startHostileProvider, type HostileBehaviour, type HostileProvider } from '../../support/hostile-provider.js';
import { startService, type TestService } from '../../support/service.js';
import { APP, callApi, expectLoginSucceeds, expectNoSecretInLog, expectRefused, startLogin, visit, type Rig } from './rig.js';

/** Two MiB: past the 1 MiB our fetch reads from any provider response. */
const OVERSIZED = `{"issuer":"${'x'.repeat(2 * 1024 * 1024)}"}`;

/** Small deadlines so stalls cost a fraction of a second; no retries so each attempt is one request. */
const QUICK = { timeoutSeconds: 0.5, maxRetries: 0 } as const;

const HOSTILE: Readonly<Record<string, Partial<HostileBehaviour>>> = {
  good: {},
  'issuer-other': { discovery: { issuer: 'https://login.attacker.example' } },
  'issuer-slash': {},
  'discovery-oversized': { discoveryAnswer: { body: OVERSIZED } },
  'discovery-streamed': { discoveryAnswer: { body: OVERSIZED, declareLength: false } },
  'discovery-stalled': { discoveryAnswer: 'stall' },
  'discovery-not-json': { discoveryAnswer: { body: '<html>welcome</html>', contentType: 'text/html' } },
  'jwks-oversized': { jwksAnswer: { body: OVERSIZED, declareLength: false } },
  'jwks-stalled': { jwksAnswer: 'stall' },
  'token-oversized': { tokenAnswer: { body: OVERSIZED } },
  'token-stalled': { tokenAnswer: 'stall' },
};

describe('a provider whose discovery, key set or token endpoint misbehaves', () => {
  const providers = new Map<string, HostileProvider>();
  let service: TestService;

  beforeAll(async () => {
    const initialKey = await createTestKey('key-1');
    for (const [name, baseline] of Object.entries(HOSTILE)) providers.set(name, await startHostileProvider({ baseline, initialKey }));
    // The discovery document names the issuer with a trailing slash; the configuration does not.
    const slash = providers.get('issuer-slash');
    slash?.behave({ discovery: { issuer: `${slash.issuer}/` } });
    service = await startService({
      middlewares: [...providers].map(([name, provider]) => ({ name, issuer: provider.issuer, clientConfig: QUICK })),
      awaitProviders: false,
    });
    for (const provider of providers.values()) provider.useClock(service.now);
    // One discovery attempt each, awaited: no waiting on the background retry schedule.
    await Promise.all([...service.app.middlewares.values()].map((runtime) => runtime.provider.discover()));
  });
  afterAll(async () => {
    await service?.stop();
    for (const provider of providers.values()) await provider.stop();
  });

  function rigFor(name: string): Rig {
    const provider = providers.get(name);
    if (provider === undefined) throw new Error(`no provider ${name}`);
    return { provider, service, stop: () => Promise.resolve() };
  }

  async function readiness(): Promise<{ status: number; body: { middlewares: Record<string, { status: string; lastError?: string }> } }> {
    const response = await request(`${service.origin}/readyz`);
    return { status: response.statusCode, body: (await response.body.json()) as never };
  }

  describe('discovery', () => {
    const CASES: readonly (readonly [string, string, string])[] = [
      ['issuer-other', 'names another issuer', 'OFA_DISCOVERY_ISSUER_MISMATCH'],
      ['issuer-slash', 'names the issuer with a trailing slash the configuration does not have', 'OFA_DISCOVERY_ISSUER_MISMATCH'],
      ['discovery-oversized', 'declares a body larger than the cap', 'OFA_PROVIDER_RESPONSE'],
      ['discovery-streamed', 'streams a body larger than the cap without declaring its length', 'OFA_PROVIDER_RESPONSE'],
      ['discovery-stalled', 'never answers', 'OFA_PROVIDER_TIMEOUT'],
      ['discovery-not-json', 'is not JSON', 'OFA_PROVIDER_RESPONSE'],
    ];

    for (const [name, what, code] of CASES) {
      it(`keeps the middleware unavailable (503), says why in /readyz and allows no login when the document ${what}`, async () => {
        const rig = rigFor(name);
        const ready = await readiness();
        expect(ready.status).toBe(503);
        expect(ready.body.middlewares[name]?.status).toBe('failed');
        expect(ready.body.middlewares[name]?.lastError).toContain(code);

        const jar = createCookieJar();
        const page = await visit(rig, `${APP}/private`, jar, name);
        expect(page.status).toBe(503);
        expect(page.location).toBeUndefined();
        expect(page.authSetCookies).toEqual([]);
        // An attacker's callback changes nothing either.
        const callback = await visit(rig, `${APP}/callback?code=forged&state=${'A'.repeat(43)}&iss=${encodeURIComponent(rig.provider.issuer)}`, jar, name);
        await expectRefused(rig, callback, jar, { status: 400, name });
        // After another attempt it is still refused: nothing from this provider is ever trusted.
        await service.app.middlewares.get(name)?.provider.discover();
        expect((await visit(rig, `${APP}/private`, jar, name)).status).toBe(503);
        expect(rig.provider.count('/authorize')).toBe(0);
        expect(rig.provider.count('/token')).toBe(0);
      });
    }

    it('leaves the other middlewares working', async () => {
      await expectLoginSucceeds(rigFor('good'), 'good');
      expect((await readiness()).body.middlewares.good?.status).toBe('ready');
    });

    it('never logs the oversized document', () => {
      expect(service.logger.text()).not.toContain('x'.repeat(64));
      expectNoSecretInLog(rigFor('good'));
    });
  });

  describe('after discovery', () => {
    const CASES: readonly (readonly [string, string, number, string])[] = [
      ['jwks-oversized', 'the key set is larger than the cap', 502, 'OFA_PROVIDER_RESPONSE'],
      ['jwks-stalled', 'the key set never arrives', 504, 'OFA_PROVIDER_TIMEOUT'],
      ['token-oversized', 'the token response is larger than the cap', 502, 'OFA_PROVIDER_RESPONSE'],
      ['token-stalled', 'the token endpoint never answers', 504, 'OFA_PROVIDER_TIMEOUT'],
    ];

    for (const [name, what, status, code] of CASES) {
      it(`refuses the login with ${status} and no session when ${what}`, async () => {
        const rig = rigFor(name);
        const { jar, callbackUrl } = await startLogin(rig, createCookieJar(), name);
        const callback = await visit(rig, callbackUrl.href, jar, name);
        await expectRefused(rig, callback, jar, { status, code, name });
        // The service is still there and answers the next request at once.
        expect((await callApi(rig, jar, name)).status).toBe(401);
      });
    }
  });
});
