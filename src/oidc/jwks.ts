/**
 * The provider's published keys, for every signature we check ourselves: ID tokens (openid-client
 * v6 does not verify the signature of an ID token from the token endpoint) and JWT access tokens.
 * jose's remote key set, one per provider client, fetched through our fetch (TLS, timeouts,
 * retries, size cap), cached, and refetched on an unknown `kid` at most once per cooldown.
 */
import { createRemoteJWKSet, customFetch } from 'jose';
import { OfaError } from '../errors.js';
import type { ProviderClient } from './discovery.js';
import type { ProviderFetchInit } from './http.js';
import { serverMetadataOf } from './server-metadata.js';

export const JWKS_COOLDOWN_MS = 30_000;
export const JWKS_MAX_AGE_MS = 10 * 60_000;

type RemoteKeySet = ReturnType<typeof createRemoteJWKSet>;

const keySets = new WeakMap<ProviderClient, { readonly jwksUri: string; readonly keySet: RemoteKeySet }>();

/** The provider's key set as a jose key getter: one per provider client, refetched on an unknown kid at most once per cooldown. */
export function providerKeySet(client: ProviderClient): RemoteKeySet {
  const configuration = client.current();
  const jwksUri = configuration === undefined ? undefined : serverMetadataOf(configuration).jwks_uri;
  if (jwksUri === undefined) {
    throw new OfaError('OFA_PROVIDER_UNAVAILABLE', 'the identity provider has not been discovered yet');
  }
  const cached = keySets.get(client);
  if (cached !== undefined && cached.jwksUri === jwksUri) return cached.keySet;
  const keySet = createRemoteJWKSet(new URL(jwksUri), {
    [customFetch]: (url: string, init: ProviderFetchInit) => client.fetch(url, init, 'jwks'),
    // Our fetch applies per-attempt timeouts and retries; jose's own deadline must cover them.
    timeoutDuration: (configuration?.timeout ?? 30) * 1000,
    cooldownDuration: JWKS_COOLDOWN_MS,
    cacheMaxAge: JWKS_MAX_AGE_MS,
  });
  keySets.set(client, { jwksUri, keySet });
  return keySet;
}
