/**
 * The options for API callers and the client's own authentication: `clientAuthMethod`,
 * `clientPrivateKey`, `clientAuthSigningAlg` and the `bearerTokens` block.
 */
import { createPrivateKey, type JsonWebKey } from 'node:crypto';
import {
  checkKnownKeys,
  describeType,
  isRawObject,
  joinPath,
  readBoolean,
  readNumber,
  readOptionalString,
  readStringList,
  type ProblemSink,
  type RawObject,
} from './field-reader.js';
import type { BearerTokensConfig, ClientAssertionAudience, ClientAuthMethod, MiddlewareConfig } from './types.js';
import { checkIssuerUrl } from './url-options.js';

const CLIENT_AUTH_METHODS: readonly ClientAuthMethod[] = [
  'client_secret_basic',
  'client_secret_post',
  'client_secret_jwt',
  'private_key_jwt',
  'tls_client_auth',
  'self_signed_tls_client_auth',
  'none',
];
/** Asymmetric JWS algorithms a client assertion may be signed with (never none, never HS* with a private key). */
export const PRIVATE_KEY_JWT_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];
const CLIENT_SECRET_JWT_ALGS = ['HS256', 'HS384', 'HS512'];

const CLIENT_ASSERTION_AUDIENCES: readonly ClientAssertionAudience[] = ['issuer', 'tokenEndpoint'];

export function readClientAssertionAudience(options: RawObject, path: string, sink: ProblemSink): ClientAssertionAudience | undefined {
  const value = readOptionalString(options, 'clientAssertionAudience', path, sink);
  if (value === undefined || value === '') return undefined;
  if (!(CLIENT_ASSERTION_AUDIENCES as readonly string[]).includes(value)) {
    sink.error(joinPath(path, 'clientAssertionAudience'), `"${value}" is not one of ${CLIENT_ASSERTION_AUDIENCES.join(', ')}`);
    return undefined;
  }
  return value as ClientAssertionAudience;
}

export function readClientAuthMethod(options: RawObject, path: string, sink: ProblemSink): ClientAuthMethod | undefined {
  const value = readOptionalString(options, 'clientAuthMethod', path, sink);
  if (value === undefined || value === '') return undefined;
  if (!(CLIENT_AUTH_METHODS as readonly string[]).includes(value)) {
    sink.error(joinPath(path, 'clientAuthMethod'), `"${value}" is not one of ${CLIENT_AUTH_METHODS.join(', ')}`);
    return undefined;
  }
  return value as ClientAuthMethod;
}

/** Never quotes the value: it is a private key. */
export function checkClientPrivateKey(value: string): string | undefined {
  try {
    const trimmed = value.trim();
    const key = trimmed.startsWith('{')
      ? createPrivateKey({ key: JSON.parse(trimmed) as JsonWebKey, format: 'jwk' })
      : createPrivateKey(trimmed);
    if (!['rsa', 'rsa-pss', 'ec', 'ed25519'].includes(key.asymmetricKeyType ?? '')) {
      return `is a ${key.asymmetricKeyType ?? 'unknown'} key; private_key_jwt needs an RSA, EC or Ed25519 key`;
    }
    if (key.asymmetricKeyType?.startsWith('rsa') === true && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
      return 'is an RSA key shorter than 2048 bits';
    }
    return undefined;
  } catch {
    return 'is not a PEM private key (PKCS#8, PKCS#1 or SEC1) nor a private JWK';
  }
}

export function hasClientCertificateOption(options: RawObject): boolean {
  const clientConfig = options['clientConfig'];
  const tls = isRawObject(clientConfig) ? clientConfig['tls'] : undefined;
  return isRawObject(tls) && typeof tls['cert'] === 'string' && tls['cert'] !== '';
}

interface Credentials {
  readonly pkce: boolean;
  readonly hasClientSecret: boolean;
  readonly hasPrivateKey: boolean;
  readonly hasClientCertificate: boolean;
}

/** Which credentials each method needs; a client without any is public and must use PKCE. */
export function checkClientCredentials(config: MiddlewareConfig, has: Credentials, path: string, sink: ProblemSink): void {
  const method = config.clientAuthMethod;
  const here = joinPath(path, 'clientAuthMethod');
  const alg = config.clientAuthSigningAlg;
  switch (method) {
    case 'client_secret_basic':
    case 'client_secret_post':
    case 'client_secret_jwt':
      if (!has.hasClientSecret) sink.error(joinPath(path, 'clientSecret'), `is required with clientAuthMethod ${method}`);
      break;
    case 'private_key_jwt':
      if (!has.hasPrivateKey) sink.error(joinPath(path, 'clientPrivateKey'), 'is required with clientAuthMethod private_key_jwt');
      break;
    case 'tls_client_auth':
    case 'self_signed_tls_client_auth':
      if (!has.hasClientCertificate) sink.error(joinPath(path, 'clientConfig.tls.cert'), `is required with clientAuthMethod ${method}`);
      break;
    case 'none':
      if (!has.pkce) sink.error(here, 'none (a public client) requires pkce: true');
      break;
    case undefined:
      if (!has.hasClientSecret && !has.hasPrivateKey && !has.hasClientCertificate && !has.pkce) {
        sink.error(joinPath(path, 'clientSecret'), 'is required (or set pkce: true for a public client)');
      }
      break;
  }
  if (alg !== undefined && alg !== '') {
    const usesKey = method === 'private_key_jwt' || (method === undefined && has.hasPrivateKey);
    const allowed = usesKey ? PRIVATE_KEY_JWT_ALGS : method === 'client_secret_jwt' ? CLIENT_SECRET_JWT_ALGS : [];
    if (allowed.length === 0) sink.error(joinPath(path, 'clientAuthSigningAlg'), 'applies only to private_key_jwt and client_secret_jwt');
    else if (!allowed.includes(alg)) sink.error(joinPath(path, 'clientAuthSigningAlg'), `"${alg}" is not one of ${allowed.join(', ')}`);
  }
}

export const DEFAULT_INTROSPECTION_CACHE_SECONDS = 30;
export const MAX_INTROSPECTION_CACHE_SECONDS = 300;

export function readBearerTokens(options: RawObject, path: string, sink: ProblemSink): BearerTokensConfig | undefined {
  const raw = options['bearerTokens'];
  const here = joinPath(path, 'bearerTokens');
  if (raw === undefined) return undefined;
  if (!isRawObject(raw)) {
    sink.error(here, `must be a mapping with at least "audiences" (got ${describeType(raw)})`);
    return undefined;
  }
  checkKnownKeys(raw, here, ['audiences', 'allowPlainJwt', 'introspection', 'passToApplication'], sink);
  const audiences = typeof raw['audiences'] === 'string' ? [raw['audiences']] : (readStringList(raw, 'audiences', here, sink) ?? []);
  // A token checked for no audience is any token the provider ever issued, for any API.
  if (audiences.filter((audience) => audience !== '').length === 0) {
    sink.error(joinPath(here, 'audiences'), 'is required: the audience (resource, API identifier) your tokens are issued for');
  }
  let introspection: BearerTokensConfig['introspection'];
  const rawIntrospection = raw['introspection'];
  if (rawIntrospection !== undefined) {
    const introspectionPath = joinPath(here, 'introspection');
    if (!isRawObject(rawIntrospection)) {
      sink.error(introspectionPath, `must be a mapping; write "introspection: {}" to check opaque tokens with defaults (got ${describeType(rawIntrospection)})`);
    } else {
      checkKnownKeys(rawIntrospection, introspectionPath, ['cacheSeconds', 'clientsWithoutAudience', 'endpoint'], sink);
      const cacheSeconds =
        readNumber(rawIntrospection, 'cacheSeconds', introspectionPath, { integer: true, min: 0 }, sink) ?? DEFAULT_INTROSPECTION_CACHE_SECONDS;
      if (cacheSeconds > MAX_INTROSPECTION_CACHE_SECONDS) {
        sink.error(joinPath(introspectionPath, 'cacheSeconds'), `must be at most ${MAX_INTROSPECTION_CACHE_SECONDS}: a revoked token is accepted for that long`);
      }
      const endpoint = readOptionalString(rawIntrospection, 'endpoint', introspectionPath, sink);
      const endpointProblem = endpoint === undefined || endpoint === '' ? undefined : checkIssuerUrl(endpoint);
      if (endpointProblem !== undefined) sink.error(joinPath(introspectionPath, 'endpoint'), endpointProblem);
      const clientsWithoutAudience = readClientsWithoutAudience(rawIntrospection, introspectionPath, sink);
      introspection = {
        cacheSeconds,
        ...(clientsWithoutAudience.length === 0 ? {} : { clientsWithoutAudience }),
        ...(endpoint === undefined || endpoint === '' ? {} : { endpoint }),
      };
    }
  }
  return {
    audiences: audiences.filter((audience) => audience !== ''),
    allowPlainJwt: readBoolean(raw, 'allowPlainJwt', here, sink) ?? false,
    introspection,
    passToApplication: readBoolean(raw, 'passToApplication', here, sink) ?? false,
  };
}

/**
 * An introspection answer without `aud` says only that the provider issued the token, to some
 * client, for some API: it passes only for the clients the operator names here.
 */
function readClientsWithoutAudience(introspection: RawObject, path: string, sink: ProblemSink): string[] {
  const clients = readStringList(introspection, 'clientsWithoutAudience', path, sink) ?? [];
  if (clients.some((clientId) => clientId.trim() === '')) {
    sink.error(joinPath(path, 'clientsWithoutAudience'), 'must list client IDs; an empty one would match no client and hide a typo');
  }
  return clients.filter((clientId) => clientId.trim() !== '');
}

/**
 * For `check`: with the client ID among the audiences, the provider's ID tokens (aud = the client)
 * and logout tokens verify like access tokens, and only their shape tells them apart.
 */
export function bearerAudienceWarnings(middleware: MiddlewareConfig): string[] {
  const audiences = middleware.bearerTokens?.audiences ?? [];
  if (middleware.clientID === '' || !audiences.includes(middleware.clientID)) return [];
  return [
    `middlewares.${middleware.name}.bearerTokens.audiences: contains the clientID; ID tokens are issued for that audience too ` +
      '(refused by their shape: nonce, at_hash, events, auth_time alone, a typ claim); prefer an audience of the API\'s own',
  ];
}
