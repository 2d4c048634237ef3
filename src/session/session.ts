import { randomBytes } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';

/** What we keep about a login. Times are epoch seconds, but for createdAtMs. */
export interface Session {
  v: 1;
  /** Random, 128-bit, base64url; the key for revocation and refresh locking. */
  id: string;
  issuer: string;
  subject: string;
  /** The ID token's `sid`, matched by back-channel logout. */
  providerSid?: string;
  /** Only the claims the middleware references (see pruneClaims). */
  idClaims: Record<string, unknown>;
  /** Present only when the access token was a JWT we verified. */
  accessClaims?: Record<string, unknown>;
  /**
   * Kept for id_token_hint at logout, and for the application under applicationTokens.idTokenHeader;
   * only in the first case is it the first thing dropped when the cookie is too big.
   */
  idToken?: string;
  refreshToken?: string;
  /** Kept only when the middleware hands it to the application (applicationTokens.accessTokenHeader). */
  accessToken?: string;
  accessTokenExpiresAt?: number;
  createdAt: number;
  /**
   * The same instant in epoch milliseconds: revocation cutoffs compare against it, since a login
   * in the same second as a subject-wide logout must not be born revoked. Absent in sessions
   * written before it was kept (see creationSeconds).
   */
  createdAtMs?: number;
  renewedAt: number;
  expiresAt: number;
  /**
   * The claim names the configuration had this session keep from each token (besides
   * ALWAYS_KEPT_CLAIMS): after a reload that reads more, the session is renewed, not trusted to
   * hold them. Absent in sessions written before it was kept.
   */
  keptClaims?: KeptClaims;
}

export interface KeptClaims {
  readonly id: readonly string[];
  readonly access: readonly string[];
}

/**
 * Claims every session keeps whatever the configuration references; aud, azp and auth_time so a
 * refreshed ID token can be held to the original authentication (OIDC Core 12.2).
 */
export const ALWAYS_KEPT_CLAIMS: ReadonlySet<string> = new Set(['sub', 'iss', 'sid', 'exp', 'aud', 'azp', 'auth_time']);

/** Codec byte in front of the deflated JSON, so another encoding can follow without guessing. */
const CODEC_DEFLATED_JSON = 1;
/** Inflating hostile input must not allocate without bound; a real session is a few KiB. */
export const MAX_SESSION_JSON_BYTES = 64 * 1024;
const SESSION_ID = /^[A-Za-z0-9_-]{16,64}$/;

/**
 * When the login happened, in epoch seconds to the millisecond: what a revocation's cutoff (also
 * seconds, to the millisecond) is compared with. A session from before createdAtMs knows only its
 * second and counts as created at its start, so a revocation later in that second still ends it:
 * nothing logged out comes back, and only such old sessions can end one login too many.
 */
export function creationSeconds(session: Pick<Session, 'createdAt' | 'createdAtMs'>): number {
  return session.createdAtMs === undefined ? session.createdAt : session.createdAtMs / 1000;
}

export function newSessionId(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * Keep only the top-level claims the middleware uses, so the cookie stays small.
 * `Object.fromEntries` defines own properties, so a claim named "__proto__" stays data.
 */
export function pruneClaims(claims: Readonly<Record<string, unknown>>, topLevelNames: ReadonlySet<string>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(claims).filter(([name]) => topLevelNames.has(name) || ALWAYS_KEPT_CLAIMS.has(name)),
  );
}

export function encodeSession(session: Session): Uint8Array {
  const json = Buffer.from(JSON.stringify(session), 'utf8');
  const deflated = deflateRawSync(json);
  const out = Buffer.allocUnsafe(deflated.length + 1);
  out[0] = CODEC_DEFLATED_JSON;
  deflated.copy(out, 1);
  return out;
}

/** Undefined for anything that is not a session we wrote; never throws. */
export function decodeSession(bytes: Uint8Array): Session | undefined {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2 || bytes[0] !== CODEC_DEFLATED_JSON) return undefined;
  let value: unknown;
  try {
    const json = inflateRawSync(bytes.subarray(1), { maxOutputLength: MAX_SESSION_JSON_BYTES });
    value = JSON.parse(json.toString('utf8'));
  } catch {
    return undefined;
  }
  return isSession(value) ? value : undefined;
}

function isPlainRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isTime(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isOptional<T>(value: unknown, guard: (v: unknown) => v is T): boolean {
  return value === undefined || guard(value);
}

function isKeptClaims(value: unknown): value is KeptClaims {
  const isNames = (names: unknown): boolean => Array.isArray(names) && names.every(isString);
  return isPlainRecord(value) && isNames(value.id) && isNames(value.access);
}

function isString(value: unknown): value is string {
  return typeof value === 'string';
}

function isNonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}

export function isSession(value: unknown): value is Session {
  if (!isPlainRecord(value)) return false;
  return (
    value.v === 1 &&
    typeof value.id === 'string' &&
    SESSION_ID.test(value.id) &&
    isNonEmptyString(value.issuer) &&
    isNonEmptyString(value.subject) &&
    isOptional(value.providerSid, isString) &&
    isPlainRecord(value.idClaims) &&
    isOptional(value.accessClaims, isPlainRecord) &&
    isOptional(value.idToken, isString) &&
    isOptional(value.refreshToken, isString) &&
    isOptional(value.accessToken, isString) &&
    isOptional(value.accessTokenExpiresAt, isTime) &&
    isTime(value.createdAt) &&
    isOptional(value.createdAtMs, isTime) &&
    isTime(value.renewedAt) &&
    isTime(value.expiresAt) &&
    isOptional(value.keptClaims, isKeptClaims)
  );
}
