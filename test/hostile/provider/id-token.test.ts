import * as client from 'openid-client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createTestKey, HOSTILE_CLIENT_ID, HOSTILE_CLIENT_SECRET, type IdTokenRecipe, type TestKey } from '../../support/hostile-provider.js';
import { expectLoginSucceeds, expectRefused, login, startRig, type Rig } from './rig.js';

const ID_TOKEN_INVALID = { status: 401, code: 'OFA_ID_TOKEN_INVALID' } as const;

describe('an ID token from a hostile provider', () => {
  let rig: Rig;
  /** The same provider behaviour, but its discovery document advertises HS256 and none as well. */
  let lenient: Rig;
  let attackerKey: TestKey;

  beforeAll(async () => {
    rig = await startRig();
    lenient = await startRig({ provider: { baseline: { discovery: { id_token_signing_alg_values_supported: ['RS256', 'HS256', 'none'] } } } });
    attackerKey = await createTestKey(rig.provider.initialKey.kid);
  });
  afterAll(async () => {
    await rig?.stop();
    await lenient?.stop();
  });
  beforeEach(() => {
    rig.provider.reset();
    lenient.provider.reset();
  });

  async function expectIdTokenRefused(recipe: IdTokenRecipe, on: Rig = rig): Promise<void> {
    on.provider.behave({ idToken: recipe });
    const { jar, callback } = await login(on);
    await expectRefused(on, callback, jar, ID_TOKEN_INVALID);
  }

  it('is accepted when everything about it is correct, so the refusals below are about the attack', async () => {
    await expectLoginSucceeds(rig);
    await expectLoginSucceeds(lenient);
  });

  describe('signature', () => {
    it('is refused when signed by another key that claims the provider’s kid', async () => {
      await expectIdTokenRefused({ key: attackerKey });
    });

    it('is refused when its signature bits are flipped', async () => {
      await expectIdTokenRefused({ forge: 'corrupt-signature' });
    });

    it('is refused when its payload was swapped after signing', async () => {
      await expectIdTokenRefused({ forge: { alteredClaims: { sub: 'admin' } } });
    });

    it('is refused with alg none', async () => {
      await expectIdTokenRefused({ forge: 'none' });
    });

    it('is refused with alg none even when discovery advertises none', async () => {
      await expectIdTokenRefused({ forge: 'none', header: { kid: lenient.provider.initialKey.kid } }, lenient);
    });

    it('is refused when HMAC-signed with the client secret', async () => {
      await expectIdTokenRefused({ hmacSecret: new TextEncoder().encode(HOSTILE_CLIENT_SECRET) }, lenient);
    });

    it('is refused when HMAC-signed with the provider’s RSA public key as the secret (alg confusion)', async () => {
      const pem = new TextEncoder().encode(lenient.provider.initialKey.publicKeyPem);
      await expectIdTokenRefused({ hmacSecret: pem, header: { kid: lenient.provider.initialKey.kid } }, lenient);
    });

    it('is refused as HS256 when discovery advertises only RS256', async () => {
      await expectIdTokenRefused({ hmacSecret: new TextEncoder().encode(rig.provider.initialKey.publicKeyPem) });
    });

    it('is verified by us although openid-client alone accepts a forged signature from the token endpoint', async () => {
      // The premise: openid-client v6 trusts the token endpoint's TLS and skips the signature check.
      lenient.provider.behave({ idToken: { key: attackerKey, claims: { sub: 'mallory' } } });
      const configuration = await client.discovery(new URL(lenient.provider.issuer), HOSTILE_CLIENT_ID, undefined, client.ClientSecretBasic(HOSTILE_CLIENT_SECRET), {
        execute: [client.allowInsecureRequests],
      });
      const state = client.randomState();
      const nonce = client.randomNonce();
      const url = client.buildAuthorizationUrl(configuration, { redirect_uri: 'http://app.example.test/callback', scope: 'openid', state, nonce });
      const callback = new URL(await lenient.provider.authorize(url.href));
      const tokens = await client.authorizationCodeGrant(configuration, callback, { expectedState: state, expectedNonce: nonce, idTokenExpected: true });
      expect(tokens.claims()?.sub).toBe('mallory');
      // The same forged token through our service: refused.
      await expectIdTokenRefused({ key: attackerKey, claims: { sub: 'mallory' } }, lenient);
    });
  });

  describe('claims', () => {
    const now = (): number => rig.service.now();

    it('is refused when iss names another issuer', async () => {
      await expectIdTokenRefused({ claims: { iss: 'https://evil.example' } });
    });

    it('is refused when iss differs from the issuer only by a trailing slash', async () => {
      await expectIdTokenRefused({ claims: { iss: `${rig.provider.issuer}/` } });
    });

    it('is refused without iss', async () => {
      await expectIdTokenRefused({ claims: { iss: undefined } });
    });

    it('is refused when aud names another client', async () => {
      await expectIdTokenRefused({ claims: { aud: 'another-client' } });
    });

    it('is refused without aud', async () => {
      await expectIdTokenRefused({ claims: { aud: undefined } });
    });

    it('is refused without sub', async () => {
      await expectIdTokenRefused({ claims: { sub: undefined } });
    });

    it('is refused with an empty sub', async () => {
      await expectIdTokenRefused({ claims: { sub: '' } });
    });

    it('is refused with a sub that is not a string', async () => {
      await expectIdTokenRefused({ claims: { sub: 42 } });
    });

    it('is refused without iat', async () => {
      await expectIdTokenRefused({ claims: { iat: undefined } });
    });

    it('is refused when iat lies in the future', async () => {
      await expectIdTokenRefused({ claims: { iat: now() + 3600, exp: now() + 7200 } });
    });

    it('is refused without exp', async () => {
      await expectIdTokenRefused({ claims: { exp: undefined } });
    });

    it('is refused when it has expired', async () => {
      await expectIdTokenRefused({ claims: { iat: now() - 7200, exp: now() - 3600 } });
    });

    it('is refused without nonce', async () => {
      await expectIdTokenRefused({ claims: { nonce: undefined } });
    });

    it('is refused when its nonce belongs to another login', async () => {
      await expectIdTokenRefused({ claims: { nonce: client.randomNonce() } });
    });

    it('is refused when azp names another client', async () => {
      await expectIdTokenRefused({ claims: { azp: 'another-client' } });
    });

    it('is refused with several audiences and no azp', async () => {
      await expectIdTokenRefused({ claims: { aud: [HOSTILE_CLIENT_ID, 'another-client'] } });
    });

    it('is refused with several audiences when azp names the other one', async () => {
      await expectIdTokenRefused({ claims: { aud: [HOSTILE_CLIENT_ID, 'another-client'], azp: 'another-client' } });
    });

    it('is accepted with several audiences when azp names us', async () => {
      rig.provider.behave({ idToken: { claims: { aud: [HOSTILE_CLIENT_ID, 'another-client'], azp: HOSTILE_CLIENT_ID } } });
      await expectLoginSucceeds(rig);
    });

    it('is refused when at_hash does not match the access token', async () => {
      await expectIdTokenRefused({ claims: { at_hash: 'AAAAAAAAAAAAAAAAAAAAAA' } });
    });
  });
});
