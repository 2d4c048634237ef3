import type { ClaimSources } from '../../claims/index.js';
import type { BearerTokensConfig } from '../../config/types.js';
import { isOfaError, type OfaError } from '../../errors.js';
import { bearerTokenShape, invalidBearerToken, verifyJwtAccessToken } from '../../oidc/access-token.js';
import { introspectAccessToken } from '../../oidc/introspection.js';
import { serverMetadataOf } from '../../oidc/server-metadata.js';
import type { Answer } from '../answer.js';
import { applicationTokenHeaders } from '../application-tokens.js';
import { UNAVAILABLE, type ForwardAuthRequest } from '../forward-request.js';
import { claimsAllow, debugClaimsDenied, forwardedIdentity, identityTooLarge, warnIdentityTooLarge, type TooLargeBudget } from '../identity.js';
import type { MiddlewareRuntime } from '../runtime.js';

type Claims = Readonly<Record<string, unknown>>;

/** What the check asks of its shell besides an answer: the refusal of an identity too large to forward. */
export type BearerStep = Answer | { readonly kind: 'identity-too-large'; readonly budget: TooLargeBudget };

/**
 * An API call with `Authorization: Bearer …`: never a login, never a cookie. The token's claims
 * stand in for both tokens of a session (the claims rule and forwardHeaders read them); 401 with
 * `error="invalid_token"` for a token we do not accept, 403 with `error="insufficient_scope"` when
 * the rule says no. This shell checks the token at the provider (keys, introspection) and answers
 * what decideBearerToken makes of its claims.
 */
export async function checkBearerToken(
  rt: MiddlewareRuntime,
  request: ForwardAuthRequest,
  settings: BearerTokensConfig,
  presented: { readonly token: string } | { readonly malformed: true },
): Promise<Answer> {
  const configuration = rt.provider.current();
  if (configuration === undefined) return UNAVAILABLE;
  let claims: Claims;
  try {
    if ('malformed' in presented) throw invalidBearerToken('the Authorization header is not a well-formed bearer token');
    const { token } = presented;
    const expected = { issuer: serverMetadataOf(configuration).issuer, audiences: settings.audiences, nowSeconds: request.nowSeconds };
    if (bearerTokenShape(token) === 'jwt') {
      claims = await verifyJwtAccessToken(token, rt.providerKeys(), { ...expected, allowPlainJwt: settings.allowPlainJwt });
    } else if (settings.introspection !== undefined && rt.introspectionCache !== undefined) {
      // The runtime holds a cache exactly when its bearerTokens.introspection (these settings) is on.
      claims = await introspectAccessToken(configuration, rt.introspectionCache, token, {
        ...expected,
        clientsWithoutAudience: settings.introspection.clientsWithoutAudience ?? [],
        cacheSeconds: settings.introspection.cacheSeconds,
      });
    } else {
      throw invalidBearerToken('an opaque token, and bearerTokens.introspection is off');
    }
  } catch (error) {
    if (!isOfaError(error)) throw error;
    const refusal = bearerTokenRefusal(error);
    if (refusal === undefined) throw error;
    const { code, message } = error;
    if (refusal.kind === 'error') {
      rt.log.warn({ code, reason: message }, 'bearer token not checked: the provider sent an answer we cannot use');
    } else {
      rt.log.info({ code, reason: message }, 'bearer token refused');
    }
    return refusal;
  }

  const step = decideBearerToken(rt, request, settings, claims);
  if (step.kind === 'identity-too-large') {
    warnIdentityTooLarge(rt.log, step.budget);
    return identityTooLarge(step.budget, []);
  }
  if (step.kind === 'deny') debugClaimsDenied(rt.log, rt, { idToken: claims, accessToken: claims }, 'claims expression denied the bearer token');
  return step;
}

/**
 * The answer to a token the check did not accept, or undefined for an error that is not a
 * refusal (an outage goes on to the dispatcher's 503).
 */
export function bearerTokenRefusal(error: OfaError): Answer | undefined {
  // An answer we cannot use (an introspection `active` that is not a boolean, a key set that is
  // not one) fails closed with the table's status, 502: a retry would get the same answer.
  if (error.code === 'OFA_PROVIDER_RESPONSE') {
    return { kind: 'error', code: error.code, detail: 'the identity provider sent an answer we cannot use', retryUrl: undefined, cookies: [] };
  }
  if (error.code !== 'OFA_BEARER_TOKEN_INVALID') return undefined;
  return { kind: 'deny', code: 'OFA_BEARER_TOKEN_INVALID', reason: 'the access token is not valid here', cookies: [], bearerError: 'invalid_token' };
}

/** What an accepted token's claims come to under this runtime: no provider, no log. */
export function decideBearerToken(rt: MiddlewareRuntime, request: ForwardAuthRequest, settings: BearerTokensConfig, claims: Claims): BearerStep {
  const sources: ClaimSources = { idToken: claims, accessToken: claims };
  if (!claimsAllow(rt, sources)) {
    return { kind: 'deny', code: 'OFA_CLAIMS_DENIED', reason: 'the claims expression does not allow this token', cookies: [], bearerError: 'insufficient_scope' };
  }
  const { headers, budget, username } = forwardedIdentity(rt, sources);
  if (!budget.ok) return { kind: 'identity-too-large', budget };
  // A bearer caller has no session tokens: the applicationTokens headers go empty (so the proxies
  // replace a client's copy), the token itself only under passToApplication.
  Object.assign(headers, applicationTokenHeaders(rt.config, {}));
  // Traefik (authResponseHeaders: Authorization) and the nginx recipe set the application's
  // Authorization from this answer: absent here means removed on the way to the application.
  if (settings.passToApplication && typeof request.headers.authorization === 'string') headers.Authorization = request.headers.authorization;
  return { kind: 'allow', headers, cookies: [], username };
}
