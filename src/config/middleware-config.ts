import { readApplicationTokens } from './application-options.js';
import {
  checkClientCredentials,
  checkClientPrivateKey,
  hasClientCertificateOption,
  readBearerTokens,
  readClientAssertionAudience,
  readClientAuthMethod,
} from './api-access-options.js';
import { readAuthParams, readScopes } from './authorization-options.js';
import { readClaimKeyOption, readClaimsExpression, readForwardHeaders } from './claim-options.js';
import { readClientConfig } from './client-config-options.js';
import { checkKnownKeys, joinPath, readBoolean, readOptionalString, readStringMap, type ProblemSink, type RawObject } from './field-reader.js';
import { queueSecret, type Mutable, type Reading } from './option-reading.js';
import type { PendingSecret } from './secret-references.js';
import { readCsrf, readSession, readStateCookie } from './session-options.js';
import type { MiddlewareConfig } from './types.js';
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
