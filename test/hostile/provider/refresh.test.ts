import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { CookieJar } from '../../support/cookie-jar.js';
import type { ForwardAuthResult } from '../../support/forward-auth-client.js';
import { createTestKey, HOSTILE_CLIENT_ID, type IdTokenRecipe } from '../../support/hostile-provider.js';
import { forwardAuth } from '../../support/forward-auth-client.js';
import { API_HEADERS, APP, callApi, expectLoginSucceeds, expectRefused, startRig, visit, type Rig } from './rig.js';

const ACCESS_TOKEN_TTL = 60;
/** When the user authenticated: a correct provider repeats it in every refreshed ID token (OIDC Core 12.2). */
const AUTH_TIME = Math.floor(Date.now() / 1000) - 120;

describe('a refresh answered by a hostile provider', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig({
      provider: {
        baseline: {
          expiresIn: ACCESS_TOKEN_TTL,
          idToken: { claims: { auth_time: AUTH_TIME } },
          refreshIdToken: { claims: { auth_time: AUTH_TIME } },
        },
      },
    });
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

  /** A background request through a Traefik v3 that lists the session cookie in addAuthCookiesToResponse: a refresh reaches the browser. */
  function callApiKeepingCookies(jar: CookieJar): Promise<ForwardAuthResult> {
    return forwardAuth(rig.service.authAddress('test'), { url: `${APP}/api/data`, headers: API_HEADERS }, jar, {
      addAuthCookiesToResponse: ['test-session'],
    });
  }

  async function expectSessionEnded(result: ForwardAuthResult, jar: CookieJar): Promise<void> {
    expect(result.authSetCookies.some((c) => c.startsWith('test-session=;') && c.includes('Max-Age=0'))).toBe(true);
    await expectRefused(rig, result, jar, { status: 401 });
  }

  async function expectRefreshedIdTokenEndsSession(recipe: IdTokenRecipe): Promise<void> {
    const jar = await signedInWithExpiredAccessToken();
    rig.provider.behave({ refreshIdToken: { ...recipe, claims: { auth_time: AUTH_TIME, ...recipe.claims } } });
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

    it('ends the session when it adds another audience, even one it authorizes with azp', async () => {
      await expectRefreshedIdTokenEndsSession({ claims: { aud: [HOSTILE_CLIENT_ID, 'another-client'], azp: HOSTILE_CLIENT_ID } });
    });

    it('ends the session when it adds an azp the original did not have', async () => {
      await expectRefreshedIdTokenEndsSession({ claims: { azp: HOSTILE_CLIENT_ID } });
    });

    it('ends the session when its auth_time is not the original authentication time', async () => {
      await expectRefreshedIdTokenEndsSession({ claims: { auth_time: AUTH_TIME + 600 } });
    });

    it('ends the session when the original had azp and the refreshed one drops it', async () => {
      rig.provider.behave({ idToken: { claims: { auth_time: AUTH_TIME, aud: [HOSTILE_CLIENT_ID, 'api'], azp: HOSTILE_CLIENT_ID } } });
      await expectRefreshedIdTokenEndsSession({ claims: { aud: [HOSTILE_CLIENT_ID, 'api'] } });
    });

    it('ends the session when the original had azp and the refreshed one names the same audiences in another order but another azp', async () => {
      rig.provider.behave({ idToken: { claims: { auth_time: AUTH_TIME, aud: [HOSTILE_CLIENT_ID, 'api'], azp: HOSTILE_CLIENT_ID } } });
      await expectRefreshedIdTokenEndsSession({ claims: { aud: ['api', HOSTILE_CLIENT_ID], azp: 'api' } });
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

    it('keeps the user signed in when the refreshed ID token repeats iss, sub, aud (in any order), azp and auth_time', async () => {
      rig.provider.behave({
        idToken: { claims: { auth_time: AUTH_TIME, aud: [HOSTILE_CLIENT_ID, 'api'], azp: HOSTILE_CLIENT_ID } },
        refreshIdToken: { claims: { auth_time: AUTH_TIME, aud: ['api', HOSTILE_CLIENT_ID], azp: HOSTILE_CLIENT_ID } },
      });
      const jar = await signedInWithExpiredAccessToken();
      const before = refreshGrants();
      expect((await callApiKeepingCookies(jar)).status).toBe(200);
      expect(refreshGrants()).toBe(before + 1);
      // A second refresh compares against what the first one kept.
      rig.service.advance(ACCESS_TOKEN_TTL + 10);
      expect((await callApiKeepingCookies(jar)).status).toBe(200);
      expect(refreshGrants()).toBe(before + 2);
    });

    it('keeps the user signed in when the refreshed ID token leaves auth_time out, and still holds the next one to the original', async () => {
      const jar = await signedInWithExpiredAccessToken();
      rig.provider.behave({ refreshIdToken: { claims: { auth_time: undefined } } });
      const before = refreshGrants();
      expect((await callApiKeepingCookies(jar)).status).toBe(200);
      rig.service.advance(ACCESS_TOKEN_TTL + 10);
      rig.provider.behave({ refreshIdToken: { claims: { auth_time: AUTH_TIME + 600 } } });
      const result = await callApiKeepingCookies(jar);
      expect(refreshGrants()).toBe(before + 2);
      await expectSessionEnded(result, jar);
    });

    it('keeps the user signed in when the refresh brings no ID token', async () => {
      const jar = await signedInWithExpiredAccessToken();
      rig.provider.behave({ refreshIdToken: 'omit' });
      expect((await callApi(rig, jar)).status).toBe(200);
    });
  });
});
