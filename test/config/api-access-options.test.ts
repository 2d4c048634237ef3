/**
 * The options of issue 12 as the configuration loader reads them: client authentication methods
 * and their credentials, pushed authorization requests, bearerTokens. Problems name the middleware
 * and the field, and never quote a key.
 */
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfigFromText, type LoadConfigResult } from '../../src/config/index.js';
import { maskConfig } from '../../src/config/mask-config.js';

const SECRET = 'k'.repeat(32);
const base = { issuer: 'https://id.example.com', redirectUrl: '/callback', clientID: 'app' };
const RSA_PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const EC_JWK = JSON.stringify({ ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'k1' });

function load(middleware: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<LoadConfigResult> {
  const text = stringify({ server: { secrets: [SECRET] }, middlewares: { app: { ...base, ...middleware } } });
  return loadConfigFromText(text, '/etc/ofa/config.yaml', { env, readFile: async () => Promise.reject(new Error('no files here')) });
}

async function problemsOf(middleware: Record<string, unknown>, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const result = await load(middleware, env);
  if (result.ok) throw new Error('expected the configuration to be rejected');
  return result.problems;
}

async function middlewareOf(middleware: Record<string, unknown>, env: NodeJS.ProcessEnv = {}) {
  const result = await load(middleware, env);
  if (!result.ok) throw new Error(`expected a valid configuration, got:\n${result.problems.join('\n')}`);
  return { config: result.config, app: result.config.middlewares['app'] };
}

describe('client authentication options', () => {
  it('default to nothing chosen, no PAR and no bearer tokens', async () => {
    const { app } = await middlewareOf({ clientSecret: 's' });
    expect(app).toMatchObject({ clientAuthMethod: undefined, clientPrivateKey: undefined, clientAuthSigningAlg: undefined, pushedAuthorizationRequests: false, bearerTokens: undefined });
  });

  it('accept a private key (PEM or JWK, by reference) instead of a secret', async () => {
    const { app } = await middlewareOf({ clientPrivateKey: 'env:CLIENT_KEY' }, { CLIENT_KEY: RSA_PEM });
    expect(app?.clientPrivateKey).toBe(RSA_PEM);
    const jwk = await middlewareOf({ clientAuthMethod: 'private_key_jwt', clientPrivateKey: EC_JWK, clientAuthSigningAlg: 'ES256' });
    expect(jwk.app?.clientAuthMethod).toBe('private_key_jwt');
  });

  it('accept a client certificate alone for tls_client_auth', async () => {
    const { app } = await middlewareOf({ clientAuthMethod: 'tls_client_auth', clientConfig: { tls: { cert: 'CERT', key: 'KEY' } } });
    expect(app?.clientSecret).toBeUndefined();
  });

  it('reject a key that does not parse, without quoting it', async () => {
    const problems = await problemsOf({ clientPrivateKey: 'env:CLIENT_KEY' }, { CLIENT_KEY: 'not-a-key-SENSITIVE' });
    expect(problems).toEqual(['middlewares.app.clientPrivateKey: is not a PEM private key (PKCS#8, PKCS#1 or SEC1) nor a private JWK']);
    expect(problems.join('\n')).not.toContain('SENSITIVE');
  });

  it('reject a short RSA key', async () => {
    const short = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    expect(await problemsOf({ clientPrivateKey: short })).toEqual(['middlewares.app.clientPrivateKey: is an RSA key shorter than 2048 bits']);
  });

  it('name the credential each method needs', async () => {
    expect(await problemsOf({ clientAuthMethod: 'private_key_jwt', clientSecret: 's' })).toEqual([
      'middlewares.app.clientPrivateKey: is required with clientAuthMethod private_key_jwt',
    ]);
    expect(await problemsOf({ clientAuthMethod: 'client_secret_jwt', clientPrivateKey: RSA_PEM })).toEqual([
      'middlewares.app.clientSecret: is required with clientAuthMethod client_secret_jwt',
    ]);
    expect(await problemsOf({ clientAuthMethod: 'self_signed_tls_client_auth', clientSecret: 's' })).toEqual([
      'middlewares.app.clientConfig.tls.cert: is required with clientAuthMethod self_signed_tls_client_auth',
    ]);
    expect(await problemsOf({ clientAuthMethod: 'none' })).toEqual(['middlewares.app.clientAuthMethod: none (a public client) requires pkce: true']);
    expect(await problemsOf({})).toEqual(['middlewares.app.clientSecret: is required (or set pkce: true for a public client)']);
  });

  it('reject an unknown method and an alg that does not fit the method', async () => {
    expect(await problemsOf({ clientAuthMethod: 'client_secret_magic', clientSecret: 's' })).toEqual([
      'middlewares.app.clientAuthMethod: "client_secret_magic" is not one of client_secret_basic, client_secret_post, client_secret_jwt, private_key_jwt, tls_client_auth, self_signed_tls_client_auth, none',
    ]);
    expect(await problemsOf({ clientPrivateKey: RSA_PEM, clientAuthSigningAlg: 'HS256' })).toEqual([
      'middlewares.app.clientAuthSigningAlg: "HS256" is not one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA, Ed25519',
    ]);
    expect(await problemsOf({ clientAuthMethod: 'client_secret_jwt', clientSecret: 's', clientAuthSigningAlg: 'none' })).toEqual([
      'middlewares.app.clientAuthSigningAlg: "none" is not one of HS256, HS384, HS512',
    ]);
    expect(await problemsOf({ clientSecret: 's', clientAuthSigningAlg: 'RS256' })).toEqual([
      'middlewares.app.clientAuthSigningAlg: applies only to private_key_jwt and client_secret_jwt',
    ]);
  });

  it('mask the private key when the configuration is shown', async () => {
    const { config } = await middlewareOf({ clientPrivateKey: 'env:CLIENT_KEY' }, { CLIENT_KEY: RSA_PEM });
    const shown = JSON.stringify(maskConfig(config));
    expect(shown).toContain('env:CLIENT_KEY → ***');
    expect(shown).not.toContain('PRIVATE KEY');
  });
});

describe('clientAssertionAudience', () => {
  it('is the issuer unless set to tokenEndpoint (Ory Hydra takes only that), and names its choices when wrong', async () => {
    expect((await middlewareOf({ clientSecret: 's' })).app?.clientAssertionAudience).toBeUndefined();
    expect((await middlewareOf({ clientSecret: 's', clientAssertionAudience: 'tokenEndpoint' })).app?.clientAssertionAudience).toBe('tokenEndpoint');
    expect(await problemsOf({ clientSecret: 's', clientAssertionAudience: 'token_endpoint' })).toEqual([
      'middlewares.app.clientAssertionAudience: "token_endpoint" is not one of issuer, tokenEndpoint',
    ]);
  });
});

describe('bearerTokens', () => {
  it('reads the block with its defaults', async () => {
    const { app } = await middlewareOf({ clientSecret: 's', bearerTokens: { audiences: ['https://api.example.com'] } });
    expect(app?.bearerTokens).toEqual({ audiences: ['https://api.example.com'], allowPlainJwt: false, introspection: undefined, passToApplication: false });
    const full = await middlewareOf({
      clientSecret: 's',
      bearerTokens: { audiences: 'api://app', allowPlainJwt: true, introspection: {}, passToApplication: true },
    });
    expect(full.app?.bearerTokens).toEqual({ audiences: ['api://app'], allowPlainJwt: true, introspection: { cacheSeconds: 30 }, passToApplication: true });
  });

  it('requires an audience: a token checked for none is any token of the provider', async () => {
    expect(await problemsOf({ clientSecret: 's', bearerTokens: {} })).toEqual([
      'middlewares.app.bearerTokens.audiences: is required: the audience (resource, API identifier) your tokens are issued for',
    ]);
  });

  it('bounds the introspection cache and rejects unknown keys', async () => {
    expect(await problemsOf({ clientSecret: 's', bearerTokens: { audiences: ['a'], introspection: { cacheSeconds: 301 } } })).toEqual([
      'middlewares.app.bearerTokens.introspection.cacheSeconds: must be at most 300: a revoked token is accepted for that long',
    ]);
    const problems = await problemsOf({ clientSecret: 's', bearerTokens: { audiences: ['a'], audience: 'b' } });
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/^middlewares\.app\.bearerTokens\.audience: /);
    expect(await problemsOf({ clientSecret: 's', bearerTokens: true })).toEqual([
      'middlewares.app.bearerTokens: must be a mapping with at least "audiences" (got a boolean)',
    ]);
  });

  it('takes an introspection endpoint for a provider whose discovery names none (Ory Hydra), as an absolute http(s) URL', async () => {
    const endpoint = 'https://hydra-admin.example.com/admin/oauth2/introspect';
    const { app } = await middlewareOf({ clientSecret: 's', bearerTokens: { audiences: ['a'], introspection: { endpoint } } });
    expect(app?.bearerTokens?.introspection).toEqual({ cacheSeconds: 30, endpoint });
    expect(await problemsOf({ clientSecret: 's', bearerTokens: { audiences: ['a'], introspection: { endpoint: '/admin/oauth2/introspect' } } })).toEqual([
      'middlewares.app.bearerTokens.introspection.endpoint: must be an absolute http(s) URL such as https://accounts.example.com (got "/admin/oauth2/introspect")',
    ]);
  });
});
