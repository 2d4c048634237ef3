import type { Config, MiddlewareConfig, RedisStoreConfig } from './types.js';

/**
 * The configuration as it may be shown (by `check`, in logs): confidential values become "***",
 * and values that came from a reference say so (`env:FOO → ***`), so an operator can see where
 * each one was read without seeing it. Identifiers (clientID, usernames) and certificates are
 * not confidential and are shown.
 */
const referencesByConfig = new WeakMap<Config, ReadonlyMap<string, string>>();

/** Called by the loader: which option paths were read through which reference. */
export function rememberReferences(config: Config, references: ReadonlyMap<string, string>): void {
  referencesByConfig.set(config, references);
}

export interface MaskedConfig {
  readonly server: unknown;
  readonly middlewares: Readonly<Record<string, unknown>>;
  readonly warnings: readonly string[];
}

export function maskConfig(config: Config): MaskedConfig {
  const references = referencesByConfig.get(config) ?? new Map<string, string>();
  const secret = (path: string, value: string | undefined): string | undefined => {
    if (value === undefined) return undefined;
    const reference = references.get(path);
    return reference === undefined ? '***' : `${reference} → ***`;
  };
  const shown = (path: string, value: string | undefined): string | undefined => {
    if (value === undefined) return undefined;
    const reference = references.get(path);
    return reference === undefined ? value : `${reference} → ${value}`;
  };

  const maskMiddleware = (middleware: MiddlewareConfig): unknown => {
    const path = `middlewares.${middleware.name}`;
    const tlsPath = `${path}.clientConfig.tls`;
    const { tls } = middleware.clientConfig;
    return {
      ...middleware,
      clientID: shown(`${path}.clientID`, middleware.clientID),
      clientSecret: secret(`${path}.clientSecret`, middleware.clientSecret),
      clientPrivateKey: secret(`${path}.clientPrivateKey`, middleware.clientPrivateKey),
      clientConfig: {
        ...middleware.clientConfig,
        tls: {
          ...tls,
          ca: shown(`${tlsPath}.ca`, tls.ca),
          cert: shown(`${tlsPath}.cert`, tls.cert),
          key: secret(`${tlsPath}.key`, tls.key),
        },
      },
      session: {
        ...middleware.session,
        store:
          middleware.session.store === undefined
            ? undefined
            : { redis: maskRedis(middleware.session.store.redis, `${path}.session.store.redis`) },
      },
    };
  };

  const maskRedis = (redis: RedisStoreConfig, path: string): unknown => ({
    ...redis,
    username: shown(`${path}.username`, redis.username),
    password: secret(`${path}.password`, redis.password),
    tls:
      redis.tls === undefined
        ? undefined
        : {
            ...redis.tls,
            caBundle: shown(`${path}.tls.caBundle`, redis.tls.caBundle),
            cert: shown(`${path}.tls.cert`, redis.tls.cert),
            key: secret(`${path}.tls.key`, redis.tls.key),
          },
    sentinel:
      redis.sentinel === undefined
        ? undefined
        : {
            ...redis.sentinel,
            username: shown(`${path}.sentinel.username`, redis.sentinel.username),
            password: secret(`${path}.sentinel.password`, redis.sentinel.password),
          },
  });

  return {
    server: {
      ...config.server,
      secrets: config.server.secrets.map((value, index) => secret(`server.secrets[${index}]`, value)),
    },
    middlewares: Object.fromEntries(
      Object.entries(config.middlewares).map(([name, middleware]) => [name, maskMiddleware(middleware)]),
    ),
    warnings: [...config.warnings],
  };
}
