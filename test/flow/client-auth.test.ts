/**
 * A whole login with each token-endpoint client authentication method (issue 12), and with
 * pushed authorization requests required by the provider: a real oidc-provider registered for
 * that one method refuses any other, so a session means the method was used as configured.
 */
import type { IncomingMessage } from 'node:http';
import { calculateJwkThumbprint, decodeProtectedHeader, exportJWK, exportPKCS8, generateKeyPair, jwtVerify, type CryptoKey, type JWTPayload } from 'jose';
import { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import type { MiddlewareOverrides } from '../support/middleware-config.js';
import { startTestProvider, TEST_APP_ORIGIN, TEST_CLIENT, TEST_CLIENT_SECRET, type DevClient, type DevProvider, type TestProviderOptions } from '../support/op.js';
import { startService, type TestService } from '../support/service.js';
import { createTestPki, type TestPki } from '../support/tls.js';

const APP = TEST_APP_ORIGIN;
const PAGE = `${APP}/private`;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** What the provider's token endpoint was asked, by authentication shape (never the values). */
interface TokenRequestLog {
  readonly bodies: URLSearchParams[];
  readonly authorizationHeaders: (string | undefined)[];
}

function recordTokenRequests(op: DevProvider): TokenRequestLog {
  const log: TokenRequestLog = { bodies: [], authorizationHeaders: [] };
  op.server.prependListener('request', (request: IncomingMessage) => {
    if (!(request.url ?? '').startsWith('/token')) return;
    log.authorizationHeaders.push(request.headers.authorization);
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => log.bodies.push(new URLSearchParams(Buffer.concat(chunks).toString('utf8'))));
  });
  return log;
}

/**
 * Checks a client assertion (RFC 7523 §3) as the provider should: issued by and about the client,
 * for the provider, short-lived, with a jti, and signed under the alg its header names (verified
 * with that alg alone, so a header that lies about its alg fails). Returns its jti.
 */
async function expectSoundAssertion(assertion: string, op: DevProvider, key: CryptoKey | Uint8Array, alg: string): Promise<string> {
  expect(decodeProtectedHeader(assertion).alg).toBe(alg);
  const { payload } = await jwtVerify(assertion, key, { algorithms: [alg] });
  expect(payload.iss).toBe(TEST_CLIENT.client_id);
  expect(payload.sub).toBe(TEST_CLIENT.client_id);
  // oidc-provider accepts its issuer or its token endpoint as audience.
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  expect(audiences.length).toBeGreaterThan(0);
  for (const audience of audiences) expect([op.issuer, `${op.issuer}/token`]).toContain(audience);
  const { iat, exp, jti } = payload as JWTPayload & { iat: number; exp: number };
  expect(Number.isInteger(iat) && Number.isInteger(exp)).toBe(true);
  // Seconds, not milliseconds: issued now (a wide window for a busy machine) and valid at most a minute.
  expect(Math.abs(iat - Date.now() / 1000)).toBeLessThan(300);
  expect(exp).toBeGreaterThan(iat);
  expect(exp - iat).toBeLessThanOrEqual(60);
  expect(typeof jti === 'string' && jti.length >= 16).toBe(true);
  return jti as string;
}

/** Two sign-ins in a row, each with its own assertion: the jti is fresh every time. */
async function expectTwoSoundAssertions(service: TestService, tokens: TokenRequestLog, op: DevProvider, key: CryptoKey | Uint8Array, alg: string): Promise<void> {
  await signsIn(service);
  await signsIn(service);
  const assertions = tokens.bodies.map((body) => body.get('client_assertion')).filter((a): a is string => typeof a === 'string');
  expect(assertions.length).toBeGreaterThanOrEqual(2);
  const jtis = await Promise.all(assertions.map((assertion) => expectSoundAssertion(assertion, op, key, alg)));
  expect(new Set(jtis).size).toBe(jtis.length);
}

async function providerFor(client: Partial<DevClient>, options: TestProviderOptions = {}): Promise<DevProvider> {
  const op = await startTestProvider({ clients: [{ ...TEST_CLIENT, ...client } as DevClient], ...options });
  // A test may have stopped it already (the provider-down case).
  cleanups.push(() => op.stop().catch(() => undefined));
  return op;
}

async function serviceFor(op: DevProvider, overrides: MiddlewareOverrides = {}): Promise<TestService> {
  const service = await startService({
    middlewares: [{ name: 'test', issuer: op.issuer, forwardHeaders: { 'X-Forwarded-User': 'email' }, clientConfig: { maxRetries: 0 }, ...overrides }],
  });
  cleanups.push(() => service.stop());
  return service;
}

async function signsIn(service: TestService, options: { dispatcher?: Agent } = {}): Promise<void> {
  const result = await browserLogin({
    authAddress: service.authAddress(),
    url: PAGE,
    authResponseHeaders: ['X-Forwarded-User'],
    ...(options.dispatcher === undefined ? {} : { login: { dispatcher: options.dispatcher } }),
  });
  expect(result.final.status).toBe(200);
  expect(result.final.forwardedHeaders['x-forwarded-user']).toBe('alice@example.com');
}

describe('client authentication at the token endpoint', () => {
  it('uses client_secret_post when configured, the secret in the body and no Authorization header', async () => {
    const op = await providerFor({ token_endpoint_auth_method: 'client_secret_post' });
    const tokens = recordTokenRequests(op);
    await signsIn(await serviceFor(op, { clientAuthMethod: 'client_secret_post' }));
    expect(tokens.bodies.at(-1)?.get('client_secret')).toBe(TEST_CLIENT_SECRET);
    expect(tokens.authorizationHeaders.at(-1)).toBeUndefined();
  });

  it('uses client_secret_jwt: an HS256 assertion, never the secret itself', async () => {
    const op = await providerFor({ token_endpoint_auth_method: 'client_secret_jwt' });
    const tokens = recordTokenRequests(op);
    await signsIn(await serviceFor(op, { clientAuthMethod: 'client_secret_jwt' }));
    const body = tokens.bodies.at(-1);
    expect(body?.get('client_assertion_type')).toBe('urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    const header = JSON.parse(Buffer.from(body?.get('client_assertion')?.split('.')[0] ?? '', 'base64url').toString()) as { alg?: string };
    expect(header.alg).toBe('HS256');
    expect(body?.has('client_secret')).toBe(false);
    expect(tokens.authorizationHeaders.at(-1)).toBeUndefined();
  });

  it('sends client_secret_jwt assertions about the client, for the provider, short-lived, with a fresh jti, signed under HS256', async () => {
    const op = await providerFor({ token_endpoint_auth_method: 'client_secret_jwt' });
    const tokens = recordTokenRequests(op);
    const service = await serviceFor(op, { clientAuthMethod: 'client_secret_jwt' });
    await expectTwoSoundAssertions(service, tokens, op, new TextEncoder().encode(TEST_CLIENT_SECRET), 'HS256');
  });

  it('uses private_key_jwt with an RSA PEM key and no secret, its kid being the key thumbprint', async () => {
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const kid = await calculateJwkThumbprint(publicJwk);
    const op = await providerFor({ token_endpoint_auth_method: 'private_key_jwt', client_secret: undefined, jwks: { keys: [{ ...publicJwk, kid, use: 'sig' }] } });
    const tokens = recordTokenRequests(op);
    // No clientAuthMethod: a private key and no secret chooses private_key_jwt.
    await signsIn(await serviceFor(op, { clientSecret: undefined, clientPrivateKey: await exportPKCS8(privateKey) }));
    const assertion = tokens.bodies.at(-1)?.get('client_assertion') ?? '';
    const header = JSON.parse(Buffer.from(assertion.split('.')[0] ?? '', 'base64url').toString()) as { alg?: string; kid?: string };
    expect(header).toMatchObject({ alg: 'RS256', kid });
  });

  it('sends private_key_jwt assertions about the client, for the provider, short-lived, with a fresh jti, signed under the named alg', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = await exportJWK(publicKey);
    const op = await providerFor({
      token_endpoint_auth_method: 'private_key_jwt',
      client_secret: undefined,
      jwks: { keys: [{ ...publicJwk, kid: await calculateJwkThumbprint(publicJwk), use: 'sig' }] },
    });
    const tokens = recordTokenRequests(op);
    const service = await serviceFor(op, { clientSecret: undefined, clientPrivateKey: await exportPKCS8(privateKey) });
    await expectTwoSoundAssertions(service, tokens, op, publicKey, 'ES256');
  });

  it('uses private_key_jwt with an EC private JWK and the kid it carries', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const kid = 'forward-auth-2026';
    const op = await providerFor({
      token_endpoint_auth_method: 'private_key_jwt',
      client_secret: undefined,
      jwks: { keys: [{ ...(await exportJWK(publicKey)), kid, use: 'sig' }] },
    });
    const tokens = recordTokenRequests(op);
    const privateJwk = JSON.stringify({ ...(await exportJWK(privateKey)), kid });
    await signsIn(await serviceFor(op, { clientSecret: undefined, clientAuthMethod: 'private_key_jwt', clientPrivateKey: privateJwk }));
    const header = JSON.parse(Buffer.from((tokens.bodies.at(-1)?.get('client_assertion') ?? '').split('.')[0] ?? '', 'base64url').toString()) as { alg?: string; kid?: string };
    expect(header).toMatchObject({ alg: 'ES256', kid });
  });

  it('is refused by the provider when the key is not the registered one (the method is really checked)', async () => {
    const registered = await generateKeyPair('RS256', { extractable: true });
    const other = await generateKeyPair('RS256', { extractable: true });
    const publicJwk = await exportJWK(registered.publicKey);
    const op = await providerFor({
      token_endpoint_auth_method: 'private_key_jwt',
      client_secret: undefined,
      jwks: { keys: [{ ...publicJwk, kid: await calculateJwkThumbprint(publicJwk), use: 'sig' }] },
    });
    const service = await serviceFor(op, { clientSecret: undefined, clientPrivateKey: await exportPKCS8(other.privateKey) });
    const jar = createCookieJar();
    const first = await forwardAuth(service.authAddress(), { url: PAGE, headers: NAVIGATION_HEADERS }, jar);
    const { completeLogin } = await import('../support/op.js');
    const callbackUrl = await completeLogin(first.location ?? '');
    const callback = await forwardAuth(service.authAddress(), { url: callbackUrl, headers: NAVIGATION_HEADERS }, jar);
    expect(callback.status).toBe(502);
    expect(jar.get('test-session')).toBeUndefined();
  });
});

describe('mutual-TLS client authentication (RFC 8705) at a provider over HTTPS', () => {
  let pki: TestPki;
  let browser: Agent;
  beforeAll(async () => {
    pki = await createTestPki();
    browser = new Agent({ connect: { ca: pki.ca } });
  });
  afterAll(async () => {
    await browser?.close();
    await pki?.cleanup();
  });

  const https = (): TestProviderOptions => ({
    https: { key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, requestCert: true, rejectUnauthorized: false },
    mutualTlsClientAuth: true,
  });

  it('uses tls_client_auth: the CA-issued certificate is the credential, no secret is sent', async () => {
    const op = await providerFor(
      { token_endpoint_auth_method: 'tls_client_auth', client_secret: undefined, tls_client_auth_subject_dn: 'CN=forward-auth client' },
      https(),
    );
    const tokens = recordTokenRequests(op);
    // No secret and no key: a client certificate alone chooses tls_client_auth.
    await signsIn(await serviceFor(op, { clientSecret: undefined, clientConfig: { maxRetries: 0, tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } } }), {
      dispatcher: browser,
    });
    expect(tokens.bodies.at(-1)?.get('client_id')).toBe(TEST_CLIENT.client_id);
    expect(tokens.bodies.at(-1)?.has('client_secret')).toBe(false);
    expect(tokens.bodies.at(-1)?.has('client_assertion')).toBe(false);
    expect(tokens.authorizationHeaders.at(-1)).toBeUndefined();
  });

  it('uses self_signed_tls_client_auth: the certificate registered by thumbprint', async () => {
    const der = Buffer.from(pki.clientCert.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    const { X509Certificate } = await import('node:crypto');
    const publicJwk = new X509Certificate(der).publicKey.export({ format: 'jwk' });
    const op = await providerFor(
      { token_endpoint_auth_method: 'self_signed_tls_client_auth', client_secret: undefined, jwks: { keys: [{ ...publicJwk, x5c: [der.toString('base64')] }] } },
      https(),
    );
    await signsIn(
      await serviceFor(op, {
        clientSecret: undefined,
        clientAuthMethod: 'self_signed_tls_client_auth',
        clientConfig: { maxRetries: 0, tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } },
      }),
      { dispatcher: browser },
    );
  });

  it('cannot sign in with tls_client_auth when no certificate is presented (the provider checks it)', async () => {
    const op = await providerFor(
      { token_endpoint_auth_method: 'tls_client_auth', client_secret: undefined, tls_client_auth_subject_dn: 'CN=forward-auth client' },
      https(),
    );
    const service = await serviceFor(op, { clientSecret: undefined, clientAuthMethod: 'tls_client_auth', pkce: true, clientConfig: { maxRetries: 0, tls: { ca: pki.ca } } });
    const jar = createCookieJar();
    const first = await forwardAuth(service.authAddress(), { url: PAGE, headers: NAVIGATION_HEADERS }, jar);
    const { completeLogin } = await import('../support/op.js');
    const callback = await forwardAuth(service.authAddress(), { url: await completeLogin(first.location ?? '', { dispatcher: browser }), headers: NAVIGATION_HEADERS }, jar);
    expect(callback.status).toBe(502);
    expect(jar.get('test-session')).toBeUndefined();
  });
});

describe('pushed authorization requests (RFC 9126)', () => {
  it('signs in at a provider that requires PAR: the browser carries only client_id and request_uri', async () => {
    const op = await providerFor({}, { pushedAuthorizationRequests: { required: true } });
    const service = await serviceFor(op);
    const result = await browserLogin({ authAddress: service.authAddress(), url: PAGE, authResponseHeaders: ['X-Forwarded-User'] });
    expect(result.final.status).toBe(200);
    expect(result.final.forwardedHeaders['x-forwarded-user']).toBe('alice@example.com');
    const params = new URL(result.authorizationUrl).searchParams;
    expect([...params.keys()].sort()).toEqual(['client_id', 'request_uri']);
    expect(params.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
  });

  it('pushes when configured although the provider does not require it', async () => {
    const op = await providerFor({}, { pushedAuthorizationRequests: { required: false } });
    const service = await serviceFor(op, { pushedAuthorizationRequests: true });
    const result = await browserLogin({ authAddress: service.authAddress(), url: PAGE });
    expect(result.final.status).toBe(200);
    expect(new URL(result.authorizationUrl).searchParams.has('state')).toBe(false);
  });

  it('does not push when neither the configuration nor the provider asks for it', async () => {
    const op = await providerFor({}, { pushedAuthorizationRequests: { required: false } });
    const service = await serviceFor(op);
    const first = await forwardAuth(service.authAddress(), { url: PAGE, headers: NAVIGATION_HEADERS }, createCookieJar());
    expect(new URL(first.location ?? '').searchParams.has('request_uri')).toBe(false);
    expect(new URL(first.location ?? '').searchParams.has('state')).toBe(true);
  });

  it('answers nginx 401 with X-Auth-Location pointing at the pushed request', async () => {
    const op = await providerFor({}, { pushedAuthorizationRequests: { required: true } });
    const service = await serviceFor(op);
    const result = await forwardAuth(service.authAddress(), { url: PAGE, headers: { ...NAVIGATION_HEADERS, 'X-Forward-Auth-Proxy': 'nginx' } }, createCookieJar());
    expect(result.status).toBe(401);
    expect(new URL(String(result.headers['x-auth-location'])).searchParams.get('request_uri')).toMatch(/^urn:ietf:params:oauth:request_uri:/);
    expect(result.body).toBe('');
  });

  it('answers 503 (not 500) when the provider is down as the login starts', async () => {
    const op = await providerFor({}, { pushedAuthorizationRequests: { required: true } });
    const service = await serviceFor(op);
    await op.stop();
    const jar = createCookieJar();
    const result = await forwardAuth(service.authAddress(), { url: PAGE, headers: NAVIGATION_HEADERS }, jar);
    expect(result.status).toBe(503);
    expect(result.headers['retry-after']).toBeDefined();
    expect(jar.all()).toEqual([]);
  });

  it('answers 502 with its own code when the provider refuses the pushed request', async () => {
    // Registered for private_key_jwt: a push authenticated with the secret is refused as invalid_client.
    const { publicKey } = await generateKeyPair('ES256', { extractable: true });
    const op = await providerFor(
      { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k', use: 'sig' }] } },
      { pushedAuthorizationRequests: { required: true } },
    );
    const service = await serviceFor(op, { clientAuthMethod: 'client_secret_basic' });
    const result = await forwardAuth(service.authAddress(), { url: PAGE, headers: { ...NAVIGATION_HEADERS, accept: 'application/json' } }, createCookieJar());
    expect(result.status).toBe(502);
    expect(JSON.parse(result.body)).toMatchObject({ error: 'OFA_PAR_REJECTED' });
  });
});
