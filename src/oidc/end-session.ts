import * as client from 'openid-client';
import { serverMetadataOf } from './server-metadata.js';

export interface EndSessionRequest {
  readonly clientID: string;
  /** The session's ID token, when it kept one: lets the provider end the right login without asking. */
  readonly idTokenHint: string | undefined;
  /** Absolute; the provider sends the browser there once the login has ended (if it knows the URL). */
  readonly postLogoutRedirectUri: string | undefined;
}

/**
 * Where the browser goes to end its login at the provider (OpenID Connect RP-Initiated Logout),
 * or undefined when the provider advertises no end_session_endpoint.
 */
export function endSessionUrl(configuration: client.Configuration, request: EndSessionRequest): URL | undefined {
  if (serverMetadataOf(configuration).end_session_endpoint === undefined) return undefined;
  const params: Record<string, string> = { client_id: request.clientID };
  if (request.idTokenHint !== undefined) params.id_token_hint = request.idTokenHint;
  if (request.postLogoutRedirectUri !== undefined) params.post_logout_redirect_uri = request.postLogoutRedirectUri;
  return client.buildEndSessionUrl(configuration, params);
}
