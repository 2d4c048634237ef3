/**
 * Issue 17 item 9: an identity too large for a session (1,000 groups and a 64 KB claim) released
 * by a real provider through a real sign-in. The sign-in ends with the code that says what
 * happened, never a provider failure; an error that is not ours is logged with its cause, and no
 * line or page carries a token or a cookie value.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sessionPurpose } from '../../../src/session/sealed-session.js';
import { createCookieSessionStore } from '../../../src/session/cookie-store.js';
import { createSealer } from '../../../src/session/seal.js';
import type { SessionStore } from '../../../src/session/store.js';
import { createCookieJar } from '../../support/cookie-jar.js';
import { forwardAuth, NAVIGATION_HEADERS, type ForwardAuthResult } from '../../support/forward-auth-client.js';
import { makeMiddlewareConfig } from '../../support/middleware-config.js';
import { completeLogin, DEV_USERS, startTestProvider, TEST_APP_ORIGIN, type DevProvider } from '../../support/op.js';
import { startService, TEST_SECRET, type TestService } from '../../support/service.js';

/** Random names do not deflate away: 1,000 of them are ~45 KB however they are stored. */
const GROUPS = Array.from({ length: 1000 }, (_, i) => `g${i}-${randomBytes(20).toString('hex')}`);
const BIG_CLAIM = randomBytes(48 * 1024).toString('base64');
const FIRST_GROUP = GROUPS[0] ?? '';

describe('an identity too large for a session', () => {
  let op: DevProvider;
  let service: TestService;

  beforeAll(async () => {
    op = await startTestProvider({
      users: {
        ...DEV_USERS,
        hoarder: { password: 'hoarder', claims: { email: 'hoarder@example.com', groups: GROUPS, profile_blob: BIG_CLAIM } },
      },
      claimsByScope: { openid: ['sub', 'email', 'groups', 'profile_blob'] },
    });
    const faultyStore = faultyCookieStore('faulty');
    service = await startService({
      middlewares: [
        // Reads the groups and the big claim: the session must keep them, and cannot.
        { name: 'groups', issuer: op.issuer, forwardHeaders: { 'X-User': 'email', 'X-Profile': 'profile_blob' }, claims: `Contains(\`groups\`, \`${FIRST_GROUP}\`)` },
        // Reads only the email: the big claims bloat the ID token alone.
        { name: 'email', issuer: op.issuer, forwardHeaders: { 'X-User': 'email' } },
        { name: 'faulty', issuer: op.issuer, forwardHeaders: { 'X-User': 'email' } },
      ],
      stores: { faulty: faultyStore },
    });
  });
  afterAll(async () => {
    await service?.stop();
    await op?.stop();
  });

  async function signIn(middleware: string): Promise<{ callback: ForwardAuthResult; callbackUrl: string; final: ForwardAuthResult | undefined }> {
    const jar = createCookieJar();
    const navigate = (url: string): Promise<ForwardAuthResult> =>
      forwardAuth(service.authAddress(middleware), { url, headers: NAVIGATION_HEADERS }, jar, { authResponseHeaders: ['X-User'] });
    const first = await navigate(`${TEST_APP_ORIGIN}/private`);
    expect(first.status).toBe(302);
    const callbackUrl = await completeLogin(first.location ?? '', { user: 'hoarder' });
    const callback = await navigate(callbackUrl);
    const final = callback.status === 302 && callback.location !== undefined ? await navigate(callback.location) : undefined;
    return { callback, callbackUrl, final };
  }

  function expectNoSecretsIn(text: string, callbackUrl: string): void {
    const params = new URL(callbackUrl).searchParams;
    for (const value of [params.get('code'), params.get('state'), BIG_CLAIM.slice(0, 64)]) {
      if (value !== null && value !== '') expect(text).not.toContain(value);
    }
    expect(text).not.toMatch(/eyJ[A-Za-z0-9_-]{10,}\.eyJ/);
  }

  it('ends the sign-in with 401 OFA_SESSION_TOO_LARGE when the claims the configuration reads cannot fit, and logs that', async () => {
    const { callback, callbackUrl } = await signIn('groups');
    expect(callback.status).toBe(401);
    expect(callback.body).toContain('Your identity carries more than a session cookie can hold.');
    expect(callback.body).not.toContain('The identity provider refused');
    expect(callback.authSetCookies.some((cookie) => !/Max-Age=0|Expires=Thu, 01 Jan 1970/i.test(cookie))).toBe(false);
    const line = service.logger.records.find((record) => record.msg === 'login failed at the callback' && record.middleware === 'groups');
    expect(line?.code).toBe('OFA_SESSION_TOO_LARGE');
    expect(String(line?.reason)).toMatch(/^the claims this configuration keeps take \d+ bytes/);
    expectNoSecretsIn(service.logger.text() + callback.body, callbackUrl);
  });

  it('signs in when only the ID token is too large: the raw token (id_token_hint) is the part left out', async () => {
    const { callback, final } = await signIn('email');
    expect(callback.status).toBe(302);
    expect(final?.status).toBe(200);
    expect(final?.forwardedHeaders['x-user']).toBe('hoarder@example.com');
  });

  it('answers an unexpected error with OFA_INTERNAL and logs its cause, not a provider refusal', async () => {
    const { callback, callbackUrl } = await signIn('faulty');
    expect(callback.status).toBe(500);
    expect(callback.body).not.toContain('The identity provider refused');
    const line = service.logger.records.find((record) => record.middleware === 'faulty' && String(record.msg).startsWith('login failed at the callback'));
    expect(line?.level).toBe(50);
    expect(line?.code).toBe('OFA_INTERNAL');
    const cause = line?.cause as { type?: string; message?: string; at?: string[] } | undefined;
    expect(cause?.type).toBe('RangeError');
    expect(cause?.message).toContain('disk quota [redacted]');
    expect(cause?.at?.length).toBeGreaterThan(0);
    expectNoSecretsIn(service.logger.text() + callback.body, callbackUrl);
  });
});

/**
 * A mock where the real thing cannot fail on cue: the real cookie store, except that keeping a
 * new session throws an error that is none of ours, its message carrying a token-shaped value.
 */
function faultyCookieStore(name: string): SessionStore {
  const middleware = makeMiddlewareConfig({ name, issuer: 'http://127.0.0.1:1' });
  const base = createCookieSessionStore({ sealer: createSealer([TEST_SECRET]), purpose: sessionPurpose(middleware), sessionLifetimeSeconds: middleware.session.expiry });
  return {
    ...base,
    async create() {
      throw new RangeError(`disk quota ${randomBytes(24).toString('base64url')} exceeded`);
    },
  };
}
