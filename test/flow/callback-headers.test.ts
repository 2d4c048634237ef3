/**
 * Every answer to the callback path leaks nothing through Referer or caches: the redirect back,
 * each error page (HTML or JSON) and the 503 of a provider that is down all carry
 * `Cache-Control: no-store` and `Referrer-Policy: no-referrer`. The callback URL holds a code and
 * a state; a page the browser loads next must not receive it in its Referer.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar } from '../support/cookie-jar.js';
import { forwardAuth, NAVIGATION_HEADERS, type ForwardAuthResult } from '../support/forward-auth-client.js';
import { completeLogin, TEST_APP_ORIGIN } from '../support/op.js';
import { findFreePort } from '../support/scripted-server.js';
import { TEST_SECRET, type TestService } from '../support/service.js';
import { useStack } from '../support/stack.js';
import { createSealer } from '../../src/session/seal.js';
import { sealLoginFlow } from '../../src/session/state-cookie.js';

const APP = TEST_APP_ORIGIN;

function expectLeaksNothing(result: ForwardAuthResult, label: string): void {
  expect(result.headers['cache-control'], label).toBe('no-store');
  expect(result.headers['referrer-policy'], label).toBe('no-referrer');
}

describe('answers to the callback path', () => {
  const stack = useStack(async () => {
    const deadPort = await findFreePort();
    return {
      service: {
        awaitProviders: false,
        middlewares: ({ issuer }) => [
          { name: 'test', issuer },
          { name: 'down', issuer: `http://127.0.0.1:${deadPort}`, clientConfig: { timeoutSeconds: 1, maxRetries: 0 } },
        ],
      },
    };
  });
  let service: TestService;
  beforeAll(async () => {
    ({ service } = stack());
    await service.app.middlewares.get('test')?.provider.ready();
  });

  const visit = (url: string, jar = createCookieJar(), accept = NAVIGATION_HEADERS.accept ?? '', name = 'test') =>
    forwardAuth(service.authAddress(name), { url, headers: { ...NAVIGATION_HEADERS, accept } }, jar);

  it('carry no-store and no-referrer on the redirect back after a login', async () => {
    const jar = createCookieJar();
    const start = await visit(`${APP}/private`, jar);
    const callbackUrl = await completeLogin(start.location ?? '', { user: 'alice', jar: createCookieJar() });
    const back = await visit(callbackUrl, jar);
    expect(back.status).toBe(302);
    expectLeaksNothing(back, 'redirect back');
    // Other answers keep their headers as they were: no-store, and no Referrer-Policy of ours.
    const allowed = await visit(`${APP}/private`, jar);
    expect(allowed.status).toBe(200);
    expect(allowed.headers['referrer-policy']).toBeUndefined();
  });

  it('carry no-store and no-referrer on every error page, HTML or JSON', async () => {
    const jar = createCookieJar();
    const start = await visit(`${APP}/private`, jar);
    const state = new URL(start.location ?? '').searchParams.get('state') ?? '';
    const answers: [string, ForwardAuthResult][] = [
      ['provider error', await visit(`${APP}/callback?error=access_denied&state=${state}`, jar)],
      ['no state', await visit(`${APP}/callback?code=x`)],
      ['no state, JSON', await visit(`${APP}/callback?code=x`, createCookieJar(), 'application/json')],
      ['unknown state', await visit(`${APP}/callback?code=x&state=${'A'.repeat(43)}`, jar)],
    ];
    const fresh = createCookieJar();
    const again = await visit(`${APP}/private`, fresh);
    const againState = new URL(again.location ?? '').searchParams.get('state') ?? '';
    answers.push(['rejected code', await visit(`${APP}/callback?code=not-a-code&state=${againState}`, fresh)]);
    for (const [label, result] of answers) {
      expect(result.status, label).toBeGreaterThanOrEqual(400);
      expectLeaksNothing(result, label);
    }
  });

  it('carry no-store and no-referrer on the 503 of a provider that is down', async () => {
    // A login started before the provider went away: its state cookie opens, the provider is not there.
    const down = service.config.middlewares.down;
    if (down === undefined) throw new Error('middleware "down" missing');
    const state = 'B'.repeat(43);
    const flow = { state, nonce: 'n'.repeat(43), returnTo: `${APP}/private`, redirectUri: `${APP}/callback`, viaLoginUrl: false, createdAt: service.now() };
    const sealed = sealLoginFlow(createSealer([TEST_SECRET]), down, down.stateCookie.name, flow);
    const jar = createCookieJar();
    jar.setCookie(`${sealed.cookieName}=${sealed.value}; Path=/`, APP);
    const result = await visit(`${APP}/callback?code=x&state=${state}`, jar, undefined, 'down');
    expect(result.status).toBe(503);
    expectLeaksNothing(result, '503');
  });
});
