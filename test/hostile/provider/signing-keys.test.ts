import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { JWKS_COOLDOWN_MS } from '../../../src/oidc/jwks.js';
import { createTestKey, createWeakRsaKey } from '../../support/hostile-provider.js';
import { expectLoginSucceeds, expectRefused, login, startRig, type Rig } from './rig.js';

const ID_TOKEN_INVALID = { status: 401, code: 'OFA_ID_TOKEN_INVALID' } as const;

/**
 * Each test gets its own service: the key set is cached per provider client (jose's remote set,
 * refetched on an unknown kid at most once per cooldown), and these tests are about that cache.
 */
describe('the provider’s signing keys', () => {
  let rig: Rig;

  beforeEach(async () => {
    rig = await startRig();
  });
  afterEach(async () => {
    vi.useRealTimers();
    await rig?.stop();
  });

  async function expectLoginRefused(): Promise<void> {
    const { jar, callback } = await login(rig);
    await expectRefused(rig, callback, jar, ID_TOKEN_INVALID);
  }

  describe('rotation', () => {
    it('refuses a token whose kid the provider has not published, then accepts it once the provider publishes the new key', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      const { provider } = rig;
      await expectLoginSucceeds(rig);
      expect(provider.count('/jwks')).toBe(1);

      const next = await createTestKey('key-2');
      provider.signWith(next);
      vi.setSystemTime(Date.now() + JWKS_COOLDOWN_MS + 1000);
      await expectLoginRefused();
      // The unknown kid made the service look again, and the new key was not there yet.
      expect(provider.count('/jwks')).toBe(2);

      provider.publish([next, provider.initialKey]);
      vi.setSystemTime(Date.now() + JWKS_COOLDOWN_MS + 1000);
      await expectLoginSucceeds(rig);
      expect(provider.count('/jwks')).toBe(3);
    });

    it('refuses a token signed with a retired key once the new key set has been fetched', async () => {
      vi.useFakeTimers({ toFake: ['Date'] });
      const { provider } = rig;
      await expectLoginSucceeds(rig);
      const next = await createTestKey('key-2');
      provider.signWith(next);
      provider.publish([next]);
      vi.setSystemTime(Date.now() + JWKS_COOLDOWN_MS + 1000);
      await expectLoginSucceeds(rig);
      provider.signWith(provider.initialKey);
      await expectLoginRefused();
    });

    it('does not refetch the key set for every unknown kid within the cooldown', async () => {
      await expectLoginSucceeds(rig);
      rig.provider.signWith(await createTestKey('key-unknown'));
      for (let attempt = 0; attempt < 3; attempt += 1) await expectLoginRefused();
      expect(rig.provider.count('/jwks')).toBe(1);
    });
  });

  describe('junk and unusable keys in the key set', () => {
    function publishJwks(keys: readonly unknown[]): void {
      rig.provider.behave({ jwks: { keys } });
    }

    it('still accepts a token signed by the good key when the set also holds a key of an unknown kty', async () => {
      publishJwks([{ kty: 'XYZ', kid: 'junk', alg: 'RS256', n: 'AQAB', e: 'AQAB' }, rig.provider.initialKey.publicJwk]);
      await expectLoginSucceeds(rig);
    });

    it('refuses a token whose kid names a key of an unknown kty', async () => {
      publishJwks([{ ...rig.provider.initialKey.publicJwk, kty: 'XYZ' }]);
      await expectLoginRefused();
    });

    it('refuses a token when the key under its kid is an EC key claiming RS256', async () => {
      const ec = await createTestKey(rig.provider.initialKey.kid, 'ES256');
      publishJwks([{ ...ec.publicJwk, alg: 'RS256' }]);
      await expectLoginRefused();
    });

    it('refuses a token signed by an EC key when both the key and the token claim RS256', async () => {
      const ec = await createTestKey('ec-1', 'ES256');
      rig.provider.behave({ idToken: { key: ec, header: { alg: 'RS256' } } });
      publishJwks([{ ...ec.publicJwk, alg: 'RS256' }]);
      await expectLoginRefused();
    });

    it('refuses a token when the key under its kid is marked for encryption only', async () => {
      publishJwks([{ ...rig.provider.initialKey.publicJwk, use: 'enc' }]);
      await expectLoginRefused();
    });

    it('refuses a token when the key under its kid has a garbage modulus', async () => {
      publishJwks([{ ...rig.provider.initialKey.publicJwk, n: 'not*base64url' }]);
      await expectLoginRefused();
    });

    it('refuses a token signed by an RSA key shorter than 2048 bits', async () => {
      const weak = createWeakRsaKey('weak-1');
      rig.provider.signWith(weak);
      rig.provider.publish([weak]);
      await expectLoginRefused();
    });

    it('refuses a token when the key set is not JSON', async () => {
      rig.provider.behave({ jwksAnswer: { body: '<html>keys</html>', contentType: 'text/html' } });
      await expectLoginRefused();
    });

    it('refuses a token when the key set’s keys are not an array', async () => {
      rig.provider.behave({ jwks: { keys: { kid: 'key-1' } } });
      await expectLoginRefused();
    });

    it('refuses a token when the key set is empty', async () => {
      publishJwks([]);
      await expectLoginRefused();
    });
  });

  describe('missing kid', () => {
    it('accepts a token without kid when the key set holds a single key', async () => {
      rig.provider.behave({ idToken: { header: { kid: undefined } } });
      await expectLoginSucceeds(rig);
    });

    it('refuses a token without kid when the key set holds several keys of its type (OIDC Core 10.1 asks for a kid then)', async () => {
      rig.provider.publish([rig.provider.initialKey, await createTestKey('key-other')]);
      rig.provider.behave({ idToken: { header: { kid: undefined } } });
      await expectLoginRefused();
    });

    it('refuses a token without kid that the single published key does not verify', async () => {
      rig.provider.behave({ idToken: { header: { kid: undefined }, key: await createTestKey('attacker') } });
      await expectLoginRefused();
    });

    it('refuses a token naming a kid when the published key has none', async () => {
      const { kid: _kid, ...withoutKid } = rig.provider.initialKey.publicJwk;
      rig.provider.behave({ jwks: { keys: [withoutKid] } });
      await expectLoginRefused();
    });
  });
});
