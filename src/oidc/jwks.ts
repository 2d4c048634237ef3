/**
 * Verifying JWTs (JWT access tokens, logout tokens) against the provider's published keys.
 *
 * openid-client verifies ID tokens itself, with its own key cache (oauth4webapi 3.8: one cache per
 * Configuration, entries kept 5 minutes, and a key-set refetch on an unknown `kid` only when the
 * cached set is at least 60 s old; concurrent fetches are shared). Here we use jose's remote key
 * set the same way: one per provider client, fetched through our fetch, refetched on an unknown
 * `kid` at most once per cooldown.
 */
import { createRemoteJWKSet, customFetch, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { OfaError } from '../errors.js';
import type { ProviderClient } from './discovery.js';

export const JWKS_COOLDOWN_MS = 30_000;
export const JWKS_MAX_AGE_MS = 10 * 60_000;

export type VerifyWithProviderKeysOptions = Pick<
  JWTVerifyOptions,
  'issuer' | 'audience' | 'clockTolerance' | 'currentDate' | 'requiredClaims' | 'typ' | 'maxTokenAge'
> & {
  /** Required: the algorithms we accept, never taken from the token. */
  readonly algorithms: string[];
};

type RemoteKeySet = ReturnType<typeof createRemoteJWKSet>;

const keySets = new WeakMap<ProviderClient, { readonly jwksUri: string; readonly keySet: RemoteKeySet }>();

function keySetFor(client: ProviderClient): RemoteKeySet {
  const configuration = client.current();
  const jwksUri = configuration?.serverMetadata().jwks_uri;
  if (jwksUri === undefined) {
    throw new OfaError('OFA_PROVIDER_UNAVAILABLE', 'the identity provider has not been discovered yet');
  }
  const cached = keySets.get(client);
  if (cached !== undefined && cached.jwksUri === jwksUri) return cached.keySet;
  const keySet = createRemoteJWKSet(new URL(jwksUri), {
    [customFetch]: client.fetch,
    // Our fetch applies per-attempt timeouts and retries; jose's own deadline must cover them.
    timeoutDuration: (configuration?.timeout ?? 30) * 1000,
    cooldownDuration: JWKS_COOLDOWN_MS,
    cacheMaxAge: JWKS_MAX_AGE_MS,
  });
  keySets.set(client, { jwksUri, keySet });
  return keySet;
}

/**
 * Verifies the signature (and exp/nbf, plus whatever `options` ask) of a compact JWS against the
 * provider's keys. Network failures surface as OfaError; verification failures as jose errors
 * (their `code` says what failed) for the caller to translate.
 */
export async function verifyWithProviderKeys(
  client: ProviderClient,
  jwt: string,
  options: VerifyWithProviderKeysOptions,
): Promise<JWTPayload> {
  const { payload } = await jwtVerify(jwt, keySetFor(client), options);
  return payload;
}

/** The provider's key set as a jose key getter, for verifying ID tokens with our own checks. */
export function providerKeySet(client: ProviderClient): RemoteKeySet {
  return keySetFor(client);
}
