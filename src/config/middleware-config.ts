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
import { readApplicationTokens } from './application-options.js';
import { readRedis } from './redis-config.js';
import { isReservedHeaderName } from './reserved-headers.js';
import type { PendingSecret } from './secret-references.js';
import type {
  ClientConfig,
  CsrfConfig,
  MiddlewareConfig,
  SessionConfig,
  StateCookieConfig,
} from './types.js';
import {
  checkClientCredentials,
  checkClientPrivateKey,
  hasClientCertificateOption,
  readBearerTokens,
  readClientAssertionAudience,
  readClientAuthMethod,
} from './api-access-options.js';
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
  'clientAssertionAudience',
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
  'applicationTokens',
  'userinfoUrl',
  'allowCorsPreflight',
] as const;

const FLEXIBLE_URL_KEYS = [
  'loginUrl',
  'logoutUrl',
  'postLoginRedirectUrl',
  'postLogoutRedirectUrl',
  'backchannelLogoutUrl',
  'userinfoUrl',
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
  if (issuer !== undefined && isPlainHttpElsewhere(issuer)) {
    sink.warn(joinPath(path, 'issuer'), 'is http://: the code exchange, tokens and signing keys would travel unencrypted; use https (plain http is fine only for a provider on this machine)');
  }
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
    clientAssertionAudience: readClientAssertionAudience(options, path, sink),
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
  config.applicationTokens = readApplicationTokens(options, path, config.forwardHeaders, sink);
  const allowCorsPreflight = readBoolean(options, 'allowCorsPreflight', path, sink);
  if (allowCorsPreflight !== undefined) config.allowCorsPreflight = allowCorsPreflight;

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

/** An http:// issuer anywhere but on this machine (loopback: a dev provider, a sidecar). */
function isPlainHttpElsewhere(issuer: string): boolean {
  let url: URL;
  try {
    url = new URL(issuer);
  } catch {
    return false; // checkIssuerUrl has said why
  }
  if (url.protocol !== 'http:') return false;
  const host = url.hostname;
  return !(host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host));
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
