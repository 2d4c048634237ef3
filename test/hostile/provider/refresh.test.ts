import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CookieJar } from '../../support/cookie-jar.js';
import type { ForwardAuthResult } from '../../support/forward-auth-client.js';
import { createTestKey, HOSTILE_CLIENT_ID, type IdTokenRecipe } from '../../support/hostile-provider.js';
import { APP, callApi, expectLoginSucceeds, expectRefused, startRig, visit, type Rig } from './rig.js';

const ACCESS_TOKEN_TTL = 60;

describe('a refresh answered by a hostile provider', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig({ provider: { baseline: { expiresIn: ACCESS_TOKEN_TTL } } });
  });
  afterAll(async () => {
    await rig?.stop();
  });
  beforeEach(() => {
    rig.provider.reset();
  });

  function refreshGrants(): number {
    return rig.provider.tokenRequests().filter((r) => r.grantType === 'refresh_token').length;
  }

  /** Signs in, then lets the access token expire on the service's clock (the provider's follows it). */
  async function signedInWithExpiredAccessToken(): Promise<CookieJar> {
    const jar = await expectLoginSucceeds(rig);
    rig.service.advance(ACCESS_TOKEN_TTL + 10);
    return jar;
  }

  async function expectSessionEnded(result: ForwardAuthResult, jar: CookieJar): Promise<void> {
    expect(result.authSetCookies.some((c) => c.startsWith('test-session=;') && c.includes('Max-Age=0'))).toBe(true);
    await expectRefused(rig, result, jar, { status: 401 });
  }

  async function expectRefreshedIdTokenEndsSession(recipe: IdTokenRecipe): Promise<void> {
    const jar = await signedInWithExpiredAccessToken();
    rig.provider.behave({ refreshIdToken: recipe });
    const before = refreshGrants();
    const result = await callApi(rig, jar);
    expect(refreshGrants()).toBe(before + 1);
    await expectSessionEnded(result, jar);
    expect(refreshGrants()).toBe(before + 1);
  }

  describe('a refreshed ID token that names someone else', () => {
    it('ends the session when its iss changed', async () => {
      await expectRefreshedIdTokenEndsSession({ claims: { iss: 'https://other-issuer.example' } });
    });

    it('ends the session when its sub changed', async () => {
      await expectRefreshedIdTokenEndsSession({ claims: { sub: 'mallory' } });
    });

    it('ends the session when its aud changed', async () => {
      await expectRefreshedIdTokenEndsSession({ claims: { aud: 'another-client' } });
    });

    it('ends the session when it adds an audience without azp', async () => {
      await expectRefreshedIdTokenEndsSession({ claims: { aud: [HOSTILE_CLIENT_ID, 'another-client'] } });
    });

    it('ends the session when it is signed by a key that is not the provider’s', async () => {
      await expectRefreshedIdTokenEndsSession({ key: await createTestKey('key-1') });
    });

    it('ends the session when it is unsigned (alg none)', async () => {
      await expectRefreshedIdTokenEndsSession({ forge: 'none', claims: { sub: 'mallory' } });
    });

    it('ends the session when it has already expired', async () => {
      const now = rig.service.now() + ACCESS_TOKEN_TTL + 10;
      await expectRefreshedIdTokenEndsSession({ claims: { iat: now - 7200, exp: now - 3600 } });
    });
  });

  describe('a refresh the provider refuses', () => {
    it('ends the session on invalid_grant, and the next page load gets exactly one redirect to the provider', async () => {
      const jar = await signedInWithExpiredAccessToken();
      rig.provider.behave({ refreshError: 'invalid_grant' });
      const before = refreshGrants();
      const api = await callApi(rig, jar);
      await expectSessionEnded(api, jar);

      const page = await visit(rig, `${APP}/private`, jar);
      expect(page.status).toBe(302);
      expect(page.location?.startsWith(`${rig.provider.issuer}/authorize?`)).toBe(true);
      expect(refreshGrants()).toBe(before + 1);
      // That one redirect leads to a working login, not back into a refresh.
      rig.provider.reset();
      const callback = await visit(rig, await rig.provider.authorize(page.location ?? ''), jar);
      expect(callback.status).toBe(302);
      expect((await callApi(rig, jar)).status).toBe(200);
      expect(refreshGrants()).toBe(before + 1);
    });

    it('answers a page load whose refresh gets invalid_grant with one redirect to the provider and a cleared session cookie', async () => {
      const jar = await signedInWithExpiredAccessToken();
      rig.provider.behave({ refreshError: 'invalid_grant' });
      const before = refreshGrants();
      const page = await visit(rig, `${APP}/private`, jar);
      expect(page.status).toBe(302);
      expect(page.location?.startsWith(`${rig.provider.issuer}/authorize?`)).toBe(true);
      expect(page.authSetCookies.some((c) => c.startsWith('test-session=;') && c.includes('Max-Age=0'))).toBe(true);
      expect(jar.get('test-session')).toBeUndefined();
      expect(refreshGrants()).toBe(before + 1);
      const again = await visit(rig, `${APP}/private`, jar);
      expect(again.status).toBe(302);
      expect(refreshGrants()).toBe(before + 1);
    });

    it('ends the session without reflecting markup the provider sends as its error code', async () => {
      const jar = await signedInWithExpiredAccessToken();
      rig.provider.behave({ refreshError: '<script>alert(1)</script>' });
      const api = await callApi(rig, jar);
      await expectSessionEnded(api, jar);
      expect(api.body).not.toContain('<script>');
      expect(rig.service.logger.text()).not.toContain('<script>');
    });
  });

  describe('a refresh the provider cannot answer for now', () => {
    const outages: [string, Parameters<Rig['provider']['behave']>[0]][] = [
      ['answers 503 with an OAuth error', { tokenAnswer: { status: 503, contentType: 'application/json', body: '{"error":"temporarily_unavailable"}' } }],
      ['answers 500 server_error', { tokenAnswer: { status: 500, contentType: 'application/json', body: '{"error":"server_error"}' } }],
      ['answers 502 with an HTML page', { tokenAnswer: { status: 502, contentType: 'text/html', body: '<h1>Bad gateway</h1>' } }],
    ];
    for (const [what, behaviour] of outages) {
      it(`keeps the session and answers 503 with Retry-After, without identity, when the token endpoint ${what}`, async () => {
        const jar = await signedInWithExpiredAccessToken();
        rig.provider.behave(behaviour);
        const api = await callApi(rig, jar);
        expect(api.status).toBe(503);
        expect(api.headers['retry-after']).toMatch(/^\d+$/);
        expect(api.forwardedHeaders).toEqual({});
        expect(api.authSetCookies).toEqual([]);
        expect(jar.get('test-session')).toBeDefined();
        rig.provider.reset();
        expect((await callApi(rig, jar)).status).toBe(200);
      });
    }
  });

  describe('a refresh that is in order', () => {
    it('keeps the user signed in when the refreshed ID token names the same user', async () => {
      const jar = await signedInWithExpiredAccessToken();
      const before = refreshGrants();
      expect((await callApi(rig, jar)).status).toBe(200);
      expect(refreshGrants()).toBe(before + 1);
    });

    it('keeps the user signed in when the refresh brings no ID token', async () => {
      const jar = await signedInWithExpiredAccessToken();
      rig.provider.behave({ refreshIdToken: 'omit' });
      expect((await callApi(rig, jar)).status).toBe(200);
    });
  });
});
