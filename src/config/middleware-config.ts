import { createPrivateKey, type JsonWebKey } from 'node:crypto';
import { ClaimsSyntaxError, compileClaims, parseClaimKey } from '../claims/index.js';
import { COOKIE_KEYS, HTTP_TOKEN, readCookieOptions } from './cookie-options.js';
import {
  checkKnownKeys,
  describeType,
  isRawObject,
  joinPath,
  readBoolean,
  readNumber,
  readObject,
  readOptionalString,
  readString,
  readStringList,
  readStringMap,
  type ProblemSink,
  type RawObject,
} from './field-reader.js';
import { checkPair, queueSecret, type Mutable, type Reading } from './option-reading.js';
import { readRedis } from './redis-config.js';
import { isReservedHeaderName } from './reserved-headers.js';
import type { PendingSecret } from './secret-references.js';
import type {
  BearerTokensConfig,
  ClientAuthMethod,
  ClientConfig,
  CsrfConfig,
  MiddlewareConfig,
  SessionConfig,
  StateCookieConfig,
} from './types.js';
import { checkFlexibleUrl, checkIssuerUrl } from './url-options.js';

/** Every option of the spec table, same names. */
export const MIDDLEWARE_KEYS = [
  'issuer',
  'redirectUrl',
  'clientID',
  'clientSecret',
  'clientAuthMethod',
  'clientPrivateKey',
  'clientAuthSigningAlg',
  'pushedAuthorizationRequests',
  'bearerTokens',
  'claims',
  'usernameClaim',
  'forwardHeaders',
  'clientConfig',
  'pkce',
  'discoveryParams',
  'scopes',
  'authParams',
  'disableLogin',
  'loginUrl',
  'logoutUrl',
  'postLoginRedirectUrl',
  'postLogoutRedirectUrl',
  'backchannelLogoutUrl',
  'backchannelLogoutSessionsRequired',
  'stateCookie',
  'session',
  'csrf',
] as const;

const FLEXIBLE_URL_KEYS = [
  'loginUrl',
  'logoutUrl',
  'postLoginRedirectUrl',
  'postLogoutRedirectUrl',
  'backchannelLogoutUrl',
] as const;

/**
 * Parameters the authorization request sets itself; letting authParams override them would
 * break the state/nonce/PKCE checks or point the provider elsewhere.
 */
const RESERVED_AUTH_PARAMS = [
  'client_id',
  'redirect_uri',
  'response_type',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
];

/** A middleware's options as written, wherever they came from. */
export interface MiddlewareSource {
  readonly name: string;
  readonly namespace: string | undefined;
  /** Where problems point, e.g. `middlewares.app`. */
  readonly path: string;
  readonly options: RawObject;
}

/**
 * Checks one middleware's options and applies the spec's defaults. Secret-bearing options are
 * queued on `pending` and filled in when their references resolve.
 */
export function readMiddlewareConfig(
  source: MiddlewareSource,
  sink: ProblemSink,
  pending: PendingSecret[],
): MiddlewareConfig {
  const { options, path, name } = source;
  const reading: Reading = { sink, pending, namespace: source.namespace };
  checkKnownKeys(options, path, MIDDLEWARE_KEYS, sink);

  const issuer = readRequiredString(options, 'issuer', path, sink);
  if (issuer !== undefined) reportReason(sink, joinPath(path, 'issuer'), checkIssuerUrl(issuer));
  const redirectUrl = readRequiredString(options, 'redirectUrl', path, sink);
  if (redirectUrl !== undefined) reportReason(sink, joinPath(path, 'redirectUrl'), checkFlexibleUrl(redirectUrl));

  const pkce = readBoolean(options, 'pkce', path, sink) ?? false;
  const config: Mutable<MiddlewareConfig> = {
    name,
    namespace: source.namespace,
    issuer: issuer ?? '',
    redirectUrl: redirectUrl ?? '',
    clientID: '',
    clientSecret: undefined,
    clientAuthMethod: readClientAuthMethod(options, path, sink),
    clientPrivateKey: undefined,
    clientAuthSigningAlg: readOptionalString(options, 'clientAuthSigningAlg', path, sink),
    pushedAuthorizationRequests: readBoolean(options, 'pushedAuthorizationRequests', path, sink) ?? false,
    bearerTokens: readBearerTokens(options, path, sink),
    claims: readClaimsExpression(options, path, sink),
    usernameClaim: readClaimKeyOption(options, 'usernameClaim', path, sink),
    forwardHeaders: readForwardHeaders(options, path, sink),
    clientConfig: readClientConfig(options, path, reading),
    pkce,
    discoveryParams: readStringMap(options, 'discoveryParams', path, sink) ?? {},
    scopes: readScopes(options, path, sink),
    authParams: readAuthParams(options, path, sink),
    disableLogin: readBoolean(options, 'disableLogin', path, sink) ?? false,
    loginUrl: undefined,
    logoutUrl: undefined,
    postLoginRedirectUrl: undefined,
    postLogoutRedirectUrl: undefined,
    backchannelLogoutUrl: undefined,
    backchannelLogoutSessionsRequired: readBoolean(options, 'backchannelLogoutSessionsRequired', path, sink) ?? false,
    stateCookie: readStateCookie(options, path, name, sink),
    session: readSession(options, path, name, reading),
    csrf: readCsrf(options, path, sink),
  };

  for (const key of FLEXIBLE_URL_KEYS) {
    const value = readOptionalString(options, key, path, sink);
    if (value !== undefined) reportReason(sink, joinPath(path, key), checkFlexibleUrl(value));
    config[key] = value;
  }

  const hasClientID = queueSecret(options, 'clientID', path, reading, (value) => (config.clientID = value));
  if (!hasClientID) sink.error(joinPath(path, 'clientID'), 'is required');
  const hasClientSecret = queueSecret(options, 'clientSecret', path, reading, (value) => (config.clientSecret = value));
  const keyPath = joinPath(path, 'clientPrivateKey');
  const hasPrivateKey = queueSecret(options, 'clientPrivateKey', path, reading, (value) => {
    config.clientPrivateKey = value;
    const problem = checkClientPrivateKey(value);
    if (problem !== undefined) sink.error(keyPath, problem);
  });
  const hasClientCertificate = hasClientCertificateOption(options);
  checkClientCredentials(config, { pkce, hasClientSecret, hasPrivateKey, hasClientCertificate }, path, sink);

  if (config.stateCookie.name === config.session.name) {
    sink.error(joinPath(path, 'session.name'), `must differ from stateCookie.name (both are "${config.session.name}")`);
  }
  warnInsecureCookies(config, path, sink);
  return config;
}

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

function readClientAuthMethod(options: RawObject, path: string, sink: ProblemSink): ClientAuthMethod | undefined {
  const value = readOptionalString(options, 'clientAuthMethod', path, sink);
  if (value === undefined || value === '') return undefined;
  if (!(CLIENT_AUTH_METHODS as readonly string[]).includes(value)) {
    sink.error(joinPath(path, 'clientAuthMethod'), `"${value}" is not one of ${CLIENT_AUTH_METHODS.join(', ')}`);
    return undefined;
  }
  return value as ClientAuthMethod;
}

/** Never quotes the value: it is a private key. */
function checkClientPrivateKey(value: string): string | undefined {
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

function hasClientCertificateOption(options: RawObject): boolean {
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
function checkClientCredentials(config: MiddlewareConfig, has: Credentials, path: string, sink: ProblemSink): void {
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

function readBearerTokens(options: RawObject, path: string, sink: ProblemSink): BearerTokensConfig | undefined {
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
      checkKnownKeys(rawIntrospection, introspectionPath, ['cacheSeconds'], sink);
      const cacheSeconds =
        readNumber(rawIntrospection, 'cacheSeconds', introspectionPath, { integer: true, min: 0 }, sink) ?? DEFAULT_INTROSPECTION_CACHE_SECONDS;
      if (cacheSeconds > MAX_INTROSPECTION_CACHE_SECONDS) {
        sink.error(joinPath(introspectionPath, 'cacheSeconds'), `must be at most ${MAX_INTROSPECTION_CACHE_SECONDS}: a revoked token is accepted for that long`);
      }
      introspection = { cacheSeconds };
    }
  }
  return {
    audiences: audiences.filter((audience) => audience !== ''),
    allowPlainJwt: readBoolean(raw, 'allowPlainJwt', here, sink) ?? false,
    introspection,
    passToApplication: readBoolean(raw, 'passToApplication', here, sink) ?? false,
  };
}

/** A cookie without Secure on an https deployment also travels over plain http, where anyone on the path reads it. */
function warnInsecureCookies(config: MiddlewareConfig, path: string, sink: ProblemSink): void {
  const https = (['redirectUrl', ...FLEXIBLE_URL_KEYS] as const).find((key) => /^https:\/\//i.test(config[key] ?? ''));
  if (https === undefined) return;
  const insecure: [string, boolean][] = [
    ['session.secure', config.session.secure],
    ['stateCookie.secure', config.stateCookie.secure],
    ['csrf.secure', config.csrf?.secure ?? true],
  ];
  for (const [field, secure] of insecure) {
    if (!secure) {
      sink.warn(joinPath(path, field), `is false while ${https} is https; the cookie would also travel over plain http (set secure: true)`);
    }
  }
}

function readRequiredString(object: RawObject, key: string, path: string, sink: ProblemSink): string | undefined {
  const present = object[key] !== undefined && object[key] !== null && object[key] !== '';
  const value = readOptionalString(object, key, path, sink);
  if (!present) sink.error(joinPath(path, key), 'is required');
  return value;
}

function reportReason(sink: ProblemSink, path: string, reason: string | undefined): void {
  if (reason !== undefined) sink.error(path, reason);
}

function readClaimsExpression(options: RawObject, path: string, sink: ProblemSink): string | undefined {
  const claims = readOptionalString(options, 'claims', path, sink);
  if (claims === undefined) return undefined;
  try {
    compileClaims(claims);
  } catch (error) {
    sink.error(joinPath(path, 'claims'), describeClaimsError(error));
  }
  return claims;
}

function readClaimKeyOption(options: RawObject, key: string, path: string, sink: ProblemSink): string | undefined {
  const value = readOptionalString(options, key, path, sink);
  if (value !== undefined) checkClaimKey(value, joinPath(path, key), sink);
  return value;
}

function checkClaimKey(value: string, path: string, sink: ProblemSink): void {
  try {
    parseClaimKey(value);
  } catch (error) {
    sink.error(path, `"${value}" is not a claim key: ${describeClaimsError(error)}`);
  }
}

function describeClaimsError(error: unknown): string {
  if (error instanceof ClaimsSyntaxError || error instanceof Error) return error.message;
  return String(error);
}

function readForwardHeaders(options: RawObject, path: string, sink: ProblemSink): Record<string, string> {
  const headers = readStringMap(options, 'forwardHeaders', path, sink) ?? {};
  const here = joinPath(path, 'forwardHeaders');
  const seen = new Map<string, string>();
  for (const [header, claim] of Object.entries(headers)) {
    const headerPath = joinPath(here, header);
    if (!HTTP_TOKEN.test(header)) sink.error(headerPath, `"${header}" is not a valid HTTP header name`);
    else if (isReservedHeaderName(header)) {
      sink.error(headerPath, `"${header}" is a header the proxies or HTTP itself rely on and cannot carry a claim`);
    }
    const lowered = header.toLowerCase();
    const earlier = seen.get(lowered);
    if (earlier !== undefined) sink.error(headerPath, `names the same header as "${earlier}" (header names ignore case)`);
    seen.set(lowered, header);
    checkClaimKey(claim, headerPath, sink);
  }
  return headers;
}

function readScopes(options: RawObject, path: string, sink: ProblemSink): string[] {
  const here = joinPath(path, 'scopes');
  const raw = options['scopes'];
  // A space-separated string is how scopes travel in OAuth (RFC 6749 §3.3), so accept it as well;
  // "" is the spec's "not set", like every other string option.
  const scopes =
    typeof raw === 'string' ? raw.split(/\s+/).filter((scope) => scope !== '') : readStringList(options, 'scopes', path, sink);
  if (scopes === undefined || raw === '') return ['openid'];
  if (!scopes.includes('openid')) sink.error(here, 'must include "openid"');
  scopes.forEach((scope, index) => {
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)) sink.error(`${here}[${index}]`, `"${scope}" is not a valid scope`);
  });
  return [...new Set(scopes)];
}

function readAuthParams(options: RawObject, path: string, sink: ProblemSink): Record<string, string> {
  const params = readStringMap(options, 'authParams', path, sink) ?? {};
  for (const key of Object.keys(params)) {
    if (RESERVED_AUTH_PARAMS.includes(key)) {
      const hint = key === 'scope' ? ' (use scopes)' : '';
      sink.error(joinPath(joinPath(path, 'authParams'), key), `is set by the middleware itself and cannot be overridden${hint}`);
    }
  }
  return params;
}

function readClientConfig(options: RawObject, path: string, reading: Reading): ClientConfig {
  const { sink } = reading;
  const here = joinPath(path, 'clientConfig');
  const clientConfig = readObject(options, 'clientConfig', path, ['tls', 'timeoutSeconds', 'maxRetries'], sink) ?? {};
  const tlsPath = joinPath(here, 'tls');
  const tlsObject = readObject(clientConfig, 'tls', here, ['ca', 'cert', 'key', 'insecureSkipVerify'], sink) ?? {};
  const tls: Mutable<ClientConfig['tls']> = {
    ca: undefined,
    cert: undefined,
    key: undefined,
    insecureSkipVerify: readBoolean(tlsObject, 'insecureSkipVerify', tlsPath, sink) ?? false,
  };
  queueSecret(tlsObject, 'ca', tlsPath, reading, (value) => (tls.ca = value));
  const hasCert = queueSecret(tlsObject, 'cert', tlsPath, reading, (value) => (tls.cert = value));
  const hasKey = queueSecret(tlsObject, 'key', tlsPath, reading, (value) => (tls.key = value));
  checkPair(hasCert, hasKey, tlsPath, sink);
  return {
    tls,
    timeoutSeconds: readNumber(clientConfig, 'timeoutSeconds', here, { above: 0 }, sink) ?? 5,
    maxRetries: readNumber(clientConfig, 'maxRetries', here, { integer: true, min: 0 }, sink) ?? 3,
  };
}

function readStateCookie(options: RawObject, path: string, name: string, sink: ProblemSink): StateCookieConfig {
  const here = joinPath(path, 'stateCookie');
  const object = readObject(options, 'stateCookie', path, [...COOKIE_KEYS, 'maxAge'], sink) ?? {};
  return {
    ...readCookieOptions(object, here, `${name}-state`, sink),
    maxAge: readNumber(object, 'maxAge', here, { integer: true }, sink) ?? 600,
  };
}

function readSession(options: RawObject, path: string, name: string, reading: Reading): SessionConfig {
  const { sink } = reading;
  const here = joinPath(path, 'session');
  const object = readObject(options, 'session', path, [...COOKIE_KEYS, 'expiry', 'maxLifetime', 'sliding', 'refresh', 'store'], sink) ?? {};
  const store = readObject(object, 'store', here, ['redis'], sink);
  const redis = store === undefined ? undefined : readRedis(store, joinPath(here, 'store'), reading);
  return {
    ...readCookieOptions(object, here, `${name}-session`, sink),
    expiry: readNumber(object, 'expiry', here, { integer: true, above: 0 }, sink) ?? 86400,
    maxLifetime: readNumber(object, 'maxLifetime', here, { integer: true, above: 0 }, sink),
    sliding: readBoolean(object, 'sliding', here, sink) ?? true,
    refresh: readBoolean(object, 'refresh', here, sink) ?? true,
    store: redis === undefined ? undefined : { redis },
  };
}

function readCsrf(options: RawObject, path: string, sink: ProblemSink): CsrfConfig | undefined {
  const raw = options['csrf'];
  const here = joinPath(path, 'csrf');
  if (raw === undefined) return undefined;
  // A bare `csrf:` reads as null; silently leaving CSRF off would surprise whoever wrote it.
  if (!isRawObject(raw)) {
    sink.error(here, `must be a mapping; write "csrf: {}" to enable CSRF protection with defaults (got ${describeType(raw)})`);
    return undefined;
  }
  checkKnownKeys(raw, here, ['secure', 'headerName'], sink);
  const headerName = readString(raw, 'headerName', here, sink) || 'TraefikHub-Csrf-Token';
  if (!HTTP_TOKEN.test(headerName)) sink.error(joinPath(here, 'headerName'), `"${headerName}" is not a valid HTTP header name`);
  return { secure: readBoolean(raw, 'secure', here, sink) ?? false, headerName };
}
