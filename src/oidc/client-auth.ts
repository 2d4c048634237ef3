/**
 * How the service authenticates itself at the provider's token, PAR and introspection endpoints:
 * the method the configuration names, else the best one the provider advertises among those the
 * configured credentials allow. Each method is openid-client's own helper.
 */
import { createHash, createPrivateKey, createPublicKey, randomBytes, type JsonWebKey, type KeyObject } from 'node:crypto';
import { importPKCS8, SignJWT, type CryptoKey } from 'jose';
import {
  ClientSecretBasic,
  ClientSecretPost,
  None,
  PrivateKeyJwt,
  TlsClientAuth,
  modifyAssertion,
  type ClientAuth,
  type ServerMetadata,
} from 'openid-client';
import type { ClientAuthMethod, MiddlewareConfig } from '../config/types.js';
import { OfaError } from '../errors.js';

type Credentials = Pick<MiddlewareConfig, 'clientSecret' | 'clientPrivateKey' | 'clientAuthMethod' | 'clientAuthSigningAlg' | 'clientAssertionAudience' | 'clientConfig'>;

/** Who a client assertion is for: the issuer, or the token endpoint for providers that take only that (Ory Hydra). */
function assertionAudience(as: ServerMetadata, credentials: Credentials): string {
  return credentials.clientAssertionAudience === 'tokenEndpoint' && as.token_endpoint !== undefined ? as.token_endpoint : as.issuer;
}

/**
 * The configured method, or: a private key → private_key_jwt; a secret → client_secret_basic
 * unless the provider lists only client_secret_post (an absent list means basic, RFC 8414 §2);
 * only a client certificate → tls_client_auth; nothing → none (a public client).
 */
export function chooseClientAuthMethod(metadata: ServerMetadata, credentials: Credentials): ClientAuthMethod {
  if (credentials.clientAuthMethod !== undefined) return credentials.clientAuthMethod;
  const supported = Array.isArray(metadata.token_endpoint_auth_methods_supported) ? metadata.token_endpoint_auth_methods_supported : undefined;
  const offers = (method: ClientAuthMethod): boolean => supported === undefined || supported.includes(method);
  const hasSecret = credentials.clientSecret !== undefined && credentials.clientSecret !== '';
  if (credentials.clientPrivateKey !== undefined && (offers('private_key_jwt') || !hasSecret)) return 'private_key_jwt';
  if (hasSecret) {
    if (supported !== undefined && !supported.includes('client_secret_basic') && supported.includes('client_secret_post')) {
      return 'client_secret_post';
    }
    return 'client_secret_basic';
  }
  if (credentials.clientConfig.tls.cert !== undefined) {
    return supported?.includes('self_signed_tls_client_auth') === true && !supported.includes('tls_client_auth')
      ? 'self_signed_tls_client_auth'
      : 'tls_client_auth';
  }
  return 'none';
}

/** True for the methods whose credential is the TLS client certificate (RFC 8705 §2). */
export function isMutualTlsMethod(method: ClientAuthMethod): boolean {
  return method === 'tls_client_auth' || method === 'self_signed_tls_client_auth';
}

export function createClientAuth(method: ClientAuthMethod, credentials: Credentials): ClientAuth {
  const secret = credentials.clientSecret ?? '';
  switch (method) {
    case 'client_secret_basic':
      return ClientSecretBasic(secret);
    case 'client_secret_post':
      return ClientSecretPost(secret);
    case 'client_secret_jwt':
      return clientSecretJwt(secret, credentials.clientAuthSigningAlg ?? 'HS256', credentials);
    case 'private_key_jwt':
      return lazyPrivateKeyJwt(credentials);
    case 'tls_client_auth':
    case 'self_signed_tls_client_auth':
      // The certificate itself is presented by our fetch (clientConfig.tls); the body names the client.
      return TlsClientAuth();
    case 'none':
      return None();
  }
}

export interface ClientSigningKey {
  readonly key: KeyObject;
  readonly alg: string;
  /** The JWK's own `kid`, else its RFC 7638 thumbprint. */
  readonly kid: string;
}

/** The configured private key with the alg and kid its assertions carry. Never puts the key in an error. */
export function readClientSigningKey(text: string, configuredAlg: string | undefined): ClientSigningKey {
  let key: KeyObject;
  let kid: string | undefined;
  try {
    const trimmed = text.trim();
    if (trimmed.startsWith('{')) {
      const jwk = JSON.parse(trimmed) as JsonWebKey & { kid?: unknown };
      kid = typeof jwk.kid === 'string' && jwk.kid !== '' ? jwk.kid : undefined;
      key = createPrivateKey({ key: jwk, format: 'jwk' });
    } else {
      key = createPrivateKey(trimmed);
    }
  } catch {
    throw new OfaError('OFA_CONFIG_INVALID', 'clientPrivateKey is not a PEM private key nor a private JWK');
  }
  return { key, alg: configuredAlg ?? algorithmOfKey(key), kid: kid ?? jwkThumbprint(key) };
}

function algorithmOfKey(key: KeyObject): string {
  switch (key.asymmetricKeyType) {
    case 'rsa':
      return 'RS256';
    case 'rsa-pss':
      return 'PS256';
    case 'ed25519':
      return 'Ed25519';
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve;
      if (curve === 'prime256v1') return 'ES256';
      if (curve === 'secp384r1') return 'ES384';
      if (curve === 'secp521r1') return 'ES512';
      throw new OfaError('OFA_CONFIG_INVALID', `clientPrivateKey is on an unsupported curve (${curve ?? 'unknown'})`);
    }
    default:
      throw new OfaError('OFA_CONFIG_INVALID', `clientPrivateKey is an unsupported ${key.asymmetricKeyType ?? 'unknown'} key`);
  }
}

/** RFC 7638: SHA-256 over the public key's required members in lexicographic order. */
function jwkThumbprint(key: KeyObject): string {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const members: Record<string, readonly string[]> = { RSA: ['e', 'kty', 'n'], EC: ['crv', 'kty', 'x', 'y'], OKP: ['crv', 'kty', 'x'] };
  const names = members[jwk.kty ?? ''] ?? [];
  const canonical = JSON.stringify(Object.fromEntries(names.map((name) => [name, (jwk as Record<string, unknown>)[name]])));
  return createHash('sha256').update(canonical).digest('base64url');
}

/** RFC 7523 §2.2 assertions live a minute, as openid-client's own. */
const CLIENT_ASSERTION_LIFETIME_SECONDS = 60;

/**
 * client_secret_jwt signed by jose under the alg named: openid-client's ClientSecretJwt always
 * computes HMAC-SHA-256, so a header saying HS384 or HS512 would lie about its signature. The
 * claims are those of RFC 7523 §3 and openid-client's assertions.
 */
function clientSecretJwt(secret: string, alg: string, credentials: Credentials): ClientAuth {
  const key = new TextEncoder().encode(secret);
  return async (as, client, body) => {
    const nowSeconds = Math.floor(Date.now() / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg })
      .setIssuer(client.client_id)
      .setSubject(client.client_id)
      .setAudience(assertionAudience(as, credentials))
      .setJti(randomBytes(32).toString('base64url'))
      .setIssuedAt(nowSeconds)
      .setNotBefore(nowSeconds)
      .setExpirationTime(nowSeconds + CLIENT_ASSERTION_LIFETIME_SECONDS)
      .sign(key);
    body.set('client_id', client.client_id);
    body.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
    body.set('client_assertion', assertion);
  };
}

/**
 * private_key_jwt through openid-client's PrivateKeyJwt. WebCrypto imports keys asynchronously
 * while a Configuration is built synchronously: the key is imported on the first call and kept.
 */
function lazyPrivateKeyJwt(credentials: Credentials): ClientAuth {
  let imported: Promise<{ readonly signing: ClientSigningKey; readonly cryptoKey: CryptoKey }> | undefined;
  const importKey = async (): Promise<{ readonly signing: ClientSigningKey; readonly cryptoKey: CryptoKey }> => {
    const signing = readClientSigningKey(credentials.clientPrivateKey ?? '', credentials.clientAuthSigningAlg);
    const pkcs8 = signing.key.export({ type: 'pkcs8', format: 'pem' }).toString();
    return { signing, cryptoKey: await importPKCS8(pkcs8, signing.alg) };
  };
  return async (as, client, body, headers) => {
    imported ??= importKey();
    const { signing, cryptoKey } = await imported;
    const audience = assertionAudience(as, credentials);
    const auth = PrivateKeyJwt({ key: cryptoKey, kid: signing.kid }, {
      [modifyAssertion]: (header, payload) => {
        header.alg = signing.alg;
        payload.aud = audience;
      },
    });
    await auth(as, client, body, headers);
  };
}
