import * as client from 'openid-client';
import { jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { MiddlewareConfig } from '../config/types.js';
import { OfaError } from '../errors.js';
import { constantTimeEqual, idTokenAlgorithms, verifyIdToken } from './id-token.js';
import { translateProviderError } from './provider-errors.js';
import { serverMetadataOf } from './server-metadata.js';

/** What a successful code exchange or refresh yields, every token already verified. */
export interface VerifiedTokens {
  readonly idToken: string;
  readonly idClaims: JWTPayload;
  /** Kept by the session only when the application is handed it. */
  readonly accessToken: string;
  /** Present only when the access token is a JWT whose signature checks out against the provider's keys. */
  readonly accessClaims: JWTPayload | undefined;
  readonly refreshToken: string | undefined;
  readonly accessTokenExpiresAt: number | undefined;
}

/** A refresh may or may not bring a new ID token; the refresh token is kept when not rotated. */
export interface RefreshedTokens {
  readonly idToken: string | undefined;
  readonly idClaims: JWTPayload | undefined;
  readonly accessToken: string;
  readonly accessClaims: JWTPayload | undefined;
  readonly refreshToken: string;
  readonly accessTokenExpiresAt: number | undefined;
}

export interface CallbackChecks {
  readonly state: string;
  readonly nonce: string;
  readonly codeVerifier?: string | undefined;
}

export interface ProviderContext {
  readonly configuration: client.Configuration;
  readonly keys: JWTVerifyGetKey;
  readonly middleware: MiddlewareConfig;
}

/**
 * Checks the authorization response, exchanges the code, and verifies what comes back.
 * `callbackParams` are the query parameters the browser brought to our redirect URL.
 */
export async function exchangeAuthorizationCode(
  provider: ProviderContext,
  redirectUri: string,
  callbackParams: URLSearchParams,
  checks: CallbackChecks,
  now: number,
): Promise<VerifiedTokens> {
  const metadata = serverMetadataOf(provider.configuration);
  const codes = callbackParams.getAll('code');
  if (codes.length !== 1 || codes[0] === '') {
    throw new OfaError('OFA_CALLBACK_CODE_MISSING', 'the response must carry exactly one code');
  }
  if (callbackParams.getAll('iss').length > 1) {
    throw new OfaError('OFA_CALLBACK_ISSUER_MISMATCH', 'the authorization response carries several "iss" parameters');
  }
  const iss = callbackParams.get('iss');
  if (metadata.authorization_response_iss_parameter_supported === true && iss === null) {
    throw new OfaError('OFA_CALLBACK_ISSUER_MISMATCH', 'the authorization response lacks the "iss" parameter');
  }
  if (iss !== null && iss !== metadata.issuer) {
    throw new OfaError('OFA_CALLBACK_ISSUER_MISMATCH', 'the authorization response names another issuer');
  }
  const currentUrl = new URL(redirectUri);
  for (const [key, value] of callbackParams) currentUrl.searchParams.append(key, value);

  let response: client.TokenEndpointResponse;
  try {
    response = await client.authorizationCodeGrant(provider.configuration, currentUrl, {
      expectedState: checks.state,
      expectedNonce: checks.nonce,
      pkceCodeVerifier: checks.codeVerifier,
      idTokenExpected: true,
    });
  } catch (error) {
    // invalid_grant here means the code was used already, expired or belongs to another flow:
    // a browser's back button or a replay, not an outage worth a 5xx.
    if (error instanceof client.ResponseBodyError && error.error === 'invalid_grant') {
      throw new OfaError('OFA_CALLBACK_CODE_REJECTED', 'the provider refused the code (invalid_grant)', { cause: error });
    }
    throw translateProviderError(error, { what: 'the code exchange failed', refused: 'OFA_TOKEN_EXCHANGE_FAILED', unusable: 'OFA_TOKEN_EXCHANGE_FAILED', returnsIdToken: true });
  }
  return verifyTokenResponse(provider, response, now, { nonce: checks.nonce, previousRefreshToken: undefined });
}

/** What the session kept of the original authentication, which a refreshed ID token must repeat. */
export interface OriginalIdentity {
  readonly issuer: string;
  readonly subject: string;
  /** The pruned claims of the last ID token; `aud`, `azp` and `auth_time` are kept for this comparison. */
  readonly idClaims: Readonly<Record<string, unknown>>;
}

/**
 * Spends the refresh token once. A new ID token must repeat the original's iss, sub, aud, azp
 * (present or absent alike) and auth_time (OpenID Connect Core 12.2); any difference ends the session.
 */
export async function refreshTokens(
  provider: ProviderContext,
  refreshToken: string,
  original: OriginalIdentity,
  now: number,
): Promise<RefreshedTokens> {
  let response: client.TokenEndpointResponse;
  try {
    response = await client.refreshTokenGrant(provider.configuration, refreshToken);
  } catch (error) {
    throw translateProviderError(error, { what: 'the refresh failed', refused: 'OFA_REFRESH_FAILED', unusable: 'OFA_REFRESH_FAILED', returnsIdToken: true });
  }
  if (response.id_token === undefined) {
    return {
      idToken: undefined,
      idClaims: undefined,
      accessToken: response.access_token,
      accessClaims: await verifyAccessTokenClaims(provider, response.access_token, now),
      refreshToken: response.refresh_token ?? refreshToken,
      accessTokenExpiresAt: expiresAt(response, now),
    };
  }
  const verified = await verifyTokenResponse(provider, response, now, { nonce: undefined, previousRefreshToken: refreshToken });
  const changed = changedIdentityClaim(original, verified.idClaims);
  if (changed !== undefined) {
    throw new OfaError('OFA_REFRESH_FAILED', `the refreshed ID token does not repeat the original "${changed}"`);
  }
  return { ...verified, refreshToken: verified.refreshToken ?? refreshToken };
}

/**
 * The first claim by which a refreshed ID token departs from the original authentication, or
 * undefined. A session written before aud, azp and auth_time were kept has no `aud`: then only iss
 * and sub can be compared. A refreshed token may leave auth_time out (12.2 binds its value only
 * when present); the caller keeps the original's.
 */
export function changedIdentityClaim(original: OriginalIdentity, refreshed: JWTPayload): string | undefined {
  if (typeof refreshed.iss !== 'string' || refreshed.iss !== original.issuer) return 'iss';
  if (typeof refreshed.sub !== 'string' || !constantTimeEqual(refreshed.sub, original.subject)) return 'sub';
  const kept = original.idClaims;
  if (!Object.hasOwn(kept, 'aud')) return undefined;
  if (!sameAudiences(kept.aud, refreshed.aud)) return 'aud';
  if (kept.azp !== refreshed.azp) return 'azp';
  if (kept.auth_time !== undefined && refreshed.auth_time !== undefined && kept.auth_time !== refreshed.auth_time) return 'auth_time';
  return undefined;
}

/** `aud` is a string or an array of strings; the same set either way, order aside. */
function sameAudiences(a: unknown, b: unknown): boolean {
  const setOf = (value: unknown): Set<string> | undefined => {
    if (typeof value === 'string') return new Set([value]);
    if (Array.isArray(value) && value.every((v): v is string => typeof v === 'string')) return new Set(value);
    return undefined;
  };
  const left = setOf(a);
  const right = setOf(b);
  if (left === undefined || right === undefined || left.size !== right.size) return false;
  for (const value of left) if (!right.has(value)) return false;
  return true;
}

async function verifyTokenResponse(
  provider: ProviderContext,
  response: client.TokenEndpointResponse,
  now: number,
  options: { nonce: string | undefined; previousRefreshToken: string | undefined },
): Promise<VerifiedTokens> {
  const idToken = response.id_token;
  if (typeof idToken !== 'string') {
    throw new OfaError('OFA_ID_TOKEN_INVALID', 'the token response carries no ID token');
  }
  const metadata = serverMetadataOf(provider.configuration);
  const idClaims = await verifyIdToken(idToken, provider.keys, {
    issuer: metadata.issuer,
    clientID: provider.middleware.clientID,
    algorithms: idTokenAlgorithms(metadata.id_token_signing_alg_values_supported),
    nonce: options.nonce,
    accessToken: response.access_token,
    now,
  });
  return {
    idToken,
    idClaims,
    accessToken: response.access_token,
    accessClaims: await verifyAccessTokenClaims(provider, response.access_token, now),
    refreshToken: response.refresh_token ?? options.previousRefreshToken,
    accessTokenExpiresAt: expiresAt(response, now),
  };
}

/** Access-token claims exist only for a JWT signed by the provider; an opaque token has none. */
async function verifyAccessTokenClaims(
  provider: ProviderContext,
  accessToken: string,
  now: number,
): Promise<JWTPayload | undefined> {
  if (accessToken.split('.').length !== 3) return undefined;
  const metadata = serverMetadataOf(provider.configuration);
  try {
    const { payload } = await jwtVerify(accessToken, provider.keys, {
      issuer: metadata.issuer,
      algorithms: idTokenAlgorithms(metadata.id_token_signing_alg_values_supported).concat(['RS256', 'PS256', 'ES256']),
      currentDate: new Date(now * 1000),
      clockTolerance: 30,
    });
    return payload;
  } catch {
    return undefined;
  }
}

function expiresAt(response: client.TokenEndpointResponse, now: number): number | undefined {
  const expiresIn = response.expires_in;
  return typeof expiresIn === 'number' && Number.isFinite(expiresIn) && expiresIn > 0 ? now + Math.floor(expiresIn) : undefined;
}
