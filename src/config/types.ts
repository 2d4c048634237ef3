/**
 * The validated, resolved configuration. Built once by `loadConfig`, deep-frozen, never mutated.
 * Secret references (env:, file:, urn:k8s:secret:) are already resolved to their values here.
 * Runtime objects (compiled claims, keys, provider clients) are built from it elsewhere.
 */
export type SameSite = 'none' | 'lax' | 'strict';

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

export interface ServerConfig {
  readonly listen: ListenAddress;
  /** Session encryption/signing secrets; the first seals, all open. Each ≥ 32 characters. */
  readonly secrets: readonly string[];
  /** CIDR blocks (or single addresses) whose X-Forwarded-* headers are believed. Default: none. */
  readonly trustedProxies: readonly string[];
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Serve /metrics on this address alone (not on `listen`). Default: unset, /metrics on `listen`. */
  readonly metricsListen?: ListenAddress | undefined;
  /** Processes serving `listen` together (node:cluster); 1 (the default) runs no cluster. */
  readonly workers?: number;
}

export interface TlsClientConfig {
  /** PEM bundle of CAs to trust, added to the system's. */
  readonly ca: string | undefined;
  /** PEM client certificate and key for mutual TLS. */
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly insecureSkipVerify: boolean;
}

export interface ClientConfig {
  readonly tls: TlsClientConfig;
  readonly timeoutSeconds: number;
  readonly maxRetries: number;
}

export interface CookieOptions {
  readonly name: string;
  readonly path: string;
  readonly domain: string | undefined;
  readonly sameSite: SameSite;
  readonly httpOnly: boolean;
  readonly secure: boolean;
}

export interface StateCookieConfig extends CookieOptions {
  /** Seconds; zero or negative expires the cookie at once. */
  readonly maxAge: number;
}

export interface RedisTlsConfig {
  readonly caBundle: string | undefined;
  readonly cert: string | undefined;
  readonly key: string | undefined;
  readonly insecureSkipVerify: boolean;
}

export interface RedisStoreConfig {
  /** host:port entries. */
  readonly endpoints: readonly string[];
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly database: number;
  readonly cluster: boolean;
  readonly tls: RedisTlsConfig | undefined;
  readonly sentinel:
    | {
        readonly masterSet: string;
        readonly username: string | undefined;
        readonly password: string | undefined;
      }
    | undefined;
}

export interface SessionConfig extends CookieOptions {
  /** Seconds, > 0. */
  readonly expiry: number;
  /**
   * Absolute lifetime in seconds (whole, > 0), counted from sign-in: past it the session ends even
   * while in use and sliding. Undefined = off (the default).
   */
  readonly maxLifetime: number | undefined;
  readonly sliding: boolean;
  readonly refresh: boolean;
  readonly store: { readonly redis: RedisStoreConfig } | undefined;
}

export interface CsrfConfig {
  readonly secure: boolean;
  readonly headerName: string;
}

/** One protected application: every option of the spec table, defaults applied. */
export interface MiddlewareConfig {
  readonly name: string;
  /** Namespace from a Traefik manifest's metadata, used for urn:k8s:secret references. */
  readonly namespace: string | undefined;
  readonly issuer: string;
  readonly redirectUrl: string;
  readonly clientID: string;
  /** Undefined only for a public client (allowed with pkce: true). */
  readonly clientSecret: string | undefined;
  /** The claims expression as written; validated at load, compiled at start. Undefined = allow all. */
  readonly claims: string | undefined;
  readonly usernameClaim: string | undefined;
  /** Header name → claim key. */
  readonly forwardHeaders: Readonly<Record<string, string>>;
  readonly clientConfig: ClientConfig;
  readonly pkce: boolean;
  readonly discoveryParams: Readonly<Record<string, string>>;
  readonly scopes: readonly string[];
  readonly authParams: Readonly<Record<string, string>>;
  readonly disableLogin: boolean;
  readonly loginUrl: string | undefined;
  readonly logoutUrl: string | undefined;
  readonly postLoginRedirectUrl: string | undefined;
  readonly postLogoutRedirectUrl: string | undefined;
  readonly backchannelLogoutUrl: string | undefined;
  readonly backchannelLogoutSessionsRequired: boolean;
  readonly stateCookie: StateCookieConfig;
  readonly session: SessionConfig;
  /** Undefined when CSRF protection is off. */
  readonly csrf: CsrfConfig | undefined;
}

export interface Config {
  readonly server: ServerConfig;
  readonly middlewares: Readonly<Record<string, MiddlewareConfig>>;
  /** Problems that do not stop the service (e.g. redis `database` with `cluster`). */
  readonly warnings: readonly string[];
}
