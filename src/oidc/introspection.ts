/**
 * Opaque bearer tokens, checked at the provider's introspection endpoint (RFC 7662) with the
 * client's own authentication. Answers are reused for a short, bounded time that never outlives
 * the token's exp: a revoked token is refused at the latest `cacheSeconds` after its revocation.
 * The cache is keyed by a hash of the token, never the token.
 */
import { createHash } from 'node:crypto';
import * as client from 'openid-client';
import { OfaError, isOfaError } from '../errors.js';
import { createLru, type Lru } from '../session/lru.js';
import { invalidBearerToken } from './access-token.js';
import { callingProviderEndpoint } from './http.js';
import { safeOAuthWord } from './tokens.js';

/** Distinct tokens remembered per provider; the least recently used go first. */
export const INTROSPECTION_CACHE_ENTRIES = 10_000;
const CLOCK_TOLERANCE_SECONDS = 30;

type Claims = Readonly<Record<string, unknown>>;

interface CachedAnswer {
  /** Undefined: the provider said the token is not active. */
  readonly claims: Claims | undefined;
  readonly expiresAtSeconds: number;
}

export interface IntrospectionCache {
  readonly answers: Lru<string, CachedAnswer>;
  /** One call per token at a time: concurrent requests with the same token share it. */
  readonly inFlight: Map<string, Promise<Claims | undefined>>;
}

export function createIntrospectionCache(capacity: number = INTROSPECTION_CACHE_ENTRIES): IntrospectionCache {
  return { answers: createLru(capacity), inFlight: new Map() };
}

export interface IntrospectionExpectations {
  readonly issuer: string;
  readonly audiences: readonly string[];
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
  const key = tokenKey(token);
  const now = expected.nowSeconds;
  const cached = cache.answers.get(key);
  let claims: Claims | undefined;
  if (cached !== undefined && now < cached.expiresAtSeconds) {
    claims = cached.claims;
  } else {
    if (cached !== undefined) cache.answers.delete(key);
    let pending = cache.inFlight.get(key);
    if (pending === undefined) {
      pending = askProvider(configuration, token).finally(() => cache.inFlight.delete(key));
      cache.inFlight.set(key, pending);
    }
    claims = await pending;
    const ttl = cacheLifetime(claims, expected.cacheSeconds, now);
    if (ttl > 0) cache.answers.set(key, { claims, expiresAtSeconds: now + ttl });
  }
  if (claims === undefined) throw invalidBearerToken('the provider says the token is not active');
  checkIntrospectedClaims(claims, expected);
  return claims;
}

/** min(cacheSeconds, exp − now): an answer is never reused past the token's own end. */
export function cacheLifetime(claims: Claims | undefined, cacheSeconds: number, nowSeconds: number): number {
  const exp = claims?.exp;
  if (typeof exp === 'number' && Number.isFinite(exp)) return Math.max(0, Math.min(cacheSeconds, Math.floor(exp) - nowSeconds));
  return cacheSeconds;
}

async function askProvider(configuration: client.Configuration, token: string): Promise<Claims | undefined> {
  if (configuration.serverMetadata().introspection_endpoint === undefined) {
    throw invalidBearerToken('the provider advertises no introspection_endpoint; opaque tokens cannot be checked');
  }
  let answer: client.IntrospectionResponse;
  try {
    answer = await callingProviderEndpoint('introspection', () => client.tokenIntrospection(configuration, token, { token_type_hint: 'access_token' }));
  } catch (error) {
    throw translateIntrospectionError(error);
  }
  return answer.active === true ? { ...answer } : undefined;
}

/** Our checks on an active token: RFC 7662 §4 leaves them to the resource server. */
function checkIntrospectedClaims(claims: Claims, expected: IntrospectionExpectations): void {
  if (claims.iss !== undefined && claims.iss !== expected.issuer) throw invalidBearerToken('the introspected token names another issuer');
  if (claims.aud !== undefined) {
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    if (!audiences.some((audience) => typeof audience === 'string' && expected.audiences.includes(audience))) {
      throw invalidBearerToken('the introspected token is not for this audience');
    }
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

/** The provider not answering is transient; a refusal of our client is a configuration problem, logged, and still fails closed. */
function translateIntrospectionError(error: unknown): OfaError {
  if (isOfaError(error)) return error;
  const cause = error instanceof Error ? error.cause : undefined;
  if (isOfaError(cause)) return cause;
  if (error instanceof client.ResponseBodyError) {
    const code = error.status >= 500 || error.error === 'temporarily_unavailable' ? 'OFA_PROVIDER_UNAVAILABLE' : 'OFA_PROVIDER_RESPONSE';
    return new OfaError(code, `token introspection failed: the provider answered "${safeOAuthWord(error.error)}"`, { cause: error });
  }
  if (error instanceof client.WWWAuthenticateChallengeError) {
    const code = error.status >= 500 ? 'OFA_PROVIDER_UNAVAILABLE' : 'OFA_PROVIDER_RESPONSE';
    return new OfaError(code, `token introspection failed: HTTP ${error.status} (client authentication)`, { cause: error });
  }
  if (cause instanceof Response && cause.status >= 500) {
    return new OfaError('OFA_PROVIDER_UNAVAILABLE', `token introspection failed: HTTP ${cause.status}`, { cause: error });
  }
  return new OfaError('OFA_PROVIDER_RESPONSE', 'token introspection got an answer we cannot use', { cause: error });
}
