import { SignJWT, exportJWK, generateKeyPair, jwtVerify, type CryptoKey, type JWK, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createProviderClient, type ProviderClient } from '../../src/oidc/discovery.js';
import { createProviderFetch } from '../../src/oidc/http.js';
import { JWKS_COOLDOWN_MS, providerKeySet } from '../../src/oidc/jwks.js';
import { createTestLogger } from '../support/log.js';
import { readyProviderClient } from '../support/provider-client.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { discoveryDocument, findFreePort, sendJson, startScriptedServer, type ScriptedServer } from '../support/scripted-server.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  vi.useRealTimers();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function verifyWithProviderKeys(client: ProviderClient, jwt: string, options: JWTVerifyOptions & { algorithms: string[] }): Promise<JWTPayload> {
  return (await jwtVerify(jwt, providerKeySet(client), options)).payload;
}

interface SigningKey {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
}

async function makeKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  return { kid, privateKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/** A provider publishing `published` at its jwks_uri; counts key-set downloads. */
async function startKeyProvider(published: SigningKey[]): Promise<{ server: ScriptedServer; issuer: string; jwksFetches: () => number }> {
  let issuer = '';
  const server = await startScriptedServer((req, res) => {
    if (req.url === '/.well-known/openid-configuration') sendJson(res, 200, discoveryDocument(issuer));
    else if (req.url === '/jwks') sendJson(res, 200, { keys: published.map((k) => k.publicJwk) });
    else res.writeHead(404).end();
  });
  issuer = server.url;
  cleanups.push(() => server.stop());
  return { server, issuer, jwksFetches: () => server.requests.filter((r) => r.url === '/jwks').length };
}

async function readyClient(issuer: string): Promise<ProviderClient> {
  const { providerClient, stop } = await readyProviderClient(makeMiddlewareConfig({ issuer, clientConfig: { maxRetries: 0 } }));
  cleanups.push(stop);
  return providerClient;
}

function sign(key: SigningKey, issuer: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ groups: ['admin'], ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid, typ: 'at+jwt' })
    .setIssuer(issuer)
    .setSubject('alice')
    .setIssuedAt()
    .setExpirationTime('1h')
    .sign(key.privateKey);
}

describe('the provider key set (providerKeySet)', () => {
  it('verifies a token signed with a published key and returns its claims', async () => {
    const key = await makeKey('k1');
    const { issuer, jwksFetches } = await startKeyProvider([key]);
    const providerClient = await readyClient(issuer);
    const payload = await verifyWithProviderKeys(providerClient, await sign(key, issuer), { algorithms: ['RS256'], issuer });
    expect(payload.groups).toEqual(['admin']);
    await verifyWithProviderKeys(providerClient, await sign(key, issuer), { algorithms: ['RS256'] });
    expect(jwksFetches()).toBe(1);
  });

  it('rejects a token signed with a key the provider does not publish, without refetching in the cooldown', async () => {
    const published = await makeKey('k1');
    const stranger = await makeKey('k-unknown');
    const { issuer, jwksFetches } = await startKeyProvider([published]);
    const providerClient = await readyClient(issuer);
    await verifyWithProviderKeys(providerClient, await sign(published, issuer), { algorithms: ['RS256'] });
    for (let i = 0; i < 5; i += 1) {
      await expect(verifyWithProviderKeys(providerClient, await sign(stranger, issuer), { algorithms: ['RS256'] })).rejects.toMatchObject({
        code: 'ERR_JWKS_NO_MATCHING_KEY',
      });
    }
    expect(jwksFetches()).toBe(1);
  });

  it('rejects a forged signature under a published kid', async () => {
    const published = await makeKey('k1');
    const forger = await makeKey('k1');
    const { issuer } = await startKeyProvider([published]);
    const providerClient = await readyClient(issuer);
    await expect(verifyWithProviderKeys(providerClient, await sign(forger, issuer), { algorithms: ['RS256'] })).rejects.toMatchObject({
      code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    });
  });

  it('refuses an algorithm the caller did not allow', async () => {
    const key = await makeKey('k1');
    const { issuer } = await startKeyProvider([key]);
    const providerClient = await readyClient(issuer);
    await expect(verifyWithProviderKeys(providerClient, await sign(key, issuer), { algorithms: ['ES256'] })).rejects.toMatchObject({
      code: 'ERR_JOSE_ALG_NOT_ALLOWED',
    });
  });

  it('picks up a rotated key with one refetch once the cooldown has passed', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const oldKey = await makeKey('old');
    const newKey = await makeKey('new');
    const published = [oldKey];
    const { issuer, jwksFetches } = await startKeyProvider(published);
    const providerClient = await readyClient(issuer);
    await verifyWithProviderKeys(providerClient, await sign(oldKey, issuer), { algorithms: ['RS256'] });

    published.push(newKey); // the provider rotates
    await expect(verifyWithProviderKeys(providerClient, await sign(newKey, issuer), { algorithms: ['RS256'] })).rejects.toThrow();
    expect(jwksFetches()).toBe(1);

    vi.setSystemTime(Date.now() + JWKS_COOLDOWN_MS + 1000);
    const payload = await verifyWithProviderKeys(providerClient, await sign(newKey, issuer), { algorithms: ['RS256'] });
    expect(payload.sub).toBe('alice');
    expect(jwksFetches()).toBe(2);
  });

  it('says the provider is unavailable before discovery succeeded', async () => {
    const port = await findFreePort();
    const middleware = makeMiddlewareConfig({ issuer: `http://127.0.0.1:${port}`, clientConfig: { maxRetries: 0 } });
    const { log } = createTestLogger();
    const fetch = createProviderFetch(middleware.clientConfig, log);
    const providerClient = createProviderClient(middleware, { fetch, log, retryDelayMs: () => 60_000 });
    cleanups.push(() => fetch.close());
    cleanups.push(() => providerClient.stop());
    await providerClient.discover();
    await expect(verifyWithProviderKeys(providerClient, 'a.b.c', { algorithms: ['RS256'] })).rejects.toMatchObject({
      code: 'OFA_PROVIDER_UNAVAILABLE',
    });
  });

  it('reports a key set that cannot be fetched as an OfaError', async () => {
    const key = await makeKey('k1');
    let issuer = '';
    const server = await startScriptedServer((req, res) => {
      if (req.url === '/.well-known/openid-configuration') sendJson(res, 200, discoveryDocument(issuer));
      else res.writeHead(503).end();
    });
    issuer = server.url;
    cleanups.push(() => server.stop());
    const providerClient = await readyClient(issuer);
    await expect(verifyWithProviderKeys(providerClient, await sign(key, issuer), { algorithms: ['RS256'] })).rejects.toMatchObject({
      code: 'OFA_PROVIDER_UNAVAILABLE',
    });
  });
});
