import { createHash, timingSafeEqual } from 'node:crypto';
import { jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { OfaError, isOfaError } from '../errors.js';

/**
 * ID tokens are only accepted when signed with one of the provider's asymmetric keys:
 * openid-client v6 does not check the signature of an ID token from the token endpoint, and an
 * HMAC algorithm would let anyone holding the client secret (or a public key) mint identities.
 */
const ASYMMETRIC_ALGORITHMS = new Set([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
]);

export function idTokenAlgorithms(advertised: unknown): string[] {
  if (!Array.isArray(advertised)) return ['RS256'];
  const usable = advertised.filter((alg): alg is string => typeof alg === 'string' && ASYMMETRIC_ALGORITHMS.has(alg));
  return usable.length > 0 ? usable : ['RS256'];
}

export interface IdTokenExpectations {
  readonly issuer: string;
  readonly clientID: string;
  readonly algorithms: readonly string[];
  /** Present at login; absent on refresh (a refreshed ID token carries no nonce or the original one). */
  readonly nonce?: string | undefined;
  /** When the access token came with the ID token, `at_hash` (if present) must match it. */
  readonly accessToken?: string | undefined;
  readonly now: number;
  readonly clockToleranceSeconds?: number;
}

const CLOCK_TOLERANCE_SECONDS = 30;

/** Verifies signature and every claim OpenID Connect Core 3.1.3.7 asks of a code-flow ID token. */
export async function verifyIdToken(
  idToken: string,
  keys: JWTVerifyGetKey,
  expected: IdTokenExpectations,
): Promise<JWTPayload> {
  let payload: JWTPayload;
  let alg: string;
  try {
    const verified = await jwtVerify(idToken, keys, {
      issuer: expected.issuer,
      audience: expected.clientID,
      algorithms: [...expected.algorithms],
      clockTolerance: expected.clockToleranceSeconds ?? CLOCK_TOLERANCE_SECONDS,
      currentDate: new Date(expected.now * 1000),
      requiredClaims: ['iss', 'sub', 'aud', 'exp', 'iat'],
    });
    payload = verified.payload;
    alg = verified.protectedHeader.alg;
  } catch (error) {
    if (isOfaError(error)) throw error;
    throw new OfaError('OFA_ID_TOKEN_INVALID', `ID token rejected: ${describeJoseError(error)}`, { cause: error });
  }
  const tolerance = expected.clockToleranceSeconds ?? CLOCK_TOLERANCE_SECONDS;
  if (typeof payload.sub !== 'string' || payload.sub === '') {
    throw new OfaError('OFA_ID_TOKEN_INVALID', 'ID token rejected: "sub" must be a non-empty string');
  }
  if (typeof payload.iat !== 'number' || payload.iat > expected.now + tolerance) {
    throw new OfaError('OFA_ID_TOKEN_INVALID', 'ID token rejected: "iat" is missing or in the future');
  }
  const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
  const azp = (payload as { azp?: unknown }).azp;
  if (azp !== undefined && azp !== expected.clientID) {
    throw new OfaError('OFA_ID_TOKEN_INVALID', 'ID token rejected: "azp" names another client');
  }
  if (audiences.length > 1 && azp === undefined) {
    throw new OfaError('OFA_ID_TOKEN_INVALID', 'ID token rejected: several audiences and no "azp"');
  }
  if (expected.nonce !== undefined) {
    const nonce = (payload as { nonce?: unknown }).nonce;
    if (typeof nonce !== 'string' || !constantTimeEqual(nonce, expected.nonce)) {
      throw new OfaError('OFA_ID_TOKEN_INVALID', 'ID token rejected: "nonce" does not match this login');
    }
  }
  const atHash = (payload as { at_hash?: unknown }).at_hash;
  if (atHash !== undefined && expected.accessToken !== undefined) {
    if (typeof atHash !== 'string' || !constantTimeEqual(atHash, leftHalfHash(expected.accessToken, alg))) {
      throw new OfaError('OFA_ID_TOKEN_INVALID', 'ID token rejected: "at_hash" does not match the access token');
    }
  }
  return payload;
}

/** OIDC Core 3.1.3.6: base64url of the left half of the hash the JWS algorithm uses. */
function leftHalfHash(value: string, alg: string): string {
  const bits = alg === 'EdDSA' || alg === 'Ed25519' ? 512 : Number(alg.slice(2)) || 256;
  const hashName = bits === 512 ? 'sha512' : bits === 384 ? 'sha384' : 'sha256';
  const digest = createHash(hashName).update(value, 'ascii').digest();
  return digest.subarray(0, digest.length / 2).toString('base64url');
}

export function constantTimeEqual(a: string, b: string): boolean {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
}

/** jose's messages name claims and reasons, never token contents; keep only the code and message. */
export function describeJoseError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return typeof code === 'string' ? `${code}: ${error.message}` : error.message;
  }
  return 'unknown error';
}
