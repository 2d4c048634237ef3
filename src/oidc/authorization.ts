import * as client from 'openid-client';
import type { MiddlewareConfig } from '../config/types.js';

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
  return { url: client.buildAuthorizationUrl(configuration, params), state, nonce, codeVerifier };
}
