/**
 * What each proxy's login test runs: the stack (provider, service, echo application and the real
 * proxies) configured as that proxy's recipe and README ask. The tests themselves are in
 * login-through-proxies.test.ts, written once where the proxies agree.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEV_USERS } from '../../deploy/demo/dev-provider.js';
import { loadConfig } from '../../src/config/index.js';
import type { MiddlewareConfig } from '../../src/config/types.js';
import { TEST_CLIENT_ID, TEST_CLIENT_SECRET } from '../support/op.js';
import { findFreePort } from '../support/scripted-server.js';
import { PROXIED_MIDDLEWARE, type StackOptions } from '../support/stack.js';
import type { TestPki } from '../support/tls.js';
import type { CaddyBuild } from './caddy-process.js';
import type { DynamicAddition } from './traefik-dynamic.js';
import type { TraefikPeer } from './traefik-process.js';

export const MIDDLEWARE = PROXIED_MIDDLEWARE;
export const SESSION_COOKIE = `${MIDDLEWARE}-session`;
export const API_HEADERS = { Accept: 'application/json', 'X-Requested-With': 'XMLHttpRequest', 'Sec-Fetch-Mode': 'cors', 'Sec-Fetch-Dest': 'empty' };

/** nginx: lets in the admin group only, so bob signs in and is refused (its own nginx). */
export const ADMINS = 'admins';
/** nginx: its provider never answers, so a page load cannot start a login (its own nginx). */
export const DOWN = 'down';

const NGINX_FORWARD_HEADERS = { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups' };

/** Three nginx in front of one service: the site, the admins-only site and the site whose provider is down. */
export async function nginxLoginStack(): Promise<StackOptions> {
  const downIssuer = `http://127.0.0.1:${await findFreePort()}`;
  return {
    proxies: [{ kind: 'nginx' }, { kind: 'nginx', middleware: ADMINS }, { kind: 'nginx', middleware: DOWN }],
    service: {
      // The down provider never becomes ready: the test waits for the other two itself.
      awaitProviders: false,
      middlewares: ({ issuer }) => [
        { name: MIDDLEWARE, issuer, redirectUrl: '/callback', logoutUrl: '/logout', postLogoutRedirectUrl: '/', forwardHeaders: NGINX_FORWARD_HEADERS },
        { name: ADMINS, issuer, redirectUrl: '/callback', claims: 'Contains(`groups`, `admin`)', forwardHeaders: NGINX_FORWARD_HEADERS },
        { name: DOWN, issuer: downIssuer, redirectUrl: '/callback', clientConfig: { maxRetries: 0, timeoutSeconds: 1 } },
      ],
    },
  };
}

export const CADDY_SESSION_EXPIRY_SECONDS = 600;
/** `nickname` is a claim the provider never releases: its header must arrive empty. */
const CADDY_FORWARD_HEADERS = { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups', 'X-Forwarded-Nickname': 'nickname' };

export function caddyLoginStack(build: CaddyBuild): StackOptions {
  return {
    proxies: [{ kind: 'caddy', build, copyHeaders: Object.keys(CADDY_FORWARD_HEADERS) }],
    service: {
      middlewares: ({ issuer }) => [
        {
          name: MIDDLEWARE,
          issuer,
          redirectUrl: '/callback',
          logoutUrl: '/logout',
          postLogoutRedirectUrl: '/',
          forwardHeaders: CADDY_FORWARD_HEADERS,
          session: {
            name: SESSION_COOKIE,
            path: '/',
            domain: undefined,
            sameSite: 'lax',
            httpOnly: true,
            secure: false,
            expiry: CADDY_SESSION_EXPIRY_SECONDS,
            sliding: true,
            refresh: true,
            maxLifetime: undefined,
            store: undefined,
          },
        },
      ],
    },
  };
}

const SERVICE_CONFIG_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../traefik/oidc-forward-auth.yaml');
export const TRAEFIK_SESSION_EXPIRY_SECONDS = 600;
/** Longer than the share of the session after which it slides (a tenth), so the two tests part. */
export const TRAEFIK_ACCESS_TOKEN_TTL = 300;
/** carol signs in but is not in the dev group the claims rule asks for. */
const TRAEFIK_CLAIMS = 'Contains(`groups`, `dev`)';
const TRAEFIK_USERS = { ...DEV_USERS, carol: { password: 'carol', claims: { email: 'carol@example.com', email_verified: true, groups: ['sales'] } } };

export interface TraefikVersion {
  readonly peer: TraefikPeer;
  readonly line: RegExp;
  readonly additions: readonly DynamicAddition[];
  /** Whether a 2xx auth answer's session cookie reaches the browser (addAuthCookiesToResponse). */
  readonly passesCookiesOn2xx: boolean;
}

export const TRAEFIK_VERSIONS: readonly TraefikVersion[] = [
  { peer: 'traefik-v3', line: /^3\.6\./, additions: ['bearer-tokens', 'backchannel-forward-body'], passesCookiesOn2xx: true },
  { peer: 'traefik-v2', line: /^2\.11\./, additions: ['traefik-v2', 'bearer-tokens', 'backchannel-direct-route'], passesCookiesOn2xx: false },
];

/** The middleware of the shipped service configuration, as our loader reads it. */
async function shippedMiddleware(): Promise<MiddlewareConfig> {
  const result = await loadConfig(SERVICE_CONFIG_PATH, {
    env: { OFA_SESSION_SECRET: 's'.repeat(43) },
    readFile: async (path) => (path === SERVICE_CONFIG_PATH ? readFileSync(path, 'utf8') : 'client-secret-from-file'),
  });
  if (!result.ok) throw new Error(`traefik/oidc-forward-auth.yaml is invalid:\n${result.problems.join('\n')}`);
  const middleware = result.config.middlewares[MIDDLEWARE];
  if (middleware === undefined) throw new Error('traefik/oidc-forward-auth.yaml has no middleware app');
  return middleware;
}

/**
 * Traefik running the shipped dynamic.yml (with the additions its comments describe) in front of
 * the service configured from the shipped oidc-forward-auth.yaml; a second Traefik beside it keeps
 * its entry point's default underscoreHeadersStrategy.
 */
export async function traefikLoginStack(version: TraefikVersion, pki: TestPki): Promise<StackOptions> {
  const shipped = await shippedMiddleware();
  const certificate = { cert: pki.serverCert, key: pki.serverKey, ca: pki.ca };
  const traefik = { kind: version.peer, additions: version.additions, certificate } as const;
  return {
    proxies: [{ ...traefik, underscoreHeadersStrategy: 'delete' }, traefik],
    backchannelLogoutPath: '/backchannel-logout',
    provider: { users: TRAEFIK_USERS, jwtAccessTokens: true, rotateRefreshToken: true, ttl: { AccessToken: TRAEFIK_ACCESS_TOKEN_TTL, IdToken: 86_400 } },
    service: {
      middlewares: ({ issuer, op }) => [
        {
          ...shipped,
          issuer,
          clientID: TEST_CLIENT_ID,
          clientSecret: TEST_CLIENT_SECRET,
          postLogoutRedirectUrl: '/',
          claims: TRAEFIK_CLAIMS,
          backchannelLogoutUrl: '/backchannel-logout',
          backchannelLogoutSessionsRequired: true,
          bearerTokens: { audiences: [op.resource ?? ''], allowPlainJwt: false, introspection: undefined, passToApplication: false },
          session: { ...shipped.session, expiry: TRAEFIK_SESSION_EXPIRY_SECONDS },
        },
      ],
    },
  };
}
