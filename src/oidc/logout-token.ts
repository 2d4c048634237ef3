/**
 * Logout tokens for OpenID Connect Back-Channel Logout 1.0 (final): the provider POSTs one to us
 * when a user's session ends there, and we check it as sections 2.4 and 2.6 ask before ending
 * anything. Every fault in the token is an answer, `{ ok: false, reason }`, never an exception: the
 * endpoint is reachable by anyone, and its refusals are routine. The reasons are fixed phrases that
 * name a claim and never quote the token, so the route may log them and send them back.
 *
 * Remembering `jti` to refuse a replay (2.6 step 7) and matching `sid`/`sub` to sessions belong to
 * the caller; `rememberUntil` says how long the first needs to last.
 */
import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { OfaError } from '../errors.js';
import { idTokenAlgorithms } from './id-token.js';

export interface LogoutTokenExpectations {
  /** Exactly as discovered. */
  readonly issuer: string;
  /** Must be one of the token's audiences. */
  readonly clientID: string;
  /** From `idTokenAlgorithms(...)`: asymmetric only, so the client secret cannot mint a logout token. */
  readonly algorithms: readonly string[];
  /** The client registered `backchannel_logout_session_required`: then `sid` is required. */
  readonly sessionRequired: boolean;
  readonly nowSeconds: number;
  /** Default 30. */
  readonly clockToleranceSeconds?: number;
  /** How old `iat` may be; default 300, at most a day. */
  readonly maxAgeSeconds?: number;
}

export interface LogoutTarget {
  readonly issuer: string;
  readonly jti: string;
  readonly sid: string | undefined;
  readonly sub: string | undefined;
  /**
   * Epoch seconds from which `verifyLogoutToken` refuses this token by itself (its `exp` has
   * passed or its `iat` is too old); a replay guard must refuse the `jti` while now < rememberUntil.
   */
  readonly rememberUntil: number;
  /**
   * The latest our clock can have read when the provider issued the token (`iat` plus the allowed
   * skew): the cutoff of a subject-wide logout, so a delayed or replayed token cannot end the
   * logins that came after it.
   */
  readonly issuedBySeconds: number;
}

export type LogoutTokenResult =
  | { readonly ok: true; readonly target: LogoutTarget }
  | { readonly ok: false; readonly reason: string };

/** Ten times and more the size of an honest logout token (under 1 KiB); refused before it is parsed. */
export const LOGOUT_TOKEN_MAX_CHARS = 16 * 1024;

const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const CLOCK_TOLERANCE_SECONDS = 30;
/**
 * The provider sends a logout token the moment the session ends (the spec recommends `exp` at most
 * two minutes ahead; oidc-provider and Keycloak use 120 s). Five minutes allows for a provider that
 * queues or retries, and bounds how long a `jti` has to be remembered, whatever `exp` says.
 */
const DEFAULT_MAX_AGE_SECONDS = 300;
const MAX_MAX_AGE_SECONDS = 86_400;
/** `jti`, `sid` and `sub` end up as keys in our stores; Core caps `sub` at 255 characters. */
const MAX_IDENTIFIER_CHARS = 256;
/** `typ` values, lowercased and without `application/`: plain JWT, or the explicit type of 2.4. */
const ACCEPTED_TYPES = new Set(['jwt', 'logout+jwt']);
/** Claims jose may name in a refusal; anything else is described without its name. */
const JOSE_CHECKED_CLAIMS = new Set(['iss', 'aud', 'iat', 'exp', 'nbf', 'events']);

const refuse = (reason: string): LogoutTokenResult => ({ ok: false, reason });

/**
 * Checks a logout token as Back-Channel Logout 1.0 section 2.6 asks. Resolves `{ ok: false }` for
 * every fault in the token; rejects only when the provider's keys could not be had (an OfaError,
 * not the token's fault, so the route can answer 5xx), or with a TypeError on misuse.
 */
export async function verifyLogoutToken(
  token: string,
  keys: JWTVerifyGetKey,
  expected: LogoutTokenExpectations,
): Promise<LogoutTokenResult> {
  const tolerance = expected.clockToleranceSeconds ?? CLOCK_TOLERANCE_SECONDS;
  const maxAge = expected.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS;
  assertExpectations(expected, tolerance, maxAge);
  if (token.length > LOGOUT_TOKEN_MAX_CHARS) {
    return refuse(`logout token is longer than ${LOGOUT_TOKEN_MAX_CHARS} characters`);
  }
  let payload: JWTPayload;
  let typ: unknown;
  try {
    const verified = await jwtVerify(token, keys, {
      issuer: expected.issuer,
      audience: expected.clientID,
      algorithms: [...expected.algorithms],
      clockTolerance: tolerance,
      maxTokenAge: maxAge,
      currentDate: new Date(expected.nowSeconds * 1000),
      // exp is checked when present. Back-Channel Logout 1.0 (final) requires it, but providers
      // built on its drafts send none (Ory Hydra v2.3): such a token is bounded by its iat and
      // maxAge alone, which already limit how long it can be replayed and its jti remembered.
      requiredClaims: ['iss', 'aud', 'iat', 'events'],
    });
    payload = verified.payload;
    typ = verified.protectedHeader.typ;
  } catch (error) {
    return refusalFor(error);
  }

  const problem =
    typeHeaderProblem(typ) ??
    authorizedPartyProblem(payload, expected.clientID) ??
    identifierProblem('jti', payload.jti, true) ??
    logoutEventProblem(payload.events) ??
    // A nonce marks an ID token; 2.4 forbids it so that an ID token can never pass as a logout token.
    (Object.hasOwn(payload, 'nonce') ? 'logout token must not carry "nonce"' : undefined) ??
    identifierProblem('sid', payload.sid, expected.sessionRequired) ??
    identifierProblem('sub', payload.sub, false) ??
    (payload.sid === undefined && payload.sub === undefined ? 'logout token carries neither "sid" nor "sub"' : undefined);
  if (problem !== undefined) return refuse(problem);

  // Checked above: jti is a string, sid and sub strings or absent, and jose saw iat (and exp, when
  // present) are numbers. jose counts now in whole seconds and accepts exp while now < exp +
  // tolerance, iat while now <= iat + maxAge + tolerance: the jti must be remembered until the
  // first one fails.
  const jti = payload.jti as string;
  const sid = payload.sid as string | undefined;
  const sub = payload.sub;
  const exp = payload.exp as number | undefined;
  const iat = payload.iat as number;
  const iatBound = Math.floor(iat + maxAge + tolerance) + 1;
  const rememberUntil = exp === undefined ? iatBound : Math.min(Math.ceil(exp + tolerance), iatBound);
  return { ok: true, target: { issuer: expected.issuer, jti, sid, sub, rememberUntil, issuedBySeconds: iat + tolerance } };
}

function assertExpectations(expected: LogoutTokenExpectations, tolerance: number, maxAge: number): void {
  if (expected.issuer === '' || expected.clientID === '') {
    throw new TypeError('logout token expectations need an issuer and a client ID');
  }
  // idTokenAlgorithms keeps only asymmetric algorithms: anything it drops (HS*, none) is misuse.
  const asymmetric = idTokenAlgorithms(expected.algorithms);
  if (expected.algorithms.length === 0 || expected.algorithms.some((alg) => !asymmetric.includes(alg))) {
    throw new TypeError('logout tokens are verified with asymmetric algorithms only');
  }
  if (!Number.isFinite(expected.nowSeconds)) throw new TypeError('nowSeconds must be a finite number');
  if (!(Number.isFinite(tolerance) && tolerance >= 0)) {
    throw new TypeError('clockToleranceSeconds must be a non-negative number');
  }
  // rememberUntil grows with maxAge; a day keeps the replay memory the caller must hold bounded.
  if (!(Number.isFinite(maxAge) && maxAge >= 0 && maxAge <= MAX_MAX_AGE_SECONDS)) {
    throw new TypeError(`maxAgeSeconds must be between 0 and ${MAX_MAX_AGE_SECONDS}`);
  }
}

/** 2.4 recommends `typ: logout+jwt`; any other explicit type (at+jwt, secevent+jwt...) is another kind of token. */
function typeHeaderProblem(typ: unknown): string | undefined {
  if (typ === undefined) return undefined;
  if (typeof typ === 'string' && ACCEPTED_TYPES.has(typ.toLowerCase().replace(/^application\//, ''))) return undefined;
  return 'logout token "typ" header names another kind of token';
}

/** As for ID tokens (2.6 step 3 defers to Core 3.1.3.7): `azp`, when present, must be us; several audiences need it. */
function authorizedPartyProblem(payload: JWTPayload, clientID: string): string | undefined {
  const azp = payload.azp;
  if (azp !== undefined && azp !== clientID) return 'logout token "azp" names another client';
  if (Array.isArray(payload.aud) && payload.aud.length > 1 && azp === undefined) {
    return 'logout token "aud" names several audiences and no "azp"';
  }
  return undefined;
}

function identifierProblem(claim: 'jti' | 'sid' | 'sub', value: unknown, required: boolean): string | undefined {
  if (value === undefined) return required ? `logout token "${claim}" is missing` : undefined;
  if (typeof value !== 'string' || value === '') return `logout token "${claim}" must be a non-empty string`;
  if (value.length > MAX_IDENTIFIER_CHARS) return `logout token "${claim}" is longer than ${MAX_IDENTIFIER_CHARS} characters`;
  return undefined;
}

/** 2.4: `events` is a JSON object with the back-channel logout member, whose value is a JSON object. */
function logoutEventProblem(events: unknown): string | undefined {
  if (!isJsonObject(events)) return 'logout token "events" must be a JSON object';
  if (!Object.hasOwn(events, BACKCHANNEL_LOGOUT_EVENT)) return 'logout token "events" has no back-channel logout event';
  if (!isJsonObject(events[BACKCHANNEL_LOGOUT_EVENT])) {
    return 'logout token "events" back-channel logout event must be a JSON object';
  }
  return undefined;
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * What jose found wrong with the token, as a fixed phrase: jose's own messages carry no token
 * contents either, but a fixed phrase is a promise that holds whatever jose says next. Failures to
 * get the provider's keys are not the token's fault and are thrown.
 */
function refusalFor(error: unknown): LogoutTokenResult {
  if (error instanceof errors.JWKSTimeout) {
    throw new OfaError('OFA_PROVIDER_TIMEOUT', 'the provider keys did not arrive in time to check a logout token', { cause: error });
  }
  // jose throws its generic error only when the key set response is not 200 or not JSON.
  if (error instanceof errors.JWKSInvalid || error instanceof errors.JWKInvalid || (error instanceof errors.JOSEError && error.code === 'ERR_JOSE_GENERIC')) {
    throw new OfaError('OFA_PROVIDER_RESPONSE', 'the provider key set cannot be used to check a logout token', { cause: error });
  }
  if (error instanceof errors.JWTExpired) {
    return refuse(error.claim === 'iat' ? 'logout token "iat" is too old' : 'logout token "exp" has passed');
  }
  if (error instanceof errors.JWTClaimValidationFailed) return refuse(claimRefusal(error.claim, error.reason));
  if (error instanceof errors.JOSEAlgNotAllowed) return refuse('logout token "alg" is not one the provider signs with');
  if (error instanceof errors.JWKSNoMatchingKey) return refuse('logout token is not signed with a key the provider publishes');
  if (error instanceof errors.JWSSignatureVerificationFailed || error instanceof errors.JWKSMultipleMatchingKeys) {
    return refuse('logout token signature is invalid');
  }
  if (error instanceof errors.JOSENotSupported) return refuse('logout token uses an unsupported algorithm or critical header');
  if (error instanceof errors.JOSEError) return refuse('logout token is not a well-formed signed JWT');
  // Not jose's: our fetch's OfaError when the provider is unreachable, or a fault of ours.
  throw error;
}

function claimRefusal(claim: string, reason: string): string {
  const name = JOSE_CHECKED_CLAIMS.has(claim) ? `"${claim}"` : 'claim';
  if (reason === 'missing') return `logout token ${name} is missing`;
  // jose reports "invalid" only for a time claim that is not a number.
  if (reason === 'invalid') return `logout token ${name} must be a number`;
  switch (claim) {
    case 'iss': return 'logout token "iss" names another issuer';
    case 'aud': return 'logout token "aud" does not name this client';
    case 'iat': return 'logout token "iat" is in the future';
    case 'nbf': return 'logout token "nbf" is in the future';
    default: return 'logout token claims are invalid';
  }
}
