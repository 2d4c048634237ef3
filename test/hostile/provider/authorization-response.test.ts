import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createCookieJar } from '../../support/cookie-jar.js';
import { startService, type TestService } from '../../support/service.js';
import {
  APP,
  expectLoginSucceeds,
  expectNoSecretIn,
  expectNoSecretInLog,
  expectRefused,
  sessionCookiesSet,
  startLogin,
  startRig,
  visit,
  type Rig,
} from './rig.js';

describe('the authorization response from a hostile provider or a meddling attacker', () => {
  let rig: Rig;
  /** A second service on the same provider, whose middleware "test" uses PKCE. */
  let pkce: Rig;
  let pkceService: TestService;

  beforeAll(async () => {
    rig = await startRig();
    pkceService = await startService({ middlewares: [{ name: 'test', issuer: rig.provider.issuer, pkce: true }] });
    pkce = { provider: rig.provider, service: pkceService, stop: () => pkceService.stop() };
  });
  afterAll(async () => {
    await pkceService?.stop();
    await rig?.stop();
  });
  beforeEach(() => {
    rig.provider.reset();
  });

  function codeExchanges(): number {
    return rig.provider.tokenRequests().filter((r) => r.grantType === 'authorization_code').length;
  }

  describe('state and code', () => {
    it('is refused without state, and the code is not spent', async () => {
      const { jar, callbackUrl } = await startLogin(rig);
      callbackUrl.searchParams.delete('state');
      const before = codeExchanges();
      const result = await visit(rig, callbackUrl.href, jar);
      await expectRefused(rig, result, jar, { status: 400, code: 'OFA_CALLBACK_STATE_MISSING' });
      expect(codeExchanges()).toBe(before);
    });

    it('is refused with a state this browser did not start', async () => {
      const { jar, callbackUrl } = await startLogin(rig);
      callbackUrl.searchParams.set('state', 'A'.repeat(43));
      const result = await visit(rig, callbackUrl.href, jar);
      await expectRefused(rig, result, jar, { status: 400, code: 'OFA_CALLBACK_STATE_MISMATCH' });
    });

    it('is refused with the state given twice', async () => {
      const { jar, callbackUrl } = await startLogin(rig);
      callbackUrl.searchParams.append('state', callbackUrl.searchParams.get('state') ?? '');
      const result = await visit(rig, callbackUrl.href, jar);
      await expectRefused(rig, result, jar, { status: 400, code: 'OFA_CALLBACK_STATE_MISSING' });
    });

    it('is refused when an attacker’s whole callback URL is opened in a victim’s browser (login CSRF)', async () => {
      const attacker = await startLogin(rig);
      const victim = await startLogin(rig);
      const intoVictimWithFlow = await visit(rig, attacker.callbackUrl.href, victim.jar);
      await expectRefused(rig, intoVictimWithFlow, victim.jar, { status: 400, code: 'OFA_CALLBACK_STATE_MISMATCH' });
      const bystander = createCookieJar();
      const intoBystander = await visit(rig, attacker.callbackUrl.href, bystander);
      await expectRefused(rig, intoBystander, bystander, { status: 400, code: 'OFA_CALLBACK_STATE_MISSING' });
    });

    it('is refused without code', async () => {
      const { jar, callbackUrl } = await startLogin(rig);
      callbackUrl.searchParams.delete('code');
      const result = await visit(rig, callbackUrl.href, jar);
      await expectRefused(rig, result, jar, { status: 400, code: 'OFA_CALLBACK_CODE_MISSING' });
    });

    it('is refused with two codes, and neither is spent', async () => {
      const { jar, callbackUrl } = await startLogin(rig);
      callbackUrl.searchParams.append('code', 'code-two');
      const before = codeExchanges();
      const result = await visit(rig, callbackUrl.href, jar);
      await expectRefused(rig, result, jar, { status: 400, code: 'OFA_CALLBACK_CODE_MISSING' });
      expect(codeExchanges()).toBe(before);
    });

    it('is refused with an empty code', async () => {
      const { jar, callbackUrl } = await startLogin(rig);
      callbackUrl.searchParams.set('code', '');
      const before = codeExchanges();
      const result = await visit(rig, callbackUrl.href, jar);
      await expectRefused(rig, result, jar, { status: 400, code: 'OFA_CALLBACK_CODE_MISSING' });
      expect(codeExchanges()).toBe(before);
    });

    it('is refused when replayed in the same browser: the first use spent the flow', async () => {
      const { jar, callbackUrl } = await startLogin(rig);
      const first = await visit(rig, callbackUrl.href, jar);
      expect(first.status).toBe(302);
      const before = codeExchanges();
      const replay = await visit(rig, callbackUrl.href, jar);
      expect(replay.status).toBe(400);
      expect(replay.body).toContain('OFA_CALLBACK_STATE_MISSING');
      expect(sessionCookiesSet(replay)).toEqual([]);
      expectNoSecretIn(rig, replay.body);
      expectNoSecretInLog(rig);
      expect(codeExchanges()).toBe(before);
    });

    it('is refused when replayed from a copy of the state cookie taken before the callback: the provider will not redeem a code twice', async () => {
      const { jar, start, callbackUrl } = await startLogin(rig);
      const copy = createCookieJar();
      copy.setCookies(start.setCookies, `${APP}/private`);
      expect((await visit(rig, callbackUrl.href, jar)).status).toBe(302);
      const replay = await visit(rig, callbackUrl.href, copy);
      await expectRefused(rig, replay, copy, { status: 400, code: 'OFA_CALLBACK_CODE_REJECTED' });
    });
  });

  describe('code injection', () => {
    it('fails the token exchange when browser A’s code reaches browser B’s callback with B’s state, because of PKCE', async () => {
      const a = await startLogin(pkce);
      const b = await startLogin(pkce);
      const injected = new URL(b.callbackUrl);
      injected.searchParams.set('code', a.callbackUrl.searchParams.get('code') ?? '');
      const result = await visit(pkce, injected.href, b.jar);
      // B's code_verifier does not match A's code_challenge: the provider refuses the exchange.
      await expectRefused(pkce, result, b.jar, { status: 400, code: 'OFA_CALLBACK_CODE_REJECTED' });
      const last = rig.provider.tokenRequests().at(-1);
      expect(last?.code).toBe(a.callbackUrl.searchParams.get('code'));
    });

    it('fails on the nonce when browser A’s code reaches browser B’s callback without PKCE', async () => {
      const a = await startLogin(rig);
      const b = await startLogin(rig);
      const injected = new URL(b.callbackUrl);
      injected.searchParams.set('code', a.callbackUrl.searchParams.get('code') ?? '');
      const result = await visit(rig, injected.href, b.jar);
      // The provider redeems the code, but its ID token carries A's nonce, not the one B's flow sent.
      await expectRefused(rig, result, b.jar, { status: 401, code: 'OFA_ID_TOKEN_INVALID' });
    });

    it('still lets each browser sign in with its own code under PKCE', async () => {
      await expectLoginSucceeds(pkce);
    });
  });

  describe('mix-up (the iss parameter, advertised by this provider)', () => {
    it('is refused when iss names another issuer, and the code is not sent anywhere', async () => {
      const { jar, callbackUrl } = await startLogin(rig);
      callbackUrl.searchParams.set('iss', 'https://attacker.example');
      const before = codeExchanges();
      const result = await visit(rig, callbackUrl.href, jar);
      await expectRefused(rig, result, jar, { status: 400, code: 'OFA_CALLBACK_ISSUER_MISMATCH' });
      expect(codeExchanges()).toBe(before);
    });

    it('is refused when iss is missing', async () => {
      const { jar, callbackUrl } = await startLogin(rig);
      callbackUrl.searchParams.delete('iss');
      const result = await visit(rig, callbackUrl.href, jar);
      await expectRefused(rig, result, jar, { status: 400, code: 'OFA_CALLBACK_ISSUER_MISMATCH' });
    });

    it('is refused when iss differs only by a trailing slash', async () => {
      const { jar, callbackUrl } = await startLogin(rig);
      callbackUrl.searchParams.set('iss', `${rig.provider.issuer}/`);
      const result = await visit(rig, callbackUrl.href, jar);
      await expectRefused(rig, result, jar, { status: 400, code: 'OFA_CALLBACK_ISSUER_MISMATCH' });
    });

    it('is refused when iss is given twice', async () => {
      const { jar, callbackUrl } = await startLogin(rig);
      callbackUrl.searchParams.append('iss', 'https://attacker.example');
      const before = codeExchanges();
      const result = await visit(rig, callbackUrl.href, jar);
      expect(codeExchanges()).toBe(before);
      await expectRefused(rig, result, jar, { status: 400, code: 'OFA_CALLBACK_ISSUER_MISMATCH' });
    });

    it('is refused when the provider itself sends another issuer', async () => {
      rig.provider.behave({ authorizationResponse: (params) => params.set('iss', 'http://127.0.0.1:1') });
      const { jar, callbackUrl } = await startLogin(rig);
      const result = await visit(rig, callbackUrl.href, jar);
      await expectRefused(rig, result, jar, { status: 400, code: 'OFA_CALLBACK_ISSUER_MISMATCH' });
    });
  });

  describe('mix-up at a provider that does not advertise the iss parameter', () => {
    let quiet: Rig;
    beforeAll(async () => {
      quiet = await startRig({ provider: { baseline: { discovery: { authorization_response_iss_parameter_supported: false } } } });
    });
    afterAll(async () => {
      await quiet?.stop();
    });

    it('signs in without iss', async () => {
      const { callbackUrl } = await startLogin(quiet);
      expect(callbackUrl.searchParams.has('iss')).toBe(false);
      await expectLoginSucceeds(quiet);
    });

    it('still refuses an iss that names another issuer', async () => {
      const { jar, callbackUrl } = await startLogin(quiet);
      callbackUrl.searchParams.set('iss', 'https://attacker.example');
      const result = await visit(quiet, callbackUrl.href, jar);
      await expectRefused(quiet, result, jar, { status: 400, code: 'OFA_CALLBACK_ISSUER_MISMATCH' });
    });
  });

  describe('error=', () => {
    const MARKUP = '<script>alert(document.cookie)</script><img src=x onerror=alert(1)>';

    async function providerError(error: string, extra: Record<string, string>): Promise<void> {
      const { jar, callbackUrl } = await startLogin(rig);
      const url = new URL(`${APP}/callback`);
      url.searchParams.set('error', error);
      for (const [name, value] of Object.entries(extra)) url.searchParams.set(name, value);
      url.searchParams.set('state', callbackUrl.searchParams.get('state') ?? '');
      const before = codeExchanges();
      const result = await visit(rig, url.href, jar);
      await expectRefused(rig, result, jar, { status: 401, code: 'OFA_CALLBACK_PROVIDER_ERROR' });
      expect(result.body).not.toContain('<script>');
      expect(result.body).not.toContain('<img');
      expect(result.body).not.toContain('alert(');
      expect(result.body).not.toContain('Injected description');
      expect(rig.service.logger.text()).not.toContain('alert(');
      expect(codeExchanges()).toBe(before);
      expect(jar.all().filter((c) => c.name.startsWith('test-state.'))).toEqual([]);
    }

    it('shows the error code but never reflects markup from error_description', async () => {
      await providerError('access_denied', { error_description: `Injected description ${MARKUP}` });
    });

    it('does not reflect markup sent as the error code itself', async () => {
      await providerError(MARKUP, { error_description: 'Injected description' });
    });

    it('never reflects error_uri', async () => {
      await providerError('server_error', { error_uri: `javascript:alert(1)//${MARKUP}`, error_description: 'Injected description' });
    });

    it('wins over a code sent alongside it, which is not redeemed', async () => {
      await providerError('access_denied', { code: 'code-smuggled-next-to-an-error', error_description: 'Injected description' });
    });
  });
});
