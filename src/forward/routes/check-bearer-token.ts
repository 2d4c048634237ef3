import type { ClaimSources } from '../../claims/index.js';
import type { BearerTokensConfig } from '../../config/types.js';
import { isOfaError } from '../../errors.js';
import { bearerTokenShape, invalidBearerToken, verifyJwtAccessToken } from '../../oidc/access-token.js';
import { createIntrospectionCache, introspectAccessToken, type IntrospectionCache } from '../../oidc/introspection.js';
import type { ProviderClient } from '../../oidc/discovery.js';
import type { Answer } from '../answer.js';
import { checkIdentityHeaderBudget } from '../forwarded-headers.js';
import { UNAVAILABLE, type ForwardAuthRequest } from '../forward-request.js';
import type { MiddlewareRuntime } from '../runtime.js';
import { identityHeaders, identityTooLarge, identityUsername } from './identity-headers.js';
import { applicationTokenHeaders } from '../application-tokens.js';
import { serverMetadataOf } from '../../oidc/server-metadata.js';

/** One cache per provider client: it survives configuration reloads that keep the provider. */
const introspectionCaches = new WeakMap<ProviderClient, IntrospectionCache>();

function introspectionCacheOf(provider: ProviderClient): IntrospectionCache {
  let cache = introspectionCaches.get(provider);
  if (cache === undefined) {
    cache = createIntrospectionCache();
    introspectionCaches.set(provider, cache);
  }
  return cache;
}

/**
 * An API call with `Authorization: Bearer …`: never a login, never a cookie. The token's claims
 * stand in for both tokens of a session (the claims rule and forwardHeaders read them); 401 with
 * `error="invalid_token"` for a token we do not accept, 403 with `error="insufficient_scope"` when
 * the rule says no. The Authorization header goes on to the application only with passToApplication.
 */
export async function checkBearerToken(
  rt: MiddlewareRuntime,
  request: ForwardAuthRequest,
  settings: BearerTokensConfig,
  presented: { readonly token: string } | { readonly malformed: true },
): Promise<Answer> {
  const configuration = rt.provider.current();
  if (configuration === undefined) return UNAVAILABLE;
  let claims: Readonly<Record<string, unknown>>;
  try {
    if ('malformed' in presented) throw invalidBearerToken('the Authorization header is not a well-formed bearer token');
    const { token } = presented;
    const expected = { issuer: serverMetadataOf(configuration).issuer, audiences: settings.audiences, nowSeconds: request.nowSeconds };
    if (bearerTokenShape(token) === 'jwt') {
      claims = await verifyJwtAccessToken(token, rt.providerKeys(), { ...expected, allowPlainJwt: settings.allowPlainJwt });
    } else if (settings.introspection !== undefined) {
      claims = await introspectAccessToken(configuration, introspectionCacheOf(rt.provider), token, {
        ...expected,
        clientsWithoutAudience: settings.introspection.clientsWithoutAudience ?? [],
        cacheSeconds: settings.introspection.cacheSeconds,
      });
    } else {
      throw invalidBearerToken('an opaque token, and bearerTokens.introspection is off');
    }
  } catch (error) {
    // An answer we cannot use (an introspection `active` that is not a boolean, a key set that is
    // not one) fails closed with the table's status, 502: a retry would get the same answer.
    if (isOfaError(error) && error.code === 'OFA_PROVIDER_RESPONSE') {
      rt.log.warn({ code: error.code, reason: error.message }, 'bearer token not checked: the provider sent an answer we cannot use');
      return { kind: 'error', code: error.code, detail: 'the identity provider sent an answer we cannot use', retryUrl: undefined, cookies: [] };
    }
    if (!isOfaError(error) || error.code !== 'OFA_BEARER_TOKEN_INVALID') throw error;
    rt.log.info({ code: error.code, reason: error.message }, 'bearer token refused');
    return { kind: 'deny', code: 'OFA_BEARER_TOKEN_INVALID', reason: 'the access token is not valid here', cookies: [], bearerError: 'invalid_token' };
  }

  const sources: ClaimSources = { idToken: claims, accessToken: claims };
  if (rt.claims !== undefined && !rt.claims.evaluate(sources)) {
    if (rt.log.isLevelEnabled('debug')) rt.log.debug({ explanation: rt.claims.explain(sources) }, 'claims expression denied the bearer token');
    return { kind: 'deny', code: 'OFA_CLAIMS_DENIED', reason: 'the claims expression does not allow this token', cookies: [], bearerError: 'insufficient_scope' };
  }
  const headers = identityHeaders(rt, sources);
  const budget = checkIdentityHeaderBudget(headers);
  if (!budget.ok) return identityTooLarge(rt, budget, []);
  // A bearer caller has no session tokens: the applicationTokens headers go empty (so the proxies
  // replace a client's copy), the token itself only under passToApplication.
  Object.assign(headers, applicationTokenHeaders(rt.config, {}));
  // Traefik (authResponseHeaders: Authorization) and the nginx recipe set the application's
  // Authorization from this answer: absent here means removed on the way to the application.
  if (settings.passToApplication && typeof request.headers.authorization === 'string') headers.Authorization = request.headers.authorization;
  return { kind: 'allow', headers, cookies: [], username: identityUsername(rt, sources) };
}
