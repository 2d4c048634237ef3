/**
 * Hydra's side of the Hydra tests, whatever the proxy: the clients registered at Hydra for the
 * proxy's sites, and the service's middlewares pointing at Hydra. The proxy is started first (its
 * origin is in the redirect URIs), the service last, on the port the proxy was given.
 */
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair } from 'jose';
import { HYDRA_SCOPES, type RunningHydra } from '../support/hydra.js';
import type { MiddlewareOverrides } from '../support/middleware-config.js';
import { API_AUDIENCE, FORWARD_HEADERS, type HydraSite } from './hydra-journeys.js';

export const APP_MIDDLEWARE = 'app';
export const PKJWT_MIDDLEWARE = 'pkjwt';
const APP_CLIENT = { clientID: 'ofa-app', clientSecret: 'hydra-app-secret-0123456789abcdef' };
export const API_CALLER = { clientID: 'api-caller', clientSecret: 'hydra-api-caller-secret-0123456789' };

export interface HydraSites {
  readonly app: HydraSite;
  readonly pkjwt: HydraSite;
  /** The service's middlewares for both sites. */
  readonly middlewares: readonly MiddlewareOverrides[];
}

/**
 * Registers at Hydra: `ofa-app` (client_secret_basic, back-channel logout and post-logout
 * redirect at `appSite`), `ofa-pkjwt` (private_key_jwt, no secret), and `api-caller`
 * (client_credentials for the API audience).
 */
export async function registerHydraSites(hydra: RunningHydra, appSite: string, pkjwtSite: string): Promise<HydraSites> {
  await hydra.createClient({
    client_id: APP_CLIENT.clientID,
    client_secret: APP_CLIENT.clientSecret,
    token_endpoint_auth_method: 'client_secret_basic',
    redirect_uris: [`${appSite}/callback`],
    post_logout_redirect_uris: [`${appSite}/`],
    backchannel_logout_uri: `${appSite}/backchannel-logout`,
    backchannel_logout_session_required: true,
    audience: [API_AUDIENCE],
  });

  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  await hydra.createClient({
    client_id: 'ofa-pkjwt',
    token_endpoint_auth_method: 'private_key_jwt',
    token_endpoint_auth_signing_alg: 'RS256',
    // The service names its assertion's key by the RFC 7638 thumbprint.
    jwks: { keys: [{ ...publicJwk, kid: await calculateJwkThumbprint(publicJwk), alg: 'RS256', use: 'sig' }] },
    redirect_uris: [`${pkjwtSite}/callback`],
  });

  await hydra.createClient({
    client_id: API_CALLER.clientID,
    client_secret: API_CALLER.clientSecret,
    token_endpoint_auth_method: 'client_secret_basic',
    grant_types: ['client_credentials'],
    response_types: [],
    scope: 'read',
    audience: [API_AUDIENCE],
  });

  const common = { issuer: hydra.issuer, scopes: [...HYDRA_SCOPES], redirectUrl: '/callback', forwardHeaders: FORWARD_HEADERS };
  return {
    app: { site: appSite, middleware: APP_MIDDLEWARE, ...APP_CLIENT },
    pkjwt: { site: pkjwtSite, middleware: PKJWT_MIDDLEWARE, clientID: 'ofa-pkjwt' },
    middlewares: [
      {
        ...common,
        name: APP_MIDDLEWARE,
        ...APP_CLIENT,
        clientAuthMethod: 'client_secret_basic',
        // Tokens for the API too, so a refresh token names the API's audience like an access token does.
        authParams: { audience: API_AUDIENCE },
        logoutUrl: '/logout',
        postLogoutRedirectUrl: '/',
        backchannelLogoutUrl: '/backchannel-logout',
        backchannelLogoutSessionsRequired: true,
        bearerTokens: {
          audiences: [API_AUDIENCE],
          allowPlainJwt: false,
          // Hydra serves introspection on its admin API and does not advertise it in discovery.
          introspection: { cacheSeconds: 0, endpoint: `${hydra.adminUrl}/admin/oauth2/introspect` },
          passToApplication: false,
        },
      },
      {
        ...common,
        name: PKJWT_MIDDLEWARE,
        clientID: 'ofa-pkjwt',
        clientSecret: undefined,
        clientAuthMethod: 'private_key_jwt',
        // Hydra takes a client assertion only when its aud is the token endpoint's URL.
        clientAssertionAudience: 'tokenEndpoint',
        clientPrivateKey: await exportPKCS8(privateKey),
      },
    ],
  };
}
