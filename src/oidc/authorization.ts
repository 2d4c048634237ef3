import { hash, randomBytes } from 'node:crypto';
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
 * Random bytes behind each of state, nonce and the PKCE verifier: 43 base64url characters, as
 * openid-client's randomState, randomNonce and randomPKCECodeVerifier make them. Made here with
 * node:crypto in one call, with the S256 challenge hashed synchronously: its helpers draw each
 * value through WebCrypto and hash through crypto.subtle, a trip to the thread pool and back
 * that cost ~20 µs of CPU on every login start, against ~3 µs this way.
 */
const SECRET_BYTES = 32;

/**
 * The provider's authorization URL for one login flow. `authParams` come last but cannot
 * override the parameters the flow's security rests on; a `prompt` set to "" removes `prompt`.
 */
export async function buildAuthorizationRequest(
  configuration: client.Configuration,
  middleware: MiddlewareConfig,
  redirectUri: string,
): Promise<AuthorizationRequest> {
  const random = randomBytes(3 * SECRET_BYTES);
  const state = random.toString('base64url', 0, SECRET_BYTES);
  const nonce = random.toString('base64url', SECRET_BYTES, 2 * SECRET_BYTES);
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
    codeVerifier = random.toString('base64url', 2 * SECRET_BYTES);
    // RFC 7636 S256: BASE64URL(SHA-256(ASCII(code_verifier))).
    params.code_challenge = hash('sha256', codeVerifier, 'base64url');
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
