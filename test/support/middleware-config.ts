/**
 * A complete, valid MiddlewareConfig with the spec's defaults, for tests that need one without
 * going through the config loader. Override what the test is about.
 */
import type { ClientConfig, MiddlewareConfig } from '../../src/config/types.js';

export type MiddlewareOverrides = Partial<Omit<MiddlewareConfig, 'clientConfig'>> & {
  readonly clientConfig?: Partial<Omit<ClientConfig, 'tls'>> & { readonly tls?: Partial<ClientConfig['tls']> };
};

export function makeClientConfig(overrides: MiddlewareOverrides['clientConfig'] = {}): ClientConfig {
  return {
    timeoutSeconds: overrides.timeoutSeconds ?? 5,
    maxRetries: overrides.maxRetries ?? 3,
    tls: {
      ca: undefined,
      cert: undefined,
      key: undefined,
      insecureSkipVerify: false,
      ...overrides.tls,
    },
  };
}

export function makeMiddlewareConfig(overrides: MiddlewareOverrides = {}): MiddlewareConfig {
  const name = overrides.name ?? 'test';
  const { clientConfig, ...rest } = overrides;
  return {
    name,
    namespace: undefined,
    issuer: 'http://127.0.0.1:1',
    redirectUrl: '/callback',
    clientID: 'forward-auth',
    clientSecret: 'test-client-secret-0123456789abcdef',
    clientAuthMethod: undefined,
    clientPrivateKey: undefined,
    clientAuthSigningAlg: undefined,
    pushedAuthorizationRequests: false,
    bearerTokens: undefined,
    claims: undefined,
    usernameClaim: undefined,
    forwardHeaders: {},
    pkce: false,
    discoveryParams: {},
    scopes: ['openid'],
    authParams: {},
    disableLogin: false,
    loginUrl: undefined,
    logoutUrl: undefined,
    postLoginRedirectUrl: undefined,
    postLogoutRedirectUrl: undefined,
    backchannelLogoutUrl: undefined,
    backchannelLogoutSessionsRequired: false,
    stateCookie: {
      name: `${name}-state`,
      path: '/',
      domain: undefined,
      sameSite: 'lax',
      httpOnly: true,
      secure: false,
      maxAge: 600,
    },
    session: {
      name: `${name}-session`,
      path: '/',
      domain: undefined,
      sameSite: 'lax',
      httpOnly: true,
      secure: false,
      expiry: 86400,
      sliding: true,
      refresh: true,
      maxLifetime: undefined,
      store: undefined,
    },
    csrf: undefined,
    ...rest,
    clientConfig: makeClientConfig(clientConfig),
  };
}
