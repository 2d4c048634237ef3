import * as client from 'openid-client';
import type { MiddlewareConfig } from '../config/types.js';
import { OfaError } from '../errors.js';
import { translateProviderError } from './provider-errors.js';
import { serverMetadataOf } from './server-metadata.js';

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
  return middleware.pushedAuthorizationRequests || serverMetadataOf(configuration).require_pushed_authorization_requests === true;
}

/**
 * RFC 9126: the parameters go to the provider over the back channel, authenticated as at the
 * token endpoint; the browser carries only client_id and the request_uri. A provider that is down
 * is transient (503, try again); a refusal is a configuration problem.
 */
async function pushAuthorizationRequest(configuration: client.Configuration, params: Record<string, string>): Promise<URL> {
  if (serverMetadataOf(configuration).pushed_authorization_request_endpoint === undefined) {
    throw new OfaError('OFA_PAR_REJECTED', 'pushedAuthorizationRequests is on but the provider advertises no pushed_authorization_request_endpoint');
  }
  try {
    return await client.buildAuthorizationUrlWithPAR(configuration, params);
  } catch (error) {
    // A refusal (of the request or of our client authentication) is a configuration problem.
    throw translateProviderError(error, { what: 'the pushed authorization request failed', refused: 'OFA_PAR_REJECTED', unusable: 'OFA_PROVIDER_RESPONSE' });
  }
}
