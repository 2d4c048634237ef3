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
  /** Seconds a client has to send a whole request, headers and body (default 10); then 408 and the connection closes. */
  readonly requestTimeoutSeconds?: number;
  /** Connections each process keeps open at most (default 4096); more are closed as they arrive. */
  readonly maxConnections?: number;
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
  /**
   * The session codec version written (every version is read): 1 while a fleet still has
   * replicas of a release that reads only 1, else 2. The loader always sets it; absent means 2.
   */
  readonly codecVersion?: 1 | 2;
}

export interface CsrfConfig {
  readonly secure: boolean;
  readonly headerName: string;
}

export type ClientAssertionAudience = 'issuer' | 'tokenEndpoint';

/** Token-endpoint client authentication methods (RFC 8414 names). */
export type ClientAuthMethod =
  | 'client_secret_basic'
  | 'client_secret_post'
  | 'client_secret_jwt'
  | 'private_key_jwt'
  | 'tls_client_auth'
  | 'self_signed_tls_client_auth'
  | 'none';

export interface IntrospectionConfig {
  /** Seconds an introspection answer is reused (never past the token's exp); 0 = every request asks. */
  readonly cacheSeconds: number;
  /** Clients whose tokens pass when the introspection answer names no `aud`; without one listed, such tokens are refused. */
  readonly clientsWithoutAudience?: readonly string[];
  /** Where to introspect when discovery names no introspection_endpoint (Ory Hydra serves it on its admin API only). */
  readonly endpoint?: string | undefined;
}

/** Requests carrying `Authorization: Bearer …` are checked as API calls instead of browser sessions. */
export interface BearerTokensConfig {
  /** A JWT access token's `aud` (or an introspection answer's, when present) must name one of these. */
  readonly audiences: readonly string[];
  /** Accept JWT access tokens typed `JWT` or untyped as well as RFC 9068 `at+jwt`. */
  readonly allowPlainJwt: boolean;
  /** Undefined: opaque (non-JWT) tokens are refused. */
  readonly introspection: IntrospectionConfig | undefined;
  /** Leave the Authorization header on the request to the application. */
  readonly passToApplication: boolean;
}

/** The session's tokens handed to the application on each 2xx, in headers the operator names. */
export interface ApplicationTokensConfig {
  /** `Authorization` carries `Bearer <token>`; any other header the bare token. Undefined: not passed. */
  readonly accessTokenHeader: string | undefined;
  readonly idTokenHeader: string | undefined;
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
  /** Undefined: chosen from what the provider advertises and which credentials are configured. */
  readonly clientAuthMethod: ClientAuthMethod | undefined;
  /** PEM (PKCS#8, PKCS#1, SEC1) or private JWK for private_key_jwt; resolved from its reference. */
  readonly clientPrivateKey: string | undefined;
  /** JWS alg of the client assertion; undefined: from the key type (RSA RS256, EC by curve, Ed25519) or HS256. */
  readonly clientAuthSigningAlg: string | undefined;
  /**
   * The `aud` of private_key_jwt and client_secret_jwt assertions: the issuer (undefined, as
   * openid-client and RFC 7523bis) or the token endpoint's URL (OIDC Core §9; Ory Hydra takes only that).
   */
  readonly clientAssertionAudience?: ClientAssertionAudience | undefined;
  /** Send the authorization request by PAR (RFC 9126); also done when the provider requires it. */
  readonly pushedAuthorizationRequests: boolean;
  /** Undefined when bearer tokens are not accepted (the default). */
  readonly bearerTokens: BearerTokensConfig | undefined;
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
  /** Undefined (the default): no token reaches the application. */
  readonly applicationTokens?: ApplicationTokensConfig | undefined;
  /** Where a signed-in browser reads its forwarded identity as JSON; undefined: no such URL. */
  readonly userinfoUrl?: string | undefined;
  /** Let a CORS preflight (OPTIONS with Origin and Access-Control-Request-Method) through without a session. Absent: false. */
  readonly allowCorsPreflight?: boolean;
}

export interface Config {
  readonly server: ServerConfig;
  readonly middlewares: Readonly<Record<string, MiddlewareConfig>>;
  /** Problems that do not stop the service (e.g. redis `database` with `cluster`). */
  readonly warnings: readonly string[];
}
