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

/**
 * The first byte of an encoded session names its codec version. Version 1 is deflated JSON.
 * Version 2 adds a form byte, so each value says whether it is deflated: inflating costs about
 * 10 µs on every cache miss, whatever the size, and a typical session's raw JSON still fits a
 * cookie comfortably. Every version is read; the writer picks one (session.codecVersion), so a
 * fleet can first learn to read version 2 everywhere and only then start writing it.
 */
export type SessionCodecVersion = 1 | 2;
export const DEFAULT_SESSION_CODEC_VERSION: SessionCodecVersion = 2;
const FORM_RAW = 0;
const FORM_DEFLATED = 1;
/**
 * Version 2 deflates only JSON longer than this. Up to 2 KiB the raw form keeps a sealed cookie under
 * 2.8 KiB, inside the cookie budget (3800), so deflate could not have saved an ID token from being
 * dropped; above it every byte counts against that budget, and session JSON of 1.2–3.8 KiB deflated
 * by a quarter or more in every case measured (ID tokens are base64url, which deflate packs to 6 bits).
 */
export const DEFLATE_ABOVE_BYTES = 2048;
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

export function encodeSession(session: Session, version: SessionCodecVersion = DEFAULT_SESSION_CODEC_VERSION): Uint8Array {
  const json = Buffer.from(JSON.stringify(session), 'utf8');
  if (version === 1) return withHeader([1], deflateRawSync(json));
  if (json.length > DEFLATE_ABOVE_BYTES) {
    const deflated = deflateRawSync(json);
    if (deflated.length < json.length) return withHeader([2, FORM_DEFLATED], deflated);
  }
  return withHeader([2, FORM_RAW], json);
}

function withHeader(header: readonly number[], body: Buffer): Uint8Array {
  const out = Buffer.allocUnsafe(header.length + body.length);
  out.set(header, 0);
  body.copy(out, header.length);
  return out;
}

/** Undefined for anything that is not a session we wrote, in any codec version; never throws. */
export function decodeSession(bytes: Uint8Array): Session | undefined {
  if (!(bytes instanceof Uint8Array) || bytes.length < 2) return undefined;
  let json: Uint8Array | undefined;
  try {
    if (bytes[0] === 1) json = inflate(bytes.subarray(1));
    else if (bytes[0] === 2 && bytes[2] !== undefined) {
      const body = bytes.subarray(2);
      if (bytes[1] === FORM_DEFLATED) json = inflate(body);
      else if (bytes[1] === FORM_RAW && body.length <= MAX_SESSION_JSON_BYTES) json = body;
    }
    if (json === undefined) return undefined;
    const value: unknown = JSON.parse(Buffer.from(json.buffer, json.byteOffset, json.byteLength).toString('utf8'));
    return isSession(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

function inflate(deflated: Uint8Array): Buffer {
  return inflateRawSync(deflated, { maxOutputLength: MAX_SESSION_JSON_BYTES });
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
