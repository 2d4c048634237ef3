import { generateKeyPairSync } from 'node:crypto';
import { calculateJwkThumbprint } from 'jose';
import { tokenIntrospection, type ServerMetadata } from 'openid-client';
import { describe, expect, it } from 'vitest';
import { chooseClientAuthMethod, readClientSigningKey } from '../../src/oidc/client-auth.js';
import { buildConfiguration } from '../../src/oidc/discovery.js';
import type { ProviderFetch, ProviderFetchInit } from '../../src/oidc/http.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';

const issuer = 'https://id.example.com';
const metadata = (methods?: string[]): ServerMetadata => ({ issuer, ...(methods === undefined ? {} : { token_endpoint_auth_methods_supported: methods }) });
const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const RSA_PEM = rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

describe('chooseClientAuthMethod', () => {
  it('keeps the configured method whatever the provider lists', () => {
    const middleware = makeMiddlewareConfig({ clientAuthMethod: 'client_secret_jwt' });
    expect(chooseClientAuthMethod(metadata(['client_secret_basic']), middleware)).toBe('client_secret_jwt');
  });

  it('uses client_secret_basic for a secret unless the provider lists only client_secret_post', () => {
    const middleware = makeMiddlewareConfig();
    expect(chooseClientAuthMethod(metadata(), middleware)).toBe('client_secret_basic');
    expect(chooseClientAuthMethod(metadata(['client_secret_post', 'client_secret_basic']), middleware)).toBe('client_secret_basic');
    expect(chooseClientAuthMethod(metadata(['client_secret_post', 'private_key_jwt']), middleware)).toBe('client_secret_post');
  });

  it('prefers private_key_jwt when a key is configured and the provider offers it', () => {
    const both = makeMiddlewareConfig({ clientPrivateKey: RSA_PEM });
    expect(chooseClientAuthMethod(metadata(['client_secret_basic', 'private_key_jwt']), both)).toBe('private_key_jwt');
    expect(chooseClientAuthMethod(metadata(['client_secret_basic']), both)).toBe('client_secret_basic');
    const keyOnly = makeMiddlewareConfig({ clientSecret: undefined, clientPrivateKey: RSA_PEM });
    expect(chooseClientAuthMethod(metadata(['client_secret_basic']), keyOnly)).toBe('private_key_jwt');
  });

  it('uses the client certificate when there is nothing else, and none for a public client', () => {
    const certOnly = makeMiddlewareConfig({ clientSecret: undefined, clientConfig: { tls: { cert: 'CERT', key: 'KEY' } } });
    expect(chooseClientAuthMethod(metadata(), certOnly)).toBe('tls_client_auth');
    expect(chooseClientAuthMethod(metadata(['self_signed_tls_client_auth']), certOnly)).toBe('self_signed_tls_client_auth');
    expect(chooseClientAuthMethod(metadata(), makeMiddlewareConfig({ clientSecret: undefined, pkce: true }))).toBe('none');
  });
});

describe('readClientSigningKey', () => {
  it('derives the alg from the key type and the kid from the RFC 7638 thumbprint', async () => {
    const signing = readClientSigningKey(RSA_PEM, undefined);
    expect(signing.alg).toBe('RS256');
    expect(signing.kid).toBe(await calculateJwkThumbprint(rsa.publicKey.export({ format: 'jwk' }) as Record<string, string>));
  });

  it('keeps a JWK kid and a configured alg; EC curves map to their alg', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    expect(readClientSigningKey(JSON.stringify({ ...ec.export({ format: 'jwk' }), kid: 'mine' }), undefined)).toMatchObject({ alg: 'ES384', kid: 'mine' });
    expect(readClientSigningKey(RSA_PEM, 'PS256').alg).toBe('PS256');
    const ed = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(readClientSigningKey(ed, undefined).alg).toBe('Ed25519');
  });

  it('says what is wrong without quoting the key', () => {
    expect(() => readClientSigningKey('SENSITIVE', undefined)).toThrow(/^clientPrivateKey is not a PEM private key nor a private JWK$/);
  });
});

describe('mutual-TLS endpoint aliases (RFC 8705 §5)', () => {
  const server: ServerMetadata = {
    issuer,
    token_endpoint: `${issuer}/token`,
    introspection_endpoint: `${issuer}/introspect`,
    mtls_endpoint_aliases: { token_endpoint: 'https://mtls.id.example.com/token', introspection_endpoint: 'https://mtls.id.example.com/introspect' },
  };

  /** A provider that answers every call "inactive" and remembers where it was called and with what. */
  function recordingFetch(): { fetch: ProviderFetch; calls: { url: string; body: URLSearchParams; authorization: string | null }[] } {
    const calls: { url: string; body: URLSearchParams; authorization: string | null }[] = [];
    const fetch = Object.assign(
      async (url: string, init?: ProviderFetchInit): Promise<Response> => {
        calls.push({ url, body: new URLSearchParams(String(init?.body ?? '')), authorization: new Headers(init?.headers as ConstructorParameters<typeof Headers>[0]).get('authorization') });
        return Response.json({ active: false });
      },
      { close: async () => undefined },
    );
    return { fetch, calls };
  }

  it('sends certificate-authenticated calls to the aliases, naming the client in the body', async () => {
    const { fetch, calls } = recordingFetch();
    const middleware = makeMiddlewareConfig({ issuer, clientSecret: undefined, clientConfig: { tls: { cert: 'CERT', key: 'KEY' } } });
    await tokenIntrospection(buildConfiguration(middleware, server, fetch), 'token');
    expect(calls.map((call) => call.url)).toEqual(['https://mtls.id.example.com/introspect']);
    expect(calls[0]?.body.get('client_id')).toBe('forward-auth');
    expect(calls[0]?.authorization).toBeNull();
  });

  it('keeps the ordinary endpoints for a secret', async () => {
    const { fetch, calls } = recordingFetch();
    await tokenIntrospection(buildConfiguration(makeMiddlewareConfig({ issuer }), server, fetch), 'token');
    expect(calls.map((call) => call.url)).toEqual([`${issuer}/introspect`]);
    expect(calls[0]?.authorization).toMatch(/^Basic /);
  });
});
