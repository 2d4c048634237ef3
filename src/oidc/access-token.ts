/**
 * A bearer token presented by an API caller, checked the way a resource server must: a JWT access
 * token (RFC 9068) against the provider's keys, issuer and our audiences; anything else is opaque
 * and left to introspection. Refusals say nothing about why beyond a fixed reason for our log.
 */
import { decodeProtectedHeader, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { OfaError, isOfaError, isTransientError } from '../errors.js';

/** Larger than any access token we know of (Entra ID's with many groups stay under 8 KiB), under Node's 16 KiB of headers. */
export const MAX_BEARER_TOKEN_BYTES = 12 * 1024;
/** exp/nbf leeway for clocks a little apart. */
export const ACCESS_TOKEN_CLOCK_TOLERANCE_SECONDS = 30;
/** Asymmetric only: an HS* token would be signed with a secret the provider shares with clients; none is no signature. */
export const ACCESS_TOKEN_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519'];

/** RFC 6750 §2.1 b64token. */
const B64_TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

export type BearerTokenShape = 'jwt' | 'opaque';

/** The token of an `Authorization: Bearer …` header (scheme case-insensitive), or undefined for any other header. */
export function bearerTokenOf(authorization: string | undefined): { readonly token: string } | { readonly malformed: true } | undefined {
  if (authorization === undefined) return undefined;
  const match = /^bearer(?:[ \t]+(.*))?$/is.exec(authorization.trim());
  if (match === null) return undefined;
  const token = (match[1] ?? '').trim();
  if (token === '' || Buffer.byteLength(token) > MAX_BEARER_TOKEN_BYTES || !B64_TOKEN.test(token)) return { malformed: true };
  return { token };
}

/** Three parts whose first decodes to a JOSE header: a JWS. Everything else is an opaque handle. */
export function bearerTokenShape(token: string): BearerTokenShape {
  if (token.split('.').length !== 3) return 'opaque';
  try {
    decodeProtectedHeader(token);
    return 'jwt';
  } catch {
    return 'opaque';
  }
}

export function invalidBearerToken(reason: string, cause?: unknown): OfaError {
  return new OfaError('OFA_BEARER_TOKEN_INVALID', reason, cause === undefined ? undefined : { cause });
}

export interface AccessTokenExpectations {
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** Accept `typ: JWT` or no typ besides RFC 9068's `at+jwt`. */
  readonly allowPlainJwt: boolean;
  readonly nowSeconds: number;
}

/** `typ` compared the way RFC 9068 §4 and jose do: case-insensitive, `application/` optional. */
function normalisedTyp(typ: unknown): string | undefined {
  return typeof typ === 'string' ? typ.toLowerCase().replace(/^application\//, '') : undefined;
}

/**
 * Verifies a JWT access token: signature by one of the provider's keys with an asymmetric alg,
 * `typ`, exact `iss`, an `aud` among ours, `exp` (required) and `nbf` within the leeway.
 * A key set the provider cannot serve now is transient (503), not a verdict on the token.
 */
export async function verifyJwtAccessToken(token: string, keys: JWTVerifyGetKey, expected: AccessTokenExpectations): Promise<JWTPayload> {
  let typ: string | undefined;
  try {
    typ = normalisedTyp(decodeProtectedHeader(token).typ);
  } catch (error) {
    throw invalidBearerToken('the token header does not decode', error);
  }
  // An ID token (typ JWT, aud = a client) must not pass for an access token: RFC 9068 §4.
  const typeAccepted = typ === 'at+jwt' || (expected.allowPlainJwt && (typ === undefined || typ === 'jwt'));
  if (!typeAccepted) throw invalidBearerToken(`the token's typ is not accepted (${typ === undefined ? 'none' : 'not at+jwt'})`);
  try {
    const { payload } = await jwtVerify(token, keys, {
      issuer: expected.issuer,
      audience: [...expected.audiences],
      algorithms: ACCESS_TOKEN_ALGORITHMS,
      requiredClaims: ['exp'],
      currentDate: new Date(expected.nowSeconds * 1000),
      clockTolerance: ACCESS_TOKEN_CLOCK_TOLERANCE_SECONDS,
    });
    checkAccessTokenShape(payload, expected.nowSeconds);
    return payload;
  } catch (error) {
    if (isOfaError(error) && error.code === 'OFA_BEARER_TOKEN_INVALID') throw error;
    if (isTransientError(error)) throw error;
    if (error instanceof joseErrors.JWKSTimeout) {
      throw new OfaError('OFA_PROVIDER_TIMEOUT', "the provider's keys did not arrive in time", { cause: error });
    }
    if (error instanceof joseErrors.JWKSInvalid) {
      throw new OfaError('OFA_PROVIDER_RESPONSE', "the provider's key set is not usable", { cause: error });
    }
    throw invalidBearerToken(describeRefusal(error), error);
  }
}

/** Claims only an ID token carries (OpenID Connect Core 2, 3.1.3.6, 3.3.2.11). */
const ID_TOKEN_CLAIMS = ['nonce', 'at_hash', 'c_hash', 's_hash'];
/** RFC 9068's client_id and scope, and the names Entra ID (scp) and Okta (cid, scp) give them. */
const ACCESS_TOKEN_CLIENT_OR_SCOPE = ['client_id', 'scope', 'scp', 'cid'];
/** Keycloak and others type their tokens in a `typ` claim too; these say "not an access token". */
const NON_ACCESS_TYP_CLAIMS = new Set(['id', 'id_token', 'refresh', 'offline', 'logout']);

/**
 * What the signature, issuer and audience cannot tell: that this is an access token for a subject.
 * With allowPlainJwt and the client ID among the audiences, an ID token (which travels in URLs as
 * id_token_hint) or a back-channel logout token verifies as well as an access token does; their
 * claims give them away. RFC 9068 §2.2 requires `sub`, and an `iat` ahead of our clock (past the
 * leeway) is a token from the future, however its exp reads.
 */
function checkAccessTokenShape(payload: JWTPayload, nowSeconds: number): void {
  if (typeof payload.sub !== 'string' || payload.sub === '') throw invalidBearerToken('the token has no "sub" string');
  if (typeof payload.iat === 'number' && payload.iat - ACCESS_TOKEN_CLOCK_TOLERANCE_SECONDS > nowSeconds) {
    throw invalidBearerToken('the token was issued in the future ("iat")');
  }
  const idTokenClaim = ID_TOKEN_CLAIMS.find((claim) => payload[claim] !== undefined);
  if (idTokenClaim !== undefined) throw invalidBearerToken(`the token carries "${idTokenClaim}": an ID token, not an access token`);
  if (payload.events !== undefined) throw invalidBearerToken('the token carries "events": a logout (security event) token, not an access token');
  if (payload.auth_time !== undefined && !ACCESS_TOKEN_CLIENT_OR_SCOPE.some((claim) => payload[claim] !== undefined)) {
    throw invalidBearerToken('the token has "auth_time" without a client or scope claim: an ID token, not an access token');
  }
  if (typeof payload.typ === 'string' && NON_ACCESS_TYP_CLAIMS.has(payload.typ.toLowerCase())) {
    throw invalidBearerToken('the token\'s "typ" claim says it is not an access token');
  }
}

/** Fixed words for our log: which check failed, never a claim value. */
function describeRefusal(error: unknown): string {
  if (error instanceof joseErrors.JWTExpired) return 'the token has expired';
  if (error instanceof joseErrors.JWTClaimValidationFailed) return `the token's "${error.claim}" claim is not accepted`;
  if (error instanceof joseErrors.JOSEAlgNotAllowed) return "the token's alg is not accepted";
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) return "the token's signature does not verify";
  if (error instanceof joseErrors.JWKSNoMatchingKey) return "no key of the provider's matches the token";
  return 'the token is not a valid JWT';
}
