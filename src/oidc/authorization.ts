import * as client from 'openid-client';
import type { MiddlewareConfig } from '../config/types.js';
import { OfaError, isOfaError } from '../errors.js';
import { callingProviderEndpoint } from './http.js';
import { safeOAuthWord } from './tokens.js';

export interface AuthorizationRequest {
  readonly url: URL;
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier: string | undefined;
}

/**
 * The provider's authorization URL for one login flow. `authParams` come last but cannot
 * override the parameters the flow's security rests on; a `prompt` set to "" removes `prompt`.
 */
export async function buildAuthorizationRequest(
  configuration: client.Configuration,
  middleware: MiddlewareConfig,
  redirectUri: string,
): Promise<AuthorizationRequest> {
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(middleware.authParams)) {
    if (key === 'prompt' && value === '') continue;
    params[key] = value;
  }
  Object.assign(params, {
    response_type: 'code',
    client_id: middleware.clientID,
    redirect_uri: redirectUri,
    scope: middleware.scopes.join(' '),
    state,
    nonce,
  });
  let codeVerifier: string | undefined;
  if (middleware.pkce) {
    codeVerifier = client.randomPKCECodeVerifier();
    params.code_challenge = await client.calculatePKCECodeChallenge(codeVerifier);
    params.code_challenge_method = 'S256';
  } else {
    delete params.code_challenge;
    delete params.code_challenge_method;
  }
  const url = usesPushedAuthorizationRequests(configuration, middleware)
    ? await pushAuthorizationRequest(configuration, params)
    : client.buildAuthorizationUrl(configuration, params);
  return { url, state, nonce, codeVerifier };
}

/** PAR when configured, or when the provider refuses anything else (RFC 9126 §5). */
export function usesPushedAuthorizationRequests(configuration: client.Configuration, middleware: Pick<MiddlewareConfig, 'pushedAuthorizationRequests'>): boolean {
  return middleware.pushedAuthorizationRequests || configuration.serverMetadata().require_pushed_authorization_requests === true;
}

/**
 * RFC 9126: the parameters go to the provider over the back channel, authenticated as at the
 * token endpoint; the browser carries only client_id and the request_uri. A provider that is down
 * is transient (503, try again); a refusal is a configuration problem.
 */
async function pushAuthorizationRequest(configuration: client.Configuration, params: Record<string, string>): Promise<URL> {
  if (configuration.serverMetadata().pushed_authorization_request_endpoint === undefined) {
    throw new OfaError('OFA_PAR_REJECTED', 'pushedAuthorizationRequests is on but the provider advertises no pushed_authorization_request_endpoint');
  }
  try {
    return await callingProviderEndpoint('par', () => client.buildAuthorizationUrlWithPAR(configuration, params));
  } catch (error) {
    throw translateParError(error);
  }
}

function translateParError(error: unknown): OfaError {
  if (isOfaError(error)) return error;
  const cause = error instanceof Error ? error.cause : undefined;
  if (isOfaError(cause)) return cause;
  if (error instanceof client.ResponseBodyError) {
    if (error.status >= 500 || error.error === 'temporarily_unavailable') {
      return new OfaError('OFA_PROVIDER_UNAVAILABLE', `the pushed authorization request failed: the provider answered "${safeOAuthWord(error.error)}"`, { cause: error });
    }
    return new OfaError('OFA_PAR_REJECTED', `the provider refused the pushed authorization request ("${safeOAuthWord(error.error)}")`, { cause: error });
  }
  // A 401 with a challenge: the provider did not accept our client authentication.
  if (error instanceof client.WWWAuthenticateChallengeError) {
    return error.status >= 500
      ? new OfaError('OFA_PROVIDER_UNAVAILABLE', `the pushed authorization request failed: HTTP ${error.status}`, { cause: error })
      : new OfaError('OFA_PAR_REJECTED', `the provider refused the pushed authorization request (HTTP ${error.status}: client authentication)`, { cause: error });
  }
  // oauth4webapi refuses a non-OAuth answer (an HTML 502, an empty 503) and keeps the Response as cause.
  if (cause instanceof Response && cause.status >= 500) {
    return new OfaError('OFA_PROVIDER_UNAVAILABLE', `the pushed authorization request failed: HTTP ${cause.status}`, { cause: error });
  }
  return new OfaError('OFA_PROVIDER_RESPONSE', 'the pushed authorization request got an answer we cannot use', { cause: error });
}
