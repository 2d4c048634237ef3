/**
 * Opaque bearer tokens, checked at the provider's introspection endpoint (RFC 7662) with the
 * client's own authentication. Answers are reused for a short, bounded time that never outlives
 * the token's exp: a revoked token is refused at the latest `cacheSeconds` after its revocation.
 * The cache is keyed by a hash of the token, never the token.
 *
 * Every unknown token costs an authenticated call at the provider, so a flood of made-up tokens
 * must not become one at the provider (which would rate-limit the client and break sign-ins):
 * calls per provider are capped (over the cap: 503 without a call), never retried, and refused
 * tokens go to a small cache of their own so that they cannot evict the answers for good ones.
 */
import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import { OfaError } from '../errors.js';
import { createLru, type Lru } from '../cache/lru.js';
import { invalidBearerToken } from './access-token.js';
import { translateProviderError } from './provider-errors.js';
import { serverMetadataOf } from './server-metadata.js';

/** Active tokens remembered per provider; the least recently used go first. */
export const INTROSPECTION_CACHE_ENTRIES = 10_000;
/** Refused tokens remembered per provider, apart from the active ones. */
export const REFUSED_TOKEN_CACHE_ENTRIES = 1_000;
/** Introspection calls one provider may have open at once, across every middleware that uses it. */
export const MAX_CONCURRENT_INTROSPECTIONS = 16;
const CLOCK_TOLERANCE_SECONDS = 30;

type Claims = Readonly<Record<string, unknown>>;

interface CachedAnswer {
  readonly claims: Claims;
  readonly expiresAtSeconds: number;
}

export interface IntrospectionCache {
  readonly answers: Lru<string, CachedAnswer>;
  /** Tokens the provider called inactive, until when (epoch seconds). */
  readonly refused: Lru<string, number>;
  /** One call per token at a time: concurrent requests with the same token share it. Its size is the calls open now. */
  readonly inFlight: Map<string, Promise<Claims | undefined>>;
  readonly maxConcurrent: number;
}

export interface IntrospectionCacheLimits {
  readonly refusedEntries?: number;
  readonly maxConcurrent?: number;
}

export function createIntrospectionCache(capacity: number = INTROSPECTION_CACHE_ENTRIES, limits: IntrospectionCacheLimits = {}): IntrospectionCache {
  return {
    answers: createLru(capacity),
    refused: createLru(limits.refusedEntries ?? REFUSED_TOKEN_CACHE_ENTRIES),
    inFlight: new Map(),
    maxConcurrent: limits.maxConcurrent ?? MAX_CONCURRENT_INTROSPECTIONS,
  };
}

export interface IntrospectionExpectations {
  readonly issuer: string;
  readonly audiences: readonly string[];
  /** Clients whose tokens are accepted when the answer names no audience; none by default. */
  readonly clientsWithoutAudience: readonly string[];
  readonly cacheSeconds: number;
  readonly nowSeconds: number;
}

function tokenKey(token: string): string {
  return createHash('sha256').update(token).digest('base64url');
}

/**
 * The claims of an active token that passes our checks; throws OFA_BEARER_TOKEN_INVALID for an
 * inactive or foreign one, and a transient error when the provider cannot answer.
 */
export async function introspectAccessToken(
  configuration: client.Configuration,
  cache: IntrospectionCache,
  token: string,
  expected: IntrospectionExpectations,
): Promise<Claims> {
  const claims = await activeClaims(configuration, cache, tokenKey(token), token, expected);
  if (claims === undefined) throw invalidBearerToken('the provider says the token is not active');
  checkIntrospectedClaims(claims, expected);
  return claims;
}

/** The provider's answer for this token: from either cache, a call already open for it, or a new call within the cap. */
async function activeClaims(
  configuration: client.Configuration,
  cache: IntrospectionCache,
  key: string,
  token: string,
  expected: IntrospectionExpectations,
): Promise<Claims | undefined> {
  const now = expected.nowSeconds;
  const cached = cache.answers.get(key);
  if (cached !== undefined) {
    if (now < cached.expiresAtSeconds) return cached.claims;
    cache.answers.delete(key);
  }
  const refusedUntil = cache.refused.get(key);
  if (refusedUntil !== undefined) {
    if (now < refusedUntil) return undefined;
    cache.refused.delete(key);
  }
  let pending = cache.inFlight.get(key);
  if (pending === undefined) {
    if (cache.inFlight.size >= cache.maxConcurrent) {
      throw new OfaError('OFA_INTROSPECTION_BUSY', `${cache.maxConcurrent} token introspections are open at the provider already; not asking for another`);
    }
    pending = askProvider(configuration, token).finally(() => cache.inFlight.delete(key));
    cache.inFlight.set(key, pending);
  }
  const claims = await pending;
  const ttl = cacheLifetime(claims, expected.cacheSeconds, now);
  if (ttl > 0) {
    if (claims === undefined) cache.refused.set(key, now + ttl);
    else cache.answers.set(key, { claims, expiresAtSeconds: now + ttl });
  }
  return claims;
}

/** min(cacheSeconds, exp − now): an answer is never reused past the token's own end. */
export function cacheLifetime(claims: Claims | undefined, cacheSeconds: number, nowSeconds: number): number {
  const exp = claims?.exp;
  if (typeof exp === 'number' && Number.isFinite(exp)) return Math.max(0, Math.min(cacheSeconds, Math.floor(exp) - nowSeconds));
  return cacheSeconds;
}

async function askProvider(configuration: client.Configuration, token: string): Promise<Claims | undefined> {
  if (serverMetadataOf(configuration).introspection_endpoint === undefined) {
    throw invalidBearerToken('the provider advertises no introspection_endpoint; opaque tokens cannot be checked');
  }
  let answer: client.IntrospectionResponse;
  try {
    answer = await client.tokenIntrospection(configuration, token, { token_type_hint: 'access_token' });
  } catch (error) {
    // The provider not answering is transient; a refusal of our client is a configuration problem, logged, and still fails closed.
    throw translateProviderError(error, { what: 'token introspection failed', refused: 'OFA_PROVIDER_RESPONSE', unusable: 'OFA_PROVIDER_RESPONSE' });
  }
  return answer.active === true ? { ...answer } : undefined;
}

/** Our checks on an active token: RFC 7662 §4 leaves them to the resource server. */
function checkIntrospectedClaims(claims: Claims, expected: IntrospectionExpectations): void {
  if (claims.iss !== undefined && claims.iss !== expected.issuer) throw invalidBearerToken('the introspected token names another issuer');
  const audiences = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : claims.aud === undefined ? [] : [claims.aud];
  if (audiences.length > 0) {
    if (!audiences.some((audience) => typeof audience === 'string' && expected.audiences.includes(audience))) {
      throw invalidBearerToken('the introspected token is not for this audience');
    }
  } else if (!(typeof claims.client_id === 'string' && expected.clientsWithoutAudience.includes(claims.client_id))) {
    // Without an audience the answer says only "some token of this provider's": any client's, for any API.
    throw invalidBearerToken('the introspected token names no audience, and its client is not in introspection.clientsWithoutAudience');
  }
  // A refresh token (or a DPoP-bound token, whose proof we cannot check) is not a bearer access token.
  if (claims.token_type !== undefined && !(typeof claims.token_type === 'string' && /^(bearer|access_token)$/i.test(claims.token_type))) {
    throw invalidBearerToken('the introspected token is not a bearer access token');
  }
  // Ory Hydra answers for refresh tokens too, typed Bearer, and says which kind in token_use.
  if (claims.token_use !== undefined && claims.token_use !== 'access_token') {
    throw invalidBearerToken('the introspected token is not an access token');
  }
  if (typeof claims.exp === 'number' && claims.exp + CLOCK_TOLERANCE_SECONDS <= expected.nowSeconds) {
    throw invalidBearerToken('the introspected token has expired');
  }
  if (typeof claims.nbf === 'number' && claims.nbf - CLOCK_TOLERANCE_SECONDS > expected.nowSeconds) {
    throw invalidBearerToken('the introspected token is not valid yet');
  }
}
