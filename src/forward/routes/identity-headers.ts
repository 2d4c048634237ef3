import { readClaim, type ClaimKey, type ClaimSources } from '../../claims/index.js';
import type { Answer } from '../answer.js';
import { claimText, headerValueFromClaim, type IdentityHeaderBudget } from '../forwarded-headers.js';
import type { MiddlewareRuntime } from '../runtime.js';

/**
 * The forwardHeaders and the access-log username for a set of claim sources. A key without a
 * token prefix reads the access token when there is one, else the ID token.
 */
export function identityHeaders(rt: MiddlewareRuntime, sources: ClaimSources): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const header of rt.forwardHeaders) headers[header.name] = headerValueFromClaim(readIdentityClaim(sources, header.key));
  return headers;
}

export function identityUsername(rt: MiddlewareRuntime, sources: ClaimSources): string | undefined {
  return rt.usernameKey === undefined ? undefined : claimText(readIdentityClaim(sources, rt.usernameKey));
}

export function readIdentityClaim(sources: ClaimSources, key: ClaimKey): unknown {
  if (key.token === 'id_token') return readClaim(sources.idToken, key);
  if (key.token === 'access_token') return readClaim(sources.accessToken, key);
  return readClaim(sources.accessToken ?? sources.idToken, key);
}

/**
 * Identity headers past what the proxies can carry (nginx would answer 502, others cut them
 * silently): a clear refusal instead, for sessions and bearer tokens alike.
 */
export function identityTooLarge(rt: MiddlewareRuntime, budget: Extract<IdentityHeaderBudget, { ok: false }>, cookies: readonly string[]): Answer {
  rt.log.warn({ code: 'OFA_IDENTITY_HEADERS_TOO_LARGE', bytes: budget.bytes, limit: budget.limit, largest: budget.largest }, 'identity headers exceed their size budget; refusing');
  return {
    kind: 'error',
    code: 'OFA_IDENTITY_HEADERS_TOO_LARGE',
    detail: `the identity headers take ${budget.bytes} bytes, more than the ${budget.limit} the proxies can carry (largest: ${budget.largest})`,
    retryUrl: undefined,
    cookies,
  };
}
