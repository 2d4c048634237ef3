import { beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar, type CookieJar } from '../support/cookie-jar.js';
import { forwardAuth, NAVIGATION_HEADERS, type ForwardAuthResult } from '../support/forward-auth-client.js';
import { completeLogin, TEST_APP_ORIGIN } from '../support/op.js';
import type { TestService } from '../support/service.js';
import { useStack } from '../support/stack.js';

const APP = TEST_APP_ORIGIN;

describe('the callback', () => {
  const stack = useStack({ service: { middlewares: ({ issuer }) => [{ name: 'test', issuer }] } });
  let service: TestService;
  beforeAll(() => {
    ({ service } = stack());
  });

  async function startLogin(jar: CookieJar): Promise<ForwardAuthResult> {
    return forwardAuth(service.authAddress(), { url: `${APP}/private`, headers: NAVIGATION_HEADERS }, jar);
  }

  async function visit(url: string, jar: CookieJar, accept = NAVIGATION_HEADERS.accept): Promise<ForwardAuthResult> {
    return forwardAuth(service.authAddress(), { url, headers: { ...NAVIGATION_HEADERS, accept: accept ?? '' } }, jar);
  }

  function expectNoSession(result: ForwardAuthResult, jar: CookieJar): void {
    expect(result.authSetCookies.filter((c) => c.startsWith('test-session=') && !c.includes('Max-Age=0'))).toEqual([]);
    expect(jar.get('test-session')).toBeUndefined();
  }

  it('shows a clear page, without markup from the provider, when the provider answers error=', async () => {
    const jar = createCookieJar();
    const start = await startLogin(jar);
    const state = new URL(start.location ?? '').searchParams.get('state') ?? '';
    const url = `${APP}/callback?error=access_denied&error_description=${encodeURIComponent('<script>alert(1)</script>')}&state=${state}`;
    const result = await visit(url, jar);
    expect(result.status).toBe(401);
    expect(result.headers['content-type']).toContain('text/html');
    expect(result.body).toContain('access_denied');
    expect(result.body).not.toContain('<script>');
    expect(result.body).toContain('Try again');
    expectNoSession(result, jar);
    expect(jar.all().filter((c) => c.name.startsWith('test-state.'))).toEqual([]);
  });

  it('answers JSON to a client that does not want HTML', async () => {
    const result = await visit(`${APP}/callback?code=x`, createCookieJar(), 'application/json');
    expect(result.status).toBe(400);
    expect(JSON.parse(result.body)).toEqual({ error: 'OFA_CALLBACK_STATE_MISSING', message: expect.any(String) });
  });

  it('refuses a response without state, with a mismatched state, or with two states', async () => {
    const jar = createCookieJar();
    const start = await startLogin(jar);
    const callback = new URL(await completeLogin(start.location ?? '', { user: 'alice', jar: createCookieJar() }));
    const code = callback.searchParams.get('code') ?? '';
    const state = callback.searchParams.get('state') ?? '';
    const iss = encodeURIComponent(callback.searchParams.get('iss') ?? '');
    const noState = await visit(`${APP}/callback?code=${code}&iss=${iss}`, jar);
    expect(noState.status).toBe(400);
    const otherState = await visit(`${APP}/callback?code=${code}&state=${'A'.repeat(43)}&iss=${iss}`, jar);
    expect(otherState.status).toBe(400);
    expect(otherState.body).toContain('OFA_CALLBACK_STATE_MISMATCH');
    const twoStates = await visit(`${APP}/callback?code=${code}&state=${state}&state=${state}&iss=${iss}`, jar);
    expect(twoStates.status).toBe(400);
    for (const result of [noState, otherState, twoStates]) expectNoSession(result, jar);
  });

  it('refuses a state cookie that has expired', async () => {
    const jar = createCookieJar();
    const start = await startLogin(jar);
    const callback = await completeLogin(start.location ?? '', { user: 'alice', jar: createCookieJar() });
    service.advance(601);
    try {
      const result = await visit(callback, jar);
      expect(result.status).toBe(400);
      expect(result.body).toContain('OFA_CALLBACK_STATE_');
      expectNoSession(result, jar);
    } finally {
      service.advance(-601);
    }
  });

  it('refuses a code the provider does not know, with 400 and no session', async () => {
    const jar = createCookieJar();
    const start = await startLogin(jar);
    const callback = new URL(await completeLogin(start.location ?? '', { user: 'alice', jar: createCookieJar() }));
    callback.searchParams.set('code', 'not-a-code-the-provider-issued');
    const result = await visit(callback.href, jar);
    expect(result.status).toBe(400);
    expect(result.body).toContain('OFA_CALLBACK_CODE_REJECTED');
    expectNoSession(result, jar);
  });

  it('refuses a response with two codes', async () => {
    const jar = createCookieJar();
    const start = await startLogin(jar);
    const callback = new URL(await completeLogin(start.location ?? '', { user: 'alice', jar: createCookieJar() }));
    callback.searchParams.append('code', 'second');
    const result = await visit(callback.href, jar);
    expect(result.status).toBe(400);
    expectNoSession(result, jar);
  });

  it('creates nothing when a callback URL is used a second time', async () => {
    const jar = createCookieJar();
    const start = await startLogin(jar);
    const callback = await completeLogin(start.location ?? '', { user: 'alice', jar: createCookieJar() });
    const first = await visit(callback, jar);
    expect(first.status).toBe(302);
    // Replayed from another browser that holds a copy of the state cookie from before the callback.
    const replayJar = createCookieJar();
    replayJar.setCookies(start.setCookies, `${APP}/private`);
    const replay = await visit(callback, replayJar);
    expect(replay.status).toBe(400);
    expect(replay.body).toContain('OFA_CALLBACK_CODE_REJECTED');
    expectNoSession(replay, replayJar);
    // And in the same browser, whose state cookie is gone.
    const again = await visit(callback, jar);
    expect(again.status).toBe(400);
  });

  it('never passes the callback on to the application', async () => {
    const jar = createCookieJar();
    const result = await visit(`${APP}/callback`, jar);
    expect(result.status).not.toBe(200);
  });
});
