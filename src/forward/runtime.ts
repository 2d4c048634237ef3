import type { JWTVerifyGetKey } from 'jose';
import type { Logger } from 'pino';
import { compileClaims, parseClaimKey, type ClaimKey, type CompiledClaims } from '../claims/index.js';
import type { MiddlewareConfig, ServerConfig } from '../config/types.js';
import type { SessionTelemetry } from '../observability/observers.js';
import type { ProviderClient } from '../oidc/discovery.js';
import { createIntrospectionCache, type IntrospectionCache } from '../oidc/introspection.js';
import { deriveCsrfKeys, type CsrfKeys } from '../session/csrf.js';
import type { Sealer } from '../session/seal.js';
import { ALWAYS_KEPT_CLAIMS } from '../session/session.js';
import type { SessionStore } from '../session/store.js';
import { createClaimsVerdicts, type ClaimsVerdicts, type ForwardedHeader } from './identity.js';
import { parseUrlOption, type ParsedUrlOption } from './url-option.js';
import { createVerdictCache, type VerdictCache } from './verdict-cache.js';

/**
 * Everything one middleware needs at request time, built once from its configuration so the
 * hot path only reads: compiled claims, parsed URL options, claim keys, keys, stores.
 */
export interface MiddlewareRuntime {
  readonly config: MiddlewareConfig;
  readonly log: Logger;
  readonly provider: ProviderClient;
  readonly providerKeys: () => JWTVerifyGetKey;
  readonly claims: CompiledClaims | undefined;
  readonly forwardHeaders: readonly ForwardedHeader[];
  readonly usernameKey: ClaimKey | undefined;
  /** Top-level claim names the session must keep from each token. */
  readonly keptIdClaims: ReadonlySet<string>;
  readonly keptAccessClaims: ReadonlySet<string>;
  readonly sealer: Sealer;
  readonly store: SessionStore;
  /** Signed-in answers by session cookie value, for this runtime (configuration) only. */
  readonly verdicts: VerdictCache;
  /** The claims rule's verdicts and identity headers by session claims, for this runtime only (identity.ts). */
  readonly claimsVerdicts: ClaimsVerdicts;
  /**
   * Introspection answers for opaque bearer tokens, where introspection is on. It outlives this
   * runtime: a reload that keeps the middleware's view of its provider hands it on (see deps).
   */
  readonly introspectionCache: IntrospectionCache | undefined;
  readonly csrfKeys: CsrfKeys;
  readonly callbackDeadlineMs: number;
  /** Counts sessions created, renewed, refreshed and ended, and failed refreshes. */
  readonly telemetry: SessionTelemetry;
  readonly urls: {
    readonly redirect: ParsedUrlOption;
    readonly login: ParsedUrlOption | undefined;
    readonly logout: ParsedUrlOption | undefined;
    readonly postLogin: ParsedUrlOption | undefined;
    readonly postLogout: ParsedUrlOption | undefined;
    readonly backchannelLogout: ParsedUrlOption | undefined;
    readonly userinfo: ParsedUrlOption | undefined;
  };
}

export interface MiddlewareRuntimeDeps {
  readonly server: ServerConfig;
  readonly log: Logger;
  readonly provider: ProviderClient;
  readonly providerKeys: () => JWTVerifyGetKey;
  readonly sealer: Sealer;
  /** The middleware's session store, chosen by server/session-stores.ts (the one place that chooses). */
  readonly store: SessionStore;
  /** Default CALLBACK_DEADLINE_MS; tests shorten it. */
  readonly callbackDeadlineMs?: number;
  readonly telemetry: SessionTelemetry;
  /** The predecessor's cache, when a reload keeps this middleware's provider view; default: a new one. */
  readonly introspectionCache?: IntrospectionCache | undefined;
}

/**
 * The longest a callback may spend at the provider (keys, token, with their retries). Traefik
 * answers a bare 500 when its auth request takes 30 s: our own 504 page must come well before.
 */
export const CALLBACK_DEADLINE_MS = 20_000;

export function createMiddlewareRuntime(config: MiddlewareConfig, deps: MiddlewareRuntimeDeps): MiddlewareRuntime {
  const claims = config.claims === undefined || config.claims.trim() === '' ? undefined : compileClaims(config.claims);
  const forwardHeaders = Object.entries(config.forwardHeaders).map(([name, key]) => ({ name, key: parseClaimKey(key) }));
  const usernameKey = config.usernameClaim ? parseClaimKey(config.usernameClaim) : undefined;

  const keptIdClaims = new Set(ALWAYS_KEPT_CLAIMS);
  const keptAccessClaims = new Set(ALWAYS_KEPT_CLAIMS);
  const referenced: ClaimKey[] = [...(claims?.referencedKeys ?? []), ...forwardHeaders.map((h) => h.key)];
  if (usernameKey !== undefined) referenced.push(usernameKey);
  for (const key of referenced) {
    const top = key.path[0];
    if (top === undefined) continue;
    // forwardHeaders without a prefix read the access token first, then the ID token.
    if (key.token !== 'access_token') keptIdClaims.add(top);
    if (key.token !== 'id_token') keptAccessClaims.add(top);
  }

  const optional = (value: string | undefined): ParsedUrlOption | undefined =>
    value === undefined || value === '' ? undefined : parseUrlOption(value);

  return Object.freeze({
    config,
    log: deps.log,
    provider: deps.provider,
    providerKeys: deps.providerKeys,
    claims,
    forwardHeaders,
    usernameKey,
    keptIdClaims,
    keptAccessClaims,
    sealer: deps.sealer,
    store: deps.store,
    verdicts: createVerdictCache(),
    claimsVerdicts: createClaimsVerdicts(),
    introspectionCache: config.bearerTokens?.introspection === undefined ? undefined : (deps.introspectionCache ?? createIntrospectionCache()),
    csrfKeys: deriveCsrfKeys(deps.server.secrets),
    callbackDeadlineMs: deps.callbackDeadlineMs ?? CALLBACK_DEADLINE_MS,
    telemetry: deps.telemetry,
    urls: {
      redirect: parseUrlOption(config.redirectUrl),
      login: optional(config.loginUrl),
      logout: optional(config.logoutUrl),
      postLogin: optional(config.postLoginRedirectUrl),
      postLogout: optional(config.postLogoutRedirectUrl),
      backchannelLogout: optional(config.backchannelLogoutUrl),
      userinfo: optional(config.userinfoUrl),
    },
  });
}
