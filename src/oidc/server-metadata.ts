import type { Configuration, ServerMetadata } from 'openid-client';

const copies = new WeakMap<Configuration, Readonly<ServerMetadata>>();

/**
 * The provider's discovered metadata. openid-client's `serverMetadata()` returns a structured
 * clone on every call, which a login start or a bearer check would pay per request: one frozen
 * copy per configuration (a rediscovery builds a new configuration, hence a new copy).
 */
export function serverMetadataOf(configuration: Configuration): Readonly<ServerMetadata> {
  let metadata = copies.get(configuration);
  if (metadata === undefined) {
    metadata = Object.freeze(configuration.serverMetadata());
    copies.set(configuration, metadata);
  }
  return metadata;
}
