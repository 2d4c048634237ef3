/**
 * The one place where a failed call to the provider (through openid-client) becomes one of our
 * codes. Messages name what failed and, at most, the provider's OAuth error word: never its
 * error_description, a token or a URL with a query.
 */
import * as client from 'openid-client';
import { OfaError, isOfaError, type ErrorCode } from '../errors.js';
import { describeJoseError } from './id-token.js';

/** What was asked of the provider, and what its refusals mean for that call. */
export interface ProviderCall {
  /** Starts every message, e.g. "the refresh failed". */
  readonly what: string;
  /** The provider said no: an OAuth error answer that is not an outage, or a challenge to our client authentication. */
  readonly refused: ErrorCode;
  /** The answer is neither a success nor an OAuth error we can read. */
  readonly unusable: ErrorCode;
  /** The call returns an ID token: openid-client's JWT and claim failures are OFA_ID_TOKEN_INVALID. */
  readonly returnsIdToken?: boolean;
}

/** OAuth error codes are plain ASCII words; anything else a hostile provider sends is not repeated. */
export function safeOAuthWord(value: unknown): string {
  return typeof value === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(value) ? value : 'error';
}

/** A 5xx, or temporarily_unavailable, is the provider's trouble, not a verdict on what we asked. */
const isOutage = (status: number, oauthError?: string): boolean => status >= 500 || oauthError === 'temporarily_unavailable';

export function translateProviderError(error: unknown, call: ProviderCall): OfaError {
  if (isOfaError(error)) return error;
  const cause = error instanceof Error ? error.cause : undefined;
  // Our fetch's own failures (timeouts, TLS, body cap) arrive wrapped by openid-client.
  if (isOfaError(cause)) return cause;
  const { what } = call;
  if (error instanceof client.ResponseBodyError) {
    const code = isOutage(error.status, error.error) ? 'OFA_PROVIDER_UNAVAILABLE' : call.refused;
    return new OfaError(code, `${what}: the provider answered "${safeOAuthWord(error.error)}"`, { cause: error });
  }
  if (error instanceof client.WWWAuthenticateChallengeError) {
    const code = isOutage(error.status) ? 'OFA_PROVIDER_UNAVAILABLE' : call.refused;
    return new OfaError(code, `${what}: HTTP ${error.status} (client authentication)`, { cause: error });
  }
  if (error instanceof client.AuthorizationResponseError) {
    return new OfaError('OFA_CALLBACK_PROVIDER_ERROR', `the provider answered "${safeOAuthWord(error.error)}"`, { cause: error });
  }
  // oauth4webapi refuses a non-OAuth answer (an HTML 502, an empty 503) and keeps the Response as cause.
  if (cause instanceof Response && isOutage(cause.status)) {
    return new OfaError('OFA_PROVIDER_UNAVAILABLE', `${what}: the provider answered HTTP ${cause.status}`, { cause: error });
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (call.returnsIdToken === true) {
    const inner = cause instanceof Error ? cause : undefined;
    const message = [error, inner].map((e) => (e instanceof Error ? e.message : '')).join(' ');
    if (typeof code === 'string' && (code.startsWith('OAUTH_JWT') || /\bJWT\b|id[ _]token|"nonce"|"iss"|"aud"|"azp"|"exp"|"iat"/i.test(message))) {
      return new OfaError('OFA_ID_TOKEN_INVALID', `ID token rejected: ${describeJoseError(inner ?? error)}`, { cause: error });
    }
  }
  return new OfaError(call.unusable, `${what}: ${typeof code === 'string' ? code : 'an answer we cannot use'}`, { cause: error });
}
