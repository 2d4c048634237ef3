import { KeyObject, createSign } from 'node:crypto';
import fc from 'fast-check';
import {
  SignJWT,
  createLocalJWKSet,
  decodeJwt,
  errors,
  exportJWK,
  generateKeyPair,
  type CryptoKey,
  type JWTVerifyGetKey,
} from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { OfaError } from '../../src/errors.js';
import {
  LOGOUT_TOKEN_MAX_CHARS,
  verifyLogoutToken,
  type LogoutTokenExpectations,
  type LogoutTokenResult,
} from '../../src/oidc/logout-token.js';

const NOW = 1_700_000_000;
const ISSUER = 'https://op.example';
const CLIENT_ID = 'forward-auth';
const CLIENT_SECRET = 'the-client-secret-that-the-provider-and-we-share';
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const KID = 'op-key-1';

let providerKey: CryptoKey;
let strangerKey: CryptoKey;
let ecKey: CryptoKey;
let keys: JWTVerifyGetKey;

beforeAll(async () => {
  const provider = await generateKeyPair('RS256');
  const ec = await generateKeyPair('ES256');
  providerKey = provider.privateKey;
  ecKey = ec.privateKey;
  strangerKey = (await generateKeyPair('RS256')).privateKey;
  keys = createLocalJWKSet({
    keys: [
      { ...(await exportJWK(provider.publicKey)), kid: KID, use: 'sig' },
      { ...(await exportJWK(ec.publicKey)), kid: 'op-ec-1', use: 'sig' },
    ],
  });
});

const expectations: LogoutTokenExpectations = {
  issuer: ISSUER,
  clientID: CLIENT_ID,
  algorithms: ['RS256'],
  sessionRequired: false,
  nowSeconds: NOW,
};

/** What oidc-provider sends: issued a moment ago, valid for two minutes. An `undefined` claim is left out. */
function logoutClaims(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    iss: ISSUER,
    aud: CLIENT_ID,
    iat: NOW - 5,
    exp: NOW + 115,
    jti: 'jti-4f1c2a',
    events: { [EVENT]: {} },
    sid: 'sid-08a7e1',
    sub: 'alice',
    ...overrides,
  };
}

function sign(
  claims: Record<string, unknown>,
  header: Record<string, unknown> = {},
  key: CryptoKey | Uint8Array = providerKey,
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: KID, typ: 'logout+jwt', ...header }).sign(key);
}

function unsecured(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part(header)}.${part(claims)}.`;
}

function verify(token: string, overrides: Partial<LogoutTokenExpectations> = {}): Promise<LogoutTokenResult> {
  return verifyLogoutToken(token, keys, { ...expectations, ...overrides });
}

/** Every string in the token's payload, to prove a reason quotes none of them. */
function stringsIn(token: string): string[] {
  let payload: unknown;
  try {
    payload = decodeJwt(token);
  } catch {
    return [];
  }
  const found: string[] = [];
  const walk = (value: unknown): void => {
    if (typeof value === 'string') found.push(value);
    else if (Array.isArray(value)) value.forEach(walk);
    else if (typeof value === 'object' && value !== null) Object.values(value).forEach(walk);
  };
  walk(payload);
  return found.filter((value) => value.length >= 4);
}

async function expectRefused(token: string, reason: RegExp, overrides: Partial<LogoutTokenExpectations> = {}): Promise<void> {
  const result = await verify(token, overrides);
  expect(result).toEqual({ ok: false, reason: expect.stringMatching(reason) });
  if (result.ok) return;
  expect(result.reason).toMatch(/^logout token /);
  for (const value of stringsIn(token)) expect(result.reason).not.toContain(value);
}

describe('verifyLogoutToken accepts a logout token from the provider', () => {
  it('that names a session only, and says which one', async () => {
    const result = await verify(await sign(logoutClaims({ sub: undefined })));
    expect(result).toEqual({
      ok: true,
      target: { issuer: ISSUER, jti: 'jti-4f1c2a', sid: 'sid-08a7e1', sub: undefined, rememberUntil: NOW + 115 + 30, issuedBySeconds: NOW - 5 + 30 },
    });
  });

  it('that names a user only', async () => {
    const result = await verify(await sign(logoutClaims({ sid: undefined })));
    expect(result).toEqual({
      ok: true,
      target: { issuer: ISSUER, jti: 'jti-4f1c2a', sid: undefined, sub: 'alice', rememberUntil: NOW + 115 + 30, issuedBySeconds: NOW - 5 + 30 },
    });
  });

  it('without "exp" (Ory Hydra v2.3 sends none), remembered and accepted as long as its "iat" allows', async () => {
    const token = await sign(logoutClaims({ exp: undefined }));
    // iat is NOW - 5: accepted until NOW - 5 + 300 (maxAge) + 30 (tolerance), remembered one second past.
    expect(await verify(token)).toMatchObject({ ok: true, target: { rememberUntil: NOW - 5 + 300 + 30 + 1 } });
    expect(await verify(token, { nowSeconds: NOW - 5 + 330 })).toMatchObject({ ok: true });
    await expectRefused(token, /"iat" is too old/, { nowSeconds: NOW - 5 + 331 });
  });

  it('that names both a session and a user', async () => {
    const result = await verify(await sign(logoutClaims()), { sessionRequired: true });
    expect(result).toMatchObject({ ok: true, target: { sid: 'sid-08a7e1', sub: 'alice' } });
  });

  it.each([['JWT'], ['jwt'], ['logout+jwt'], ['Logout+JWT'], ['application/logout+jwt'], ['application/jwt'], [undefined]])(
    'typed %s',
    async (typ) => {
      expect(await verify(await sign(logoutClaims(), { typ }))).toMatchObject({ ok: true });
    },
  );

  it('addressed to several audiences when "azp" names this client', async () => {
    const token = await sign(logoutClaims({ aud: ['other-app', CLIENT_ID], azp: CLIENT_ID }));
    expect(await verify(token)).toMatchObject({ ok: true });
  });

  it('signed with another of the given asymmetric algorithms', async () => {
    const token = await sign(logoutClaims(), { alg: 'ES256', kid: 'op-ec-1' }, ecKey);
    expect(await verify(token, { algorithms: ['RS256', 'ES256'] })).toMatchObject({ ok: true });
  });

  it('whose "exp" passed or whose "iat" is ahead by less than the clock tolerance', async () => {
    expect(await verify(await sign(logoutClaims({ exp: NOW - 29 })))).toMatchObject({ ok: true });
    expect(await verify(await sign(logoutClaims({ iat: NOW + 30 })))).toMatchObject({ ok: true });
  });

  it('whose events object carries other events beside the logout event', async () => {
    const token = await sign(logoutClaims({ events: { [EVENT]: {}, 'https://example.com/other-event': { a: 1 } } }));
    expect(await verify(token)).toMatchObject({ ok: true });
  });
});

describe('verifyLogoutToken refuses a token', () => {
  it('signed with a key the provider does not publish', async () => {
    await expectRefused(await sign(logoutClaims(), { kid: 'unknown-kid' }, strangerKey), /key the provider publishes/);
  });

  it('signed with another key under the provider key id', async () => {
    await expectRefused(await sign(logoutClaims(), {}, strangerKey), /signature is invalid/);
  });

  it('that is unsecured (alg "none")', async () => {
    await expectRefused(unsecured({ alg: 'none', typ: 'logout+jwt' }, logoutClaims()), /"alg"/);
  });

  it('signed with HS256 and the client secret, even by a key getter that would hand the secret out', async () => {
    const secret = new TextEncoder().encode(CLIENT_SECRET);
    const token = await sign(logoutClaims(), { alg: 'HS256', kid: undefined }, secret);
    await expectRefused(token, /"alg"/);
    const leakyKeys: JWTVerifyGetKey = () => secret;
    expect(await verifyLogoutToken(token, leakyKeys, expectations)).toEqual({ ok: false, reason: expect.stringMatching(/"alg"/) });
  });

  it('signed with an algorithm the provider does not advertise', async () => {
    await expectRefused(await sign(logoutClaims(), { alg: 'ES256', kid: 'op-ec-1' }, ecKey), /"alg"/);
  });

  it.each<[string, Record<string, unknown>, RegExp]>([
    ['from another issuer', { iss: 'https://attacker.example' }, /"iss" names another issuer/],
    ['whose issuer differs only by a trailing slash', { iss: `${ISSUER}/` }, /"iss"/],
    ['without an issuer', { iss: undefined }, /"iss" is missing/],
    ['for another client', { aud: 'another-client' }, /"aud" does not name this client/],
    ['without an audience', { aud: undefined }, /"aud" is missing/],
    ['whose "azp" names another client', { aud: [CLIENT_ID, 'another-client'], azp: 'another-client' }, /"azp"/],
    ['for several audiences without "azp"', { aud: [CLIENT_ID, 'another-client'] }, /"azp"/],
    ['whose "exp" has passed', { exp: NOW - 31 }, /"exp" has passed/],
    ['whose "exp" is not a number', { exp: String(NOW + 60) }, /"exp" must be a number/],
    ['without "iat"', { iat: undefined }, /"iat" is missing/],
    ['issued in the future', { iat: NOW + 31 }, /"iat" is in the future/],
    ['issued too long ago', { iat: NOW - 331 }, /"iat" is too old/],
    ['not yet valid', { nbf: NOW + 31 }, /"nbf"/],
    ['without "jti"', { jti: undefined }, /"jti" is missing/],
    ['with an empty "jti"', { jti: '' }, /"jti" must be a non-empty string/],
    ['with a numeric "jti"', { jti: 1234 }, /"jti" must be a non-empty string/],
    ['with a "jti" longer than 256 characters', { jti: 'j'.repeat(257) }, /"jti" is longer than 256/],
    ['without "events"', { events: undefined }, /"events" is missing/],
    ['whose "events" is an array', { events: [EVENT] }, /"events" must be a JSON object/],
    ['whose "events" is a string', { events: EVENT }, /"events" must be a JSON object/],
    ['whose "events" is null', { events: null }, /"events" must be a JSON object/],
    ['whose "events" lacks the logout event', { events: { 'https://example.com/other-event': {} } }, /"events" has no back-channel logout event/],
    ['whose logout event is true', { events: { [EVENT]: true } }, /"events" back-channel logout event must be a JSON object/],
    ['whose logout event is an array', { events: { [EVENT]: [] } }, /"events" back-channel logout event must be a JSON object/],
    ['whose logout event is null', { events: { [EVENT]: null } }, /"events" back-channel logout event must be a JSON object/],
    ['that carries a "nonce"', { nonce: 'n-0S6_WzA2Mj' }, /"nonce"/],
    ['that carries a null "nonce"', { nonce: null }, /"nonce"/],
    ['that names neither a session nor a user', { sid: undefined, sub: undefined }, /neither "sid" nor "sub"/],
    ['with an empty "sid"', { sid: '' }, /"sid" must be a non-empty string/],
    ['with a numeric "sid"', { sid: 42 }, /"sid" must be a non-empty string/],
    ['with a "sid" longer than 256 characters', { sid: 's'.repeat(257) }, /"sid" is longer than 256/],
    ['with an empty "sub"', { sub: '' }, /"sub" must be a non-empty string/],
    ['with an object "sub"', { sub: { id: 'alice' } }, /"sub" must be a non-empty string/],
  ])('%s', async (_name, claims, reason) => {
    await expectRefused(await sign(logoutClaims(claims)), reason);
  });

  it('without "sid" when the client registered that sessions are required', async () => {
    await expectRefused(await sign(logoutClaims({ sid: undefined })), /"sid" is missing/, { sessionRequired: true });
  });

  it('issued longer ago than a configured maximum age', async () => {
    await expectRefused(await sign(logoutClaims({ iat: NOW - 100 })), /"iat" is too old/, { maxAgeSeconds: 60 });
  });

  it('whose "exp" is now when there is no clock tolerance', async () => {
    await expectRefused(await sign(logoutClaims({ exp: NOW })), /"exp" has passed/, { clockToleranceSeconds: 0 });
  });

  it.each([['at+jwt'], ['application/at+jwt'], ['id_token+jwt'], ['secevent+jwt'], ['JOSE'], ['logout+jwt; charset=utf-8'], [42]])(
    'typed %s',
    async (typ) => {
      await expectRefused(await sign(logoutClaims(), { typ }), /"typ"/);
    },
  );

  it('that is an ID token', async () => {
    const idToken = await sign(
      { iss: ISSUER, aud: CLIENT_ID, sub: 'alice', sid: 'sid-08a7e1', iat: NOW - 5, exp: NOW + 3600, nonce: 'n-0S6_WzA2Mj' },
      { typ: 'JWT' },
    );
    await expectRefused(idToken, /"jti" is missing|"events" is missing/);
    await expectRefused(await sign({ ...logoutClaims(), nonce: 'n-0S6_WzA2Mj' }, { typ: 'JWT' }), /"nonce"/);
  });

  it('that is a JWT access token', async () => {
    const accessToken = await sign(
      { iss: ISSUER, aud: CLIENT_ID, sub: 'alice', client_id: CLIENT_ID, jti: 'at-1', iat: NOW - 5, exp: NOW + 300, scope: 'openid' },
      { typ: 'at+jwt' },
    );
    await expectRefused(accessToken, /"events" is missing/);
    // Even one shaped like a logout token is refused for its type.
    await expectRefused(await sign(logoutClaims(), { typ: 'at+jwt' }), /"typ"/);
  });
});

describe('verifyLogoutToken with input that is not a logout token', () => {
  it.each([
    ['an empty string', ''],
    ['a word', 'garbage'],
    ['three dots', '...'],
    ['three junk segments', 'a.b.c'],
    ['a header that is not JSON', `${Buffer.from('{"alg":').toString('base64url')}.e30.c2ln`],
    ['a header that is a JSON array', `${Buffer.from('["RS256"]').toString('base64url')}.e30.c2ln`],
    ['an encrypted token (five segments)', 'eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d'],
    ['a JSON object', '{"logout_token":"x"}'],
  ])('refuses %s without throwing', async (_name, token) => {
    await expectRefused(token, /well-formed|"alg"/);
  });

  it('refuses a token that is a signed JSON array, or not JSON', async () => {
    const header = Buffer.from(JSON.stringify({ alg: 'RS256', kid: KID })).toString('base64url');
    const payloads = ['[1,2]', 'not json', '"a string"'].map((text) => Buffer.from(text).toString('base64url'));
    for (const payload of payloads) {
      const signature = createSign('RSA-SHA256').update(`${header}.${payload}`).sign(KeyObject.from(providerKey)).toString('base64url');
      await expectRefused(`${header}.${payload}.${signature}`, /well-formed/);
    }
  });

  it('refuses an oversized token before it is parsed or any key is fetched', async () => {
    let keyLookups = 0;
    const countingKeys: JWTVerifyGetKey = (header, input) => {
      keyLookups += 1;
      return keys(header, input);
    };
    const padded = await sign(logoutClaims({ padding: 'p'.repeat(LOGOUT_TOKEN_MAX_CHARS) }));
    expect(await verifyLogoutToken(padded, countingKeys, expectations)).toEqual({
      ok: false,
      reason: 'logout token is longer than 16384 characters',
    });
    expect(await verifyLogoutToken('x'.repeat(LOGOUT_TOKEN_MAX_CHARS + 1), countingKeys, expectations)).toMatchObject({ ok: false });
    expect(keyLookups).toBe(0);
    expect(await verifyLogoutToken(await sign(logoutClaims()), countingKeys, expectations)).toMatchObject({ ok: true });
    expect(keyLookups).toBe(1);
  });

  it('resolves { ok: false } for any string, and for any JSON in a token shape', async () => {
    const segment = fc.json().map((text) => Buffer.from(text).toString('base64url'));
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.string(), fc.tuple(segment, segment, fc.base64String()).map((parts) => parts.join('.'))), async (token) => {
        const result = await verify(token);
        expect(result.ok).toBe(false);
      }),
      { numRuns: 200 },
    );
  });
});

describe('the time a logout token must be remembered (rememberUntil)', () => {
  it('is the first second at which the token is refused for its "exp"', async () => {
    const token = await sign(logoutClaims({ exp: NOW + 60 }));
    const result = await verify(token);
    expect(result).toMatchObject({ ok: true, target: { rememberUntil: NOW + 90 } });
    expect(await verify(token, { nowSeconds: NOW + 89 })).toMatchObject({ ok: true });
    expect(await verify(token, { nowSeconds: NOW + 90 })).toEqual({ ok: false, reason: 'logout token "exp" has passed' });
  });

  it('is the first second at which the token is refused for its "iat", however far away its "exp"', async () => {
    const token = await sign(logoutClaims({ exp: NOW + 365 * 86_400 }));
    const result = await verify(token);
    expect(result).toMatchObject({ ok: true, target: { rememberUntil: NOW - 5 + 300 + 30 + 1 } });
    expect(await verify(token, { nowSeconds: NOW + 325 })).toMatchObject({ ok: true });
    expect(await verify(token, { nowSeconds: NOW + 326 })).toEqual({ ok: false, reason: 'logout token "iat" is too old' });
  });

  it('holds for a clock with fractions of a second, which jose counts in whole seconds', async () => {
    const token = await sign(logoutClaims({ exp: NOW + 60 }));
    expect(await verify(token, { nowSeconds: NOW + 89.9 })).toMatchObject({ ok: true, target: { rememberUntil: NOW + 90 } });
  });
});

describe('verifyLogoutToken when it cannot check the token', () => {
  it('passes on the provider being unreachable rather than calling the token invalid', async () => {
    const unreachable: JWTVerifyGetKey = () => {
      throw new OfaError('OFA_PROVIDER_UNAVAILABLE', 'the identity provider is not reachable');
    };
    await expect(verifyLogoutToken(await sign(logoutClaims()), unreachable, expectations)).rejects.toMatchObject({
      code: 'OFA_PROVIDER_UNAVAILABLE',
    });
  });

  it('turns a key set timeout or a broken key set into provider errors', async () => {
    const token = await sign(logoutClaims());
    const slow: JWTVerifyGetKey = () => {
      throw new errors.JWKSTimeout();
    };
    const broken: JWTVerifyGetKey = () => {
      throw new errors.JOSEError('Expected 200 OK from the JSON Web Key Set HTTP response');
    };
    await expect(verifyLogoutToken(token, slow, expectations)).rejects.toMatchObject({ code: 'OFA_PROVIDER_TIMEOUT' });
    await expect(verifyLogoutToken(token, broken, expectations)).rejects.toMatchObject({ code: 'OFA_PROVIDER_RESPONSE' });
  });
});

describe('verifyLogoutToken refuses to be misused', () => {
  it.each<[string, Partial<LogoutTokenExpectations>]>([
    ['HMAC algorithms', { algorithms: ['RS256', 'HS256'] }],
    ['the "none" algorithm', { algorithms: ['none'] }],
    ['no algorithms', { algorithms: [] }],
    ['an empty client ID', { clientID: '' }],
    ['an empty issuer', { issuer: '' }],
    ['a maximum age over a day', { maxAgeSeconds: 86_401 }],
    ['a negative clock tolerance', { clockToleranceSeconds: -1 }],
    ['a clock that is not a number', { nowSeconds: Number.NaN }],
  ])('with %s', async (_name, overrides) => {
    await expect(verify(await sign(logoutClaims()), overrides)).rejects.toBeInstanceOf(TypeError);
  });
});
