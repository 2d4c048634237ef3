import { readClaim, type ClaimKey, type ClaimSources } from '../../claims/index.js';
import { claimText, headerValueFromClaim } from '../forwarded-headers.js';
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
