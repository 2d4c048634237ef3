/**
 * API callers with `Authorization: Bearer …` (issue 12), through the Traefik reproduction: a JWT
 * access token and an opaque one (introspected) let a script in with the same rule and the same
 * forwarded headers as a browser session; bad, expired, foreign, unsigned and revoked tokens get
 * 401 with `error="invalid_token"`; nobody is sent to a login or given a cookie.
 */
import type { IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BearerTokensConfig } from '../../src/config/types.js';
import { createCookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS, type ForwardAuthResult } from '../support/forward-auth-client.js';
import { startTestProvider, TEST_APP_ORIGIN, TEST_CLIENT, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type DevProvider } from '../support/op.js';
import { obtainScriptTokens, revokeAtProvider, type ScriptClient } from '../support/script-tokens.js';
import { startService, type TestService } from '../support/service.js';
import { useStack } from '../support/stack.js';

const APP = TEST_APP_ORIGIN;
/** Another application registered at the same provider, whose tokens are not for this API. */
const OTHER_CLIENT = { client_id: 'other-app', client_secret: 'other-app-secret-0123456789abcdef', redirect_uris: [`${TEST_APP_ORIGIN}/other-callback`] };
const OTHER_SCRIPT_CLIENT: ScriptClient = { clientId: OTHER_CLIENT.client_id, clientSecret: OTHER_CLIENT.client_secret, redirectUri: OTHER_CLIENT.redirect_uris[0] ?? '' };
const API_URL = `${APP}/api/items`;
const RULE = 'Contains(`groups`, `admin`)';
const FORWARD = { 'X-User': 'email', 'X-Groups': 'groups', 'X-Subject': 'sub' };
/** Traefik's authResponseHeaders: the identity headers, and Authorization so the service decides whether it goes on. */
const AUTH_RESPONSE_HEADERS = ['X-User', 'X-Groups', 'X-Subject', 'Authorization'];

function bearerTokens(overrides: Partial<BearerTokensConfig>): BearerTokensConfig {
  return { audiences: [], allowPlainJwt: false, introspection: undefined, passToApplication: false, ...overrides };
}

function callApi(service: TestService, middleware: string, authorization: string, extra: Record<string, string> = {}): Promise<ForwardAuthResult> {
  return forwardAuth(
    service.authAddress(middleware),
    { url: API_URL, headers: { accept: 'application/json', authorization, ...extra } },
    createCookieJar(),
    { authResponseHeaders: AUTH_RESPONSE_HEADERS },
  );
}

function expectInvalidToken(result: ForwardAuthResult, token: string): void {
  expect(result.status).toBe(401);
  expect(result.headers['www-authenticate']).toBe('Bearer realm="oidc-forward-auth", error="invalid_token"');
  expect(result.authSetCookies).toEqual([]);
  expect(result.location).toBeUndefined();
  if (token !== '') expect(result.body).not.toContain(token);
}

/** An unsecured JWT (RFC 7519 §6): a header saying alg none and an empty signature. */
function unsignedToken(payload: Record<string, unknown>): string {
  const part = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'none', typ: 'at+jwt' })}.${part(payload)}.`;
}

describe('JWT access tokens (RFC 9068)', () => {
  let signingKey: JWK;
  const stack = useStack(async () => {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    signingKey = { ...(await exportJWK(privateKey)), kid: 'test-signing-key', alg: 'RS256', use: 'sig' };
    return {
      provider: { jwtAccessTokens: true, signingKeys: [signingKey] },
      service: {
        middlewares: ({ issuer, op: { resource = '' } }) => [
          { name: 'jwt', issuer, claims: RULE, forwardHeaders: FORWARD, bearerTokens: bearerTokens({ audiences: [resource] }) },
          { name: 'pass', issuer, forwardHeaders: FORWARD, bearerTokens: bearerTokens({ audiences: [resource], passToApplication: true }) },
          { name: 'elsewhere', issuer, bearerTokens: bearerTokens({ audiences: ['https://other.example.test/api'] }) },
          { name: 'plain', issuer, forwardHeaders: FORWARD, bearerTokens: bearerTokens({ audiences: [resource], allowPlainJwt: true }) },
          // The natural Keycloak and Entra ID setup: plain JWTs, and the client ID among the audiences.
          {
            name: 'plain-client',
            issuer,
            forwardHeaders: FORWARD,
            bearerTokens: bearerTokens({ audiences: [resource, TEST_CLIENT_ID], allowPlainJwt: true }),
          },
          { name: 'sessions-only', issuer, forwardHeaders: FORWARD },
        ],
      },
    };
  });
  let op: DevProvider;
  let resource: string;
  let service: TestService;
  beforeAll(() => {
    ({ op, service } = stack());
    resource = op.resource ?? '';
  });

  /** A token signed with the provider's own key, so that only the claim under test is wrong. */
  async function forge(payload: Record<string, unknown>, header: Record<string, unknown> = { typ: 'at+jwt' }): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: op.issuer, aud: resource, sub: 'alice', email: 'alice@example.com', groups: ['admin'], iat: now, exp: now + 300, ...payload })
      .setProtectedHeader({ alg: 'RS256', kid: signingKey.kid, ...header })
      .sign(await importJWK(signingKey, 'RS256'));
  }

  it('lets a script in with the same rule and the same forwarded headers as the browser session, and no cookie', async () => {
    const browser = await browserLogin({ authAddress: service.authAddress('jwt'), url: `${APP}/private`, authResponseHeaders: AUTH_RESPONSE_HEADERS });
    expect(browser.final.status).toBe(200);
    const { accessToken } = await obtainScriptTokens(op);
    const script = await callApi(service, 'jwt', `Bearer ${accessToken}`);
    expect(script.status).toBe(200);
    expect(script.forwardedHeaders).toEqual(browser.final.forwardedHeaders);
    expect(script.forwardedHeaders['x-user']).toBe('alice@example.com');
    expect(script.authSetCookies).toEqual([]);
  });

  it('removes the token on the way to the application unless passToApplication', async () => {
    const { accessToken } = await obtainScriptTokens(op);
    const kept = await callApi(service, 'jwt', `Bearer ${accessToken}`);
    expect(kept.status).toBe(200);
    expect(kept.upstreamHeaders.authorization).toBeUndefined();
    const passed = await callApi(service, 'pass', `Bearer ${accessToken}`);
    expect(passed.status).toBe(200);
    expect(passed.upstreamHeaders.authorization).toBe(`Bearer ${accessToken}`);
  });

  it('reads the scheme case-insensitively', async () => {
    const { accessToken } = await obtainScriptTokens(op);
    expect((await callApi(service, 'jwt', `bearer ${accessToken}`)).status).toBe(200);
    expect((await callApi(service, 'jwt', `BEARER ${accessToken}`)).status).toBe(200);
  });

  it('answers 403 with error="insufficient_scope" when the rule says no, as it does for the browser session', async () => {
    const browser = await browserLogin({ authAddress: service.authAddress('jwt'), url: `${APP}/private`, user: 'bob' });
    expect(browser.final.status).toBe(403);
    const { accessToken } = await obtainScriptTokens(op, 'bob');
    const script = await callApi(service, 'jwt', `Bearer ${accessToken}`);
    expect(script.status).toBe(403);
    expect(script.headers['www-authenticate']).toBe('Bearer realm="oidc-forward-auth", error="insufficient_scope"');
    expect(script.authSetCookies).toEqual([]);
  });

  it('refuses a token for another audience', async () => {
    const { accessToken } = await obtainScriptTokens(op);
    expectInvalidToken(await callApi(service, 'elsewhere', `Bearer ${accessToken}`), accessToken);
    expectInvalidToken(await callApi(service, 'jwt', `Bearer ${await forge({ aud: 'https://other.example.test/api' })}`), '');
  });

  it('refuses a token naming another issuer, though signed with the provider key', async () => {
    const token = await forge({ iss: `${op.issuer}/evil` });
    expectInvalidToken(await callApi(service, 'jwt', `Bearer ${token}`), token);
  });

  it('refuses an expired token, and one that is not valid yet, past the leeway', async () => {
    const { accessToken } = await obtainScriptTokens(op);
    const now = Math.floor(Date.now() / 1000);
    expect((await callApi(service, 'jwt', `Bearer ${await forge({ exp: now - 10 })}`)).status).toBe(200);
    expectInvalidToken(await callApi(service, 'jwt', `Bearer ${await forge({ exp: now - 120 })}`), '');
    expectInvalidToken(await callApi(service, 'jwt', `Bearer ${await forge({ nbf: now + 600 })}`), '');
    expectInvalidToken(await callApi(service, 'jwt', `Bearer ${await forge({ exp: undefined })}`), '');
    // The provider's own token, once the service's clock is past its exp (an hour).
    service.advance(3600 + 60);
    try {
      expectInvalidToken(await callApi(service, 'jwt', `Bearer ${accessToken}`), accessToken);
    } finally {
      service.advance(-(3600 + 60));
    }
  });

  it('refuses alg none, an HMAC token, a bad signature and garbage', async () => {
    const now = Math.floor(Date.now() / 1000);
    const unsigned = unsignedToken({ iss: op.issuer, aud: resource, sub: 'alice', groups: ['admin'], exp: now + 300 });
    expectInvalidToken(await callApi(service, 'jwt', `Bearer ${unsigned}`), unsigned);
    const hmac = await new SignJWT({ iss: op.issuer, aud: resource, sub: 'alice', groups: ['admin'], exp: now + 300 })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .sign(new TextEncoder().encode(TEST_CLIENT_SECRET));
    expectInvalidToken(await callApi(service, 'jwt', `Bearer ${hmac}`), hmac);
    const good = await forge({});
    const [head, body] = good.split('.');
    const tampered = `${head}.${Buffer.from(JSON.stringify({ ...JSON.parse(Buffer.from(body ?? '', 'base64url').toString()), sub: 'mallory' })).toString('base64url')}.${good.split('.')[2]}`;
    expectInvalidToken(await callApi(service, 'jwt', `Bearer ${tampered}`), tampered);
    expectInvalidToken(await callApi(service, 'jwt', 'Bearer not-a-token'), '');
    expectInvalidToken(await callApi(service, 'jwt', 'Bearer '), '');
    expectInvalidToken(await callApi(service, 'jwt', `Bearer ${'a'.repeat(13 * 1024)}`), '');
  });

  it('accepts typ JWT only with allowPlainJwt, and never an ID token', async () => {
    const plain = await forge({}, { typ: 'JWT' });
    expectInvalidToken(await callApi(service, 'jwt', `Bearer ${plain}`), plain);
    expect((await callApi(service, 'plain', `Bearer ${plain}`)).status).toBe(200);
    // An ID token is a signed JWT of the provider's too, but for the client, not the API.
    const { idToken } = await obtainScriptTokens(op);
    expectInvalidToken(await callApi(service, 'plain', `Bearer ${idToken}`), idToken);
  });

  it('refuses an ID token from an ordinary sign-in even with allowPlainJwt and the client ID among the audiences', async () => {
    const { accessToken, idToken } = await obtainScriptTokens(op);
    expect((await callApi(service, 'plain-client', `Bearer ${accessToken}`)).status).toBe(200);
    expectInvalidToken(await callApi(service, 'plain-client', `Bearer ${idToken}`), idToken);
    const refusal = service.logger.records.filter((record) => record.msg === 'bearer token refused').at(-1);
    expect(String(refusal?.reason)).toMatch(/ID token/);
  });

  it('refuses a back-channel logout token with allowPlainJwt and the client ID among the audiences', async () => {
    const logoutToken = await forge(
      {
        aud: TEST_CLIENT_ID,
        jti: randomBytes(16).toString('base64url'),
        sid: 'provider-session',
        events: { 'http://schemas.openid.net/event/backchannel-logout': {} },
        email: undefined,
        groups: undefined,
      },
      { typ: 'JWT' },
    );
    expectInvalidToken(await callApi(service, 'plain-client', `Bearer ${logoutToken}`), logoutToken);
    const untyped = await forge({ aud: TEST_CLIENT_ID, jti: 'j1', events: { 'http://schemas.openid.net/event/backchannel-logout': {} } }, {});
    expectInvalidToken(await callApi(service, 'plain-client', `Bearer ${untyped}`), untyped);
  });

  it('refuses tokens shaped like an ID token in plain-JWT mode: nonce, at_hash, c_hash, auth_time alone, a typ claim', async () => {
    const now = Math.floor(Date.now() / 1000);
    const shapes: Record<string, unknown>[] = [
      { nonce: 'n-0S6_WzA2Mj' },
      { at_hash: 'HK6E_P6Dh8Y93mRNtsDB1Q' },
      { c_hash: 'LDktKdoQak3Pk0cnXxCltA' },
      { auth_time: now - 60 },
      { typ: 'ID' },
      { typ: 'Refresh' },
    ];
    for (const shape of shapes) {
      const token = await forge({ aud: TEST_CLIENT_ID, ...shape }, { typ: 'JWT' });
      expectInvalidToken(await callApi(service, 'plain-client', `Bearer ${token}`), token);
    }
    // An access token may carry auth_time with its client and scope (RFC 9068 §2.2.1).
    const withClient = await forge({ aud: TEST_CLIENT_ID, auth_time: now - 60, client_id: TEST_CLIENT_ID, scope: 'openid' }, { typ: 'JWT' });
    expect((await callApi(service, 'plain-client', `Bearer ${withClient}`)).status).toBe(200);
  });

  it('refuses a provider-signed token without a string sub (missing, empty, a number, an object)', async () => {
    for (const sub of [undefined, '', 42, { id: 'alice' }]) {
      const token = await forge({ sub });
      expectInvalidToken(await callApi(service, 'jwt', `Bearer ${token}`), token);
    }
  });

  it('refuses a token issued in the future past the leeway, and accepts one within it', async () => {
    const now = Math.floor(Date.now() / 1000);
    expectInvalidToken(await callApi(service, 'jwt', `Bearer ${await forge({ iat: now + 3600, exp: now + 7200 })}`), '');
    expectInvalidToken(await callApi(service, 'jwt', `Bearer ${await forge({ iat: now + 120 })}`), '');
    expect((await callApi(service, 'jwt', `Bearer ${await forge({ iat: now + 10 })}`)).status).toBe(200);
  });

  it('never starts a login for a bearer request, even one that looks like a page load', async () => {
    const jar = createCookieJar();
    const result = await forwardAuth(
      service.authAddress('jwt'),
      { url: `${APP}/private`, headers: { ...NAVIGATION_HEADERS, authorization: 'Bearer not-a-token' } },
      jar,
    );
    expectInvalidToken(result, '');
    expect(jar.all()).toEqual([]);
  });

  it('answers nginx without a body, the code in X-Auth-Error and the challenge kept', async () => {
    const result = await callApi(service, 'jwt', 'Bearer not-a-token', { 'X-Forward-Auth-Proxy': 'nginx' });
    expect(result.status).toBe(401);
    expect(result.headers['x-auth-error']).toBe('OFA_BEARER_TOKEN_INVALID');
    expect(result.headers['www-authenticate']).toBe('Bearer realm="oidc-forward-auth", error="invalid_token"');
    expect(result.body).toBe('');
  });

  it('behaves as before where bearerTokens is off: the header is ignored and a page load goes to the login', async () => {
    const { accessToken } = await obtainScriptTokens(op);
    const page = await forwardAuth(
      service.authAddress('sessions-only'),
      { url: `${APP}/private`, headers: { ...NAVIGATION_HEADERS, authorization: `Bearer ${accessToken}` } },
      createCookieJar(),
    );
    expect(page.status).toBe(302);
    expect(page.location).toContain(op.issuer);
    const api = await callApi(service, 'sessions-only', `Bearer ${accessToken}`);
    expect(api.status).toBe(401);
    expect(api.headers['www-authenticate']).toBe('Bearer realm="oidc-forward-auth"');
  });
});

describe('opaque access tokens (RFC 7662 introspection)', () => {
  const audiences = ['https://api.example.test'];
  // oidc-provider's opaque tokens carry no audience: the client whose tokens are accepted is named.
  const clientsWithoutAudience = [TEST_CLIENT_ID];
  const stack = useStack({
    provider: { clients: [TEST_CLIENT, OTHER_CLIENT] },
    service: {
      middlewares: ({ issuer }) => [
        { name: 'cached', issuer, claims: RULE, forwardHeaders: FORWARD, bearerTokens: bearerTokens({ audiences, introspection: { cacheSeconds: 30, clientsWithoutAudience } }) },
        { name: 'uncached', issuer, forwardHeaders: FORWARD, bearerTokens: bearerTokens({ audiences, introspection: { cacheSeconds: 0, clientsWithoutAudience } }) },
        { name: 'jwt-only', issuer, bearerTokens: bearerTokens({ audiences }) },
        { name: 'no-clients', issuer, forwardHeaders: FORWARD, bearerTokens: bearerTokens({ audiences, introspection: { cacheSeconds: 0 } }) },
      ],
    },
  });
  let op: DevProvider;
  let service: TestService;
  const introspections: string[] = [];
  beforeAll(() => {
    ({ op, service } = stack());
    op.server.on('request', (incoming: IncomingMessage) => {
      if ((incoming.url ?? '').startsWith('/token/introspection')) introspections.push(incoming.headers.authorization?.startsWith('Basic ') === true ? 'basic' : 'other');
    });
  });

  it('lets a script in with the same rule and forwarded headers as the browser session, asking the provider with the client credentials', async () => {
    const browser = await browserLogin({ authAddress: service.authAddress('cached'), url: `${APP}/private`, authResponseHeaders: AUTH_RESPONSE_HEADERS });
    expect(browser.final.status).toBe(200);
    const { accessToken } = await obtainScriptTokens(op);
    expect(accessToken.split('.').length).not.toBe(3);
    const script = await callApi(service, 'cached', `Bearer ${accessToken}`);
    expect(script.status).toBe(200);
    expect(script.forwardedHeaders).toEqual(browser.final.forwardedHeaders);
    expect(script.authSetCookies).toEqual([]);
    expect(script.upstreamHeaders.authorization).toBeUndefined();
    expect(introspections.at(-1)).toBe('basic');
  });

  it('refuses an active token whose introspection names no audience, unless its client is listed', async () => {
    const { accessToken } = await obtainScriptTokens(op);
    expect((await callApi(service, 'uncached', `Bearer ${accessToken}`)).status).toBe(200);
    expectInvalidToken(await callApi(service, 'no-clients', `Bearer ${accessToken}`), accessToken);
    // Another client's token is active at the same provider, and for no API of ours.
    const other = await obtainScriptTokens(op, 'alice', OTHER_SCRIPT_CLIENT);
    expectInvalidToken(await callApi(service, 'uncached', `Bearer ${other.accessToken}`), other.accessToken);
  });

  it('answers 403 when the rule says no', async () => {
    const { accessToken } = await obtainScriptTokens(op, 'bob');
    const script = await callApi(service, 'cached', `Bearer ${accessToken}`);
    expect(script.status).toBe(403);
    expect(script.headers['www-authenticate']).toBe('Bearer realm="oidc-forward-auth", error="insufficient_scope"');
  });

  it('refuses an unknown token, and any opaque token where introspection is off', async () => {
    expectInvalidToken(await callApi(service, 'cached', `Bearer ${randomBytes(32).toString('base64url')}`), '');
    const { accessToken } = await obtainScriptTokens(op);
    expectInvalidToken(await callApi(service, 'jwt-only', `Bearer ${accessToken}`), accessToken);
  });

  it('reuses an answer within cacheSeconds, then refuses a revoked token once the bound has passed', async () => {
    const { accessToken } = await obtainScriptTokens(op);
    expect((await callApi(service, 'cached', `Bearer ${accessToken}`)).status).toBe(200);
    const asked = introspections.length;
    await revokeAtProvider(op, accessToken);
    // Within the bound the cached answer stands: the documented price of the cache.
    expect((await callApi(service, 'cached', `Bearer ${accessToken}`)).status).toBe(200);
    expect(introspections.length).toBe(asked);
    service.advance(30);
    try {
      expectInvalidToken(await callApi(service, 'cached', `Bearer ${accessToken}`), accessToken);
      expect(introspections.length).toBe(asked + 1);
    } finally {
      service.advance(-30);
    }
  });

  it('refuses a revoked token at once with cacheSeconds 0', async () => {
    const { accessToken } = await obtainScriptTokens(op);
    expect((await callApi(service, 'uncached', `Bearer ${accessToken}`)).status).toBe(200);
    await revokeAtProvider(op, accessToken);
    expectInvalidToken(await callApi(service, 'uncached', `Bearer ${accessToken}`), accessToken);
  });

  it('refuses a token past its exp by our clock, whatever the provider still says', async () => {
    const { accessToken } = await obtainScriptTokens(op);
    expect((await callApi(service, 'cached', `Bearer ${accessToken}`)).status).toBe(200);
    service.advance(3600 + 60);
    try {
      expectInvalidToken(await callApi(service, 'cached', `Bearer ${accessToken}`), accessToken);
    } finally {
      service.advance(-(3600 + 60));
    }
  });

  it('answers 503 when the provider cannot be asked', async () => {
    const { accessToken } = await obtainScriptTokens(op);
    const down = await startTestProvider();
    const isolated = await startService({
      middlewares: [{ name: 'api', issuer: down.issuer, clientConfig: { maxRetries: 0 }, bearerTokens: bearerTokens({ audiences: ['x'], introspection: { cacheSeconds: 30 } }) }],
    });
    try {
      await down.stop();
      const result = await callApi(isolated, 'api', `Bearer ${accessToken}`);
      expect(result.status).toBe(503);
      expect(result.authSetCookies).toEqual([]);
    } finally {
      await isolated.stop();
    }
  });
});
