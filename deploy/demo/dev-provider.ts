/**
 * A real OpenID provider (oidc-provider v9) for the demo and the tests: fixed users, a plain login
 * form a human can fill and a test can post, consent granted automatically, RP-initiated and
 * back-channel logout on, and optionally JWT access tokens (through resource indicators).
 *
 * Dev only: the login form takes the user name as password, the keys live in memory.
 *
 * Run alone (README, "The dev provider"): `node --import tsx deploy/demo/dev-provider.ts`, one
 * process that Ctrl-C stops (`npx tsx` would put a wrapper in front). Env: DEV_PROVIDER_PORT
 * (9090, as in the demo; 0 picks a free one), DEV_PROVIDER_HOST (127.0.0.1), DEV_PROVIDER_CLIENT_ID
 * (demo), DEV_PROVIDER_CLIENT_SECRET (demo-secret), DEV_PROVIDER_REDIRECT_URIS and
 * DEV_PROVIDER_POST_LOGOUT_REDIRECT_URIS (comma-separated), DEV_PROVIDER_JWT_ACCESS_TOKENS=1.
 * Run this way, a sign-out ends the provider session at once, without its "sign out?" prompt.
 */
import { randomBytes, X509Certificate } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { TLSSocket } from 'node:tls';
import { pathToFileURL } from 'node:url';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type Account, type IssuedToken, type OidcClient, type OidcContext } from 'oidc-provider';

export interface DevClient {
  readonly client_id: string;
  /** Absent for a public client (token_endpoint_auth_method none, PKCE required by the provider). */
  readonly client_secret?: string;
  readonly redirect_uris: readonly string[];
  readonly post_logout_redirect_uris?: readonly string[];
  readonly token_endpoint_auth_method?:
    | 'client_secret_basic'
    | 'client_secret_post'
    | 'client_secret_jwt'
    | 'private_key_jwt'
    | 'tls_client_auth'
    | 'self_signed_tls_client_auth'
    | 'none';
  /** Public keys for private_key_jwt; for self_signed_tls_client_auth, keys whose x5c holds the client certificate. */
  readonly jwks?: { readonly keys: readonly Readonly<Record<string, unknown>>[] };
  /** tls_client_auth: the certificate's subject DN, as node's X509Certificate prints it (e.g. "CN=client"). */
  readonly tls_client_auth_subject_dn?: string;
  readonly grant_types?: readonly string[];
  readonly backchannel_logout_uri?: string;
  readonly backchannel_logout_session_required?: boolean;
}

export interface DevUser {
  /** Typed into the login form as user name and as password. */
  readonly password: string;
  /** Claims besides `sub` (the user's key); released by scope, see DEFAULT_CLAIMS_BY_SCOPE. */
  readonly claims: Readonly<Record<string, unknown>>;
}

export const DEV_USERS: Readonly<Record<string, DevUser>> = Object.freeze({
  alice: {
    password: 'alice',
    claims: {
      email: 'alice@example.com',
      email_verified: true,
      name: 'Alice Admin',
      preferred_username: 'alice',
      groups: ['admin', 'dev'],
    },
  },
  bob: {
    password: 'bob',
    claims: {
      email: 'bob@example.com',
      email_verified: true,
      name: 'Bob Builder',
      preferred_username: 'bob',
      groups: ['dev'],
    },
  },
});

/**
 * Like Keycloak's default client scopes, plain `openid` already releases the profile, email and
 * groups claims, since the forward-auth service asks for `openid` alone by default.
 */
export const DEFAULT_CLAIMS_BY_SCOPE: Readonly<Record<string, readonly string[]>> = {
  openid: ['sub', 'email', 'email_verified', 'name', 'preferred_username', 'groups'],
  email: ['email', 'email_verified'],
  profile: ['name', 'preferred_username'],
  groups: ['groups'],
};

export interface DevProviderOptions {
  /** 0 (default) picks a free port. */
  readonly port?: number;
  readonly host?: string;
  /** Path part of the issuer, e.g. "/realms/demo" (Keycloak-style). Default: none. */
  readonly issuerPath?: string;
  readonly clients: readonly DevClient[];
  readonly https?: {
    readonly key: string;
    readonly cert: string;
    readonly ca?: string;
    readonly requestCert?: boolean;
    /** Default: requestCert. false asks for a certificate without requiring one signed by `ca` (mTLS client auth). */
    readonly rejectUnauthorized?: boolean;
  };
  /** RFC 9126 pushed authorization requests; `required` sets require_pushed_authorization_requests. Default off. */
  readonly pushedAuthorizationRequests?: { readonly required: boolean };
  /**
   * RFC 8705 tls_client_auth and self_signed_tls_client_auth (serve over `https` with requestCert and
   * rejectUnauthorized false, so a browser without a certificate still gets in). Default off.
   */
  readonly mutualTlsClientAuth?: boolean;
  /** Seconds. */
  readonly ttl?: { readonly AccessToken?: number; readonly IdToken?: number; readonly RefreshToken?: number };
  /** true: every refresh returns a new refresh token and burns the old one. Default: provider's policy. */
  readonly rotateRefreshToken?: boolean;
  /**
   * Issue access tokens as JWTs for this resource (audience) instead of opaque ones, with the user's
   * claims in them. `true` uses `${issuer}/api`.
   */
  readonly jwtAccessTokens?: boolean | { readonly resource: string };
  readonly users?: Readonly<Record<string, DevUser>>;
  /** Which claims each scope releases (into the ID token and userinfo). */
  readonly claimsByScope?: Readonly<Record<string, readonly string[]>>;
  /** Provider-side failures; default prints them to stderr. */
  readonly onServerError?: (error: unknown) => void;
  /** RP-initiated logout (an end_session_endpoint in discovery). Default true. */
  readonly rpInitiatedLogout?: boolean;
  /**
   * End the provider session on RP-initiated logout without asking "sign out?" (the page submits
   * the confirmation itself). Without it, a user who leaves that page is still signed in at the
   * provider, and the next visit to the application signs her straight back in. Default false.
   */
  readonly logoutWithoutPrompt?: boolean;
  /**
   * Private JWKs (with `kid` and `alg`) to sign with, instead of a fresh RS256 key: a test that
   * must forge tokens "from the provider" (a logout token naming only `sub`, say) holds the key.
   */
  readonly signingKeys?: readonly Readonly<Record<string, unknown>>[];
}

export interface DevProvider {
  readonly issuer: string;
  /** Origin the server listens on. */
  readonly url: string;
  /** The access-token audience when jwtAccessTokens is on. */
  readonly resource: string | undefined;
  readonly provider: Provider;
  readonly server: Server;
  stop(): Promise<void>;
}

const INTERACTION_PATH = '/interaction/';

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function loginPage(action: string, users: readonly string[], message: string | undefined): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Dev provider: sign in</title></head>
<body>
<h1>Sign in to the dev provider</h1>
${message === undefined ? '' : `<p role="alert">${escapeHtml(message)}</p>`}
<form method="post" action="${escapeHtml(action)}">
  <label>User <input name="login" autofocus autocomplete="username"></label>
  <label>Password <input name="password" type="password" autocomplete="current-password"></label>
  <button type="submit">Sign in</button>
</form>
<p>Users: ${users.map(escapeHtml).join(', ')} (the password is the user name).</p>
<p><a href="${escapeHtml(action.replace(/\/login$/, '/abort'))}">Cancel</a></p>
</body></html>`;
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    const buffer = chunk as Buffer;
    size += buffer.length;
    if (size > 64 * 1024) throw new Error('form too large');
    chunks.push(buffer);
  }
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function toProviderClient(client: DevClient): Record<string, unknown> {
  const isPublic = client.client_secret === undefined;
  return {
    client_id: client.client_id,
    ...(isPublic ? {} : { client_secret: client.client_secret }),
    redirect_uris: [...client.redirect_uris],
    post_logout_redirect_uris: [...(client.post_logout_redirect_uris ?? [])],
    token_endpoint_auth_method: client.token_endpoint_auth_method ?? (isPublic ? 'none' : 'client_secret_basic'),
    grant_types: [...(client.grant_types ?? ['authorization_code', 'refresh_token'])],
    response_types: ['code'],
    ...(client.jwks === undefined ? {} : { jwks: { keys: client.jwks.keys.map((key) => ({ ...key })) } }),
    ...(client.tls_client_auth_subject_dn === undefined ? {} : { tls_client_auth_subject_dn: client.tls_client_auth_subject_dn }),
    ...(client.backchannel_logout_uri === undefined
      ? {}
      : {
          backchannel_logout_uri: client.backchannel_logout_uri,
          backchannel_logout_session_required: client.backchannel_logout_session_required ?? false,
        }),
  };
}

type Payload = Record<string, unknown>;

/**
 * oidc-provider's adapter contract over one Map per provider. Its own memory adapter is shared by
 * every provider in the process and evicts past 1000 entries; expiry is enforced by the provider's
 * models anyway, and this store dies with the provider.
 */
function createMapAdapter(): new (model: string) => Record<string, (...args: never[]) => Promise<unknown>> {
  const store = new Map<string, Payload>();
  const byUid = new Map<string, string>();
  const byUserCode = new Map<string, string>();
  const byGrant = new Map<string, Set<string>>();
  return class MapAdapter {
    readonly model: string;
    constructor(model: string) {
      this.model = model;
    }
    [name: string]: unknown;
    key(id: string): string {
      return `${this.model}:${id}`;
    }
    async upsert(id: string, payload: Payload): Promise<void> {
      const key = this.key(id);
      store.set(key, payload);
      if (typeof payload.uid === 'string') byUid.set(payload.uid, key);
      if (typeof payload.userCode === 'string') byUserCode.set(payload.userCode, key);
      if (typeof payload.grantId === 'string') {
        const members = byGrant.get(payload.grantId) ?? new Set<string>();
        members.add(key);
        byGrant.set(payload.grantId, members);
      }
    }
    async find(id: string): Promise<Payload | undefined> {
      return store.get(this.key(id));
    }
    async findByUid(uid: string): Promise<Payload | undefined> {
      const key = byUid.get(uid);
      return key === undefined ? undefined : store.get(key);
    }
    async findByUserCode(userCode: string): Promise<Payload | undefined> {
      const key = byUserCode.get(userCode);
      return key === undefined ? undefined : store.get(key);
    }
    async consume(id: string): Promise<void> {
      const payload = store.get(this.key(id));
      if (payload !== undefined) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string): Promise<void> {
      store.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string): Promise<void> {
      for (const key of byGrant.get(grantId) ?? []) store.delete(key);
      byGrant.delete(grantId);
    }
  } as unknown as new (model: string) => Record<string, (...args: never[]) => Promise<unknown>>;
}

async function signingKeys(): Promise<{ keys: Record<string, unknown>[] }> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const jwk = await exportJWK(privateKey);
  return { keys: [{ ...jwk, kid: `dev-${randomBytes(6).toString('hex')}`, alg: 'RS256', use: 'sig' }] };
}

/** The client certificate of the TLS connection a request came on, if any. */
function peerCertificate(ctx: OidcContext): X509Certificate | undefined {
  const socket = (ctx as unknown as { socket?: unknown }).socket;
  if (!(socket instanceof TLSSocket)) return undefined;
  const raw = socket.getPeerCertificate().raw as Buffer | undefined;
  return raw === undefined || raw.length === 0 ? undefined : new X509Certificate(raw);
}

function mutualTlsFeature(): Record<string, unknown> {
  return {
    enabled: true,
    tlsClientAuth: true,
    selfSignedTlsClientAuth: true,
    getCertificate: (ctx: OidcContext) => peerCertificate(ctx),
    // tls_client_auth trusts the server's `ca`: node verified the chain, the handshake says so.
    certificateAuthorized: (ctx: OidcContext) => (ctx as unknown as { socket?: unknown }).socket instanceof TLSSocket && ((ctx as unknown as { socket: TLSSocket }).socket.authorized),
    certificateSubjectMatches: (ctx: OidcContext, property: string, expected: string) =>
      property === 'tls_client_auth_subject_dn' && peerCertificate(ctx)?.subject === expected,
  };
}

export async function startDevProvider(options: DevProviderOptions): Promise<DevProvider> {
  const host = options.host ?? '127.0.0.1';
  const users = options.users ?? DEV_USERS;
  const prefix = (options.issuerPath ?? '').replace(/\/+$/, '');
  const scheme = options.https === undefined ? 'http' : 'https';

  const server =
    options.https === undefined
      ? createHttpServer()
      : createHttpsServer({
          key: options.https.key,
          cert: options.https.cert,
          ...(options.https.ca === undefined ? {} : { ca: options.https.ca }),
          requestCert: options.https.requestCert ?? false,
          rejectUnauthorized: options.https.rejectUnauthorized ?? options.https.requestCert ?? false,
        });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const hostForUrl = host.includes(':') ? `[${host}]` : host;
  const url = `${scheme}://${hostForUrl}:${port}`;
  const issuer = `${url}${prefix}`;
  const resource =
    options.jwtAccessTokens === undefined || options.jwtAccessTokens === false
      ? undefined
      : options.jwtAccessTokens === true
        ? `${issuer}/api`
        : options.jwtAccessTokens.resource;

  function findUser(sub: string): DevUser | undefined {
    return Object.hasOwn(users, sub) ? users[sub] : undefined;
  }

  const ttl = options.ttl ?? {};
  const configuration: Record<string, unknown> = {
    adapter: createMapAdapter(),
    clients: options.clients.map(toProviderClient),
    jwks: options.signingKeys === undefined ? await signingKeys() : { keys: options.signingKeys.map((key) => ({ ...key })) },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
    claims: options.claimsByScope ?? DEFAULT_CLAIMS_BY_SCOPE,
    ...(options.mutualTlsClientAuth === true
      ? {
          clientAuthMethods: [
            'client_secret_basic',
            'client_secret_jwt',
            'client_secret_post',
            'private_key_jwt',
            'none',
            'tls_client_auth',
            'self_signed_tls_client_auth',
          ],
        }
      : {}),
    // Scope claims go into the ID token too, as Keycloak and most providers do; the claims
    // language reads the ID token by default.
    conformIdTokenClaims: false,
    async findAccount(_ctx: OidcContext, sub: string): Promise<Account | undefined> {
      const user = findUser(sub);
      if (user === undefined) return undefined;
      return { accountId: sub, claims: () => ({ ...user.claims, sub }) };
    },
    // Refresh tokens whenever the client may use them, without offline_access (which oidc-provider
    // only honours with prompt=consent): the forward-auth service asks for plain `openid`.
    issueRefreshToken: (_ctx: OidcContext, client: OidcClient) => client.grantTypeAllowed('refresh_token'),
    ...(options.rotateRefreshToken === undefined ? {} : { rotateRefreshToken: () => options.rotateRefreshToken }),
    ttl: {
      AccessToken: ttl.AccessToken ?? 3600,
      IdToken: ttl.IdToken ?? 3600,
      RefreshToken: ttl.RefreshToken ?? 14 * 24 * 3600,
      AuthorizationCode: 60,
      Interaction: 3600,
      Session: 14 * 24 * 3600,
      Grant: 14 * 24 * 3600,
    },
    // oidc-provider refuses to connect to loopback and private addresses (SSRF protection) for
    // its own outgoing requests, back-channel logout tokens included; the dev provider's clients
    // run on this machine, so its requests go out without that check.
    fetch: (url: URL | string, init: RequestInit & { dispatcher?: unknown }) => {
      const { dispatcher: _ssrfGuard, ...rest } = init;
      return globalThis.fetch(url, rest);
    },
    interactions: { url: (_ctx: OidcContext, interaction: { uid: string }) => `${prefix}${INTERACTION_PATH}${interaction.uid}` },
    extraTokenClaims: (_ctx: OidcContext, token: IssuedToken) => {
      if (token.kind !== 'AccessToken' || token.accountId === undefined) return undefined;
      const user = findUser(token.accountId);
      return user === undefined ? undefined : { ...user.claims };
    },
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: options.rpInitiatedLogout ?? true,
        ...(options.logoutWithoutPrompt === true ? { logoutSource: confirmLogoutAtOnce } : {}),
      },
      backchannelLogout: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      ...(options.pushedAuthorizationRequests === undefined
        ? {}
        : { pushedAuthorizationRequests: { enabled: true, requirePushedAuthorizationRequests: options.pushedAuthorizationRequests.required } }),
      ...(options.mutualTlsClientAuth === true ? { mTLS: mutualTlsFeature() } : {}),
      resourceIndicators: {
        enabled: true,
        defaultResource: (_ctx: OidcContext, _client: OidcClient, oneOf?: string | string[]) => oneOf ?? resource,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: OidcContext, indicator: string) => {
          if (indicator !== resource) throw new Error(`unknown resource ${indicator}`);
          return {
            scope: 'openid profile email groups',
            audience: resource,
            accessTokenTTL: ttl.AccessToken ?? 3600,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: 'RS256' } },
          };
        },
      },
    },
  };

  const provider = new Provider(issuer, configuration);
  const onServerError = options.onServerError ?? ((error: unknown) => console.error('dev provider error:', error));
  provider.on('server_error', (_ctx, error) => onServerError(error));

  async function handleInteraction(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    const [uid = '', action = ''] = path.slice(INTERACTION_PATH.length).split('/');
    const self = `${prefix}${INTERACTION_PATH}${uid}`;
    const details = await provider.interactionDetails(req, res);
    if (details.uid !== uid) throw new Error('interaction mismatch');

    if (action === 'abort') {
      await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'the user cancelled' }, { mergeWithLastSubmission: false });
      return;
    }
    if (action === 'login' && req.method === 'POST') {
      const form = await readForm(req);
      const login = form.get('login') ?? '';
      const user = findUser(login);
      if (user === undefined || form.get('password') !== user.password) {
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
        res.end(loginPage(`${self}/login`, Object.keys(users), 'Unknown user or wrong password.'));
        return;
      }
      await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
      return;
    }
    if (details.prompt.name === 'consent') {
      // Consent is automatic: grant what the prompt says is missing, like a first-party app.
      const grant =
        details.grantId === undefined
          ? new provider.Grant({ accountId: details.session?.accountId ?? '', clientId: String(details.params.client_id) })
          : await provider.Grant.find(details.grantId);
      if (grant === undefined) throw new Error('grant not found');
      const missing = details.prompt.details;
      if (Array.isArray(missing.missingOIDCScope)) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (Array.isArray(missing.missingOIDCClaims)) grant.addOIDCClaims(missing.missingOIDCClaims as string[]);
      const resourceScopes = missing.missingResourceScopes;
      if (typeof resourceScopes === 'object' && resourceScopes !== null) {
        for (const [indicator, scopes] of Object.entries(resourceScopes)) {
          if (Array.isArray(scopes)) grant.addResourceScope(indicator, scopes.join(' '));
        }
      }
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end(loginPage(`${self}/login`, Object.keys(users), undefined));
  }

  const callback = provider.callback();
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (path.startsWith(`${prefix}${INTERACTION_PATH}`)) {
      handleInteraction(req, res, path.slice(prefix.length)).catch((error: unknown) => {
        onServerError(error);
        if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' });
        res.end('interaction failed');
      });
      return;
    }
    if (prefix !== '') {
      if (path !== prefix && !path.startsWith(`${prefix}/`)) {
        res.writeHead(404).end();
        return;
      }
      // How oidc-provider learns its mount path (see its oidc_context.js).
      (req as IncomingMessage & { originalUrl?: string }).originalUrl = req.url;
      req.url = (req.url ?? '/').slice(prefix.length) || '/';
    }
    callback(req, res);
  });

  return {
    issuer,
    url,
    resource,
    provider,
    server,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}

/**
 * oidc-provider's logout page, answered "yes" by itself: the form it hands us (with its xsrf
 * token) gets the `logout=yes` its "Yes, sign me out" button would send, and is submitted on load.
 * Without JavaScript the button is still there.
 */
async function confirmLogoutAtOnce(ctx: { type: string; body: unknown }, form: string): Promise<void> {
  ctx.type = 'html';
  ctx.body = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Signing out</title></head>
<body><p>Signing you out…</p>${form}
<input type="hidden" form="op.logoutForm" name="logout" value="yes">
<noscript><button type="submit" form="op.logoutForm">Sign out</button></noscript>
<script>document.getElementById('op.logoutForm').submit();</script>
</body></html>`;
}

async function main(): Promise<void> {
  const env = process.env;
  const redirectUris = (env.DEV_PROVIDER_REDIRECT_URIS ?? 'http://127.0.0.1:8080/callback').split(',').filter((u) => u !== '');
  const dev = await startDevProvider({
    port: Number(env.DEV_PROVIDER_PORT ?? 9090),
    host: env.DEV_PROVIDER_HOST ?? '127.0.0.1',
    clients: [
      {
        client_id: env.DEV_PROVIDER_CLIENT_ID ?? 'demo',
        client_secret: env.DEV_PROVIDER_CLIENT_SECRET ?? 'demo-secret',
        redirect_uris: redirectUris,
        post_logout_redirect_uris: (env.DEV_PROVIDER_POST_LOGOUT_REDIRECT_URIS ?? '').split(',').filter((u) => u !== ''),
      },
    ],
    jwtAccessTokens: env.DEV_PROVIDER_JWT_ACCESS_TOKENS === '1',
    logoutWithoutPrompt: true,
  });
  const stop = (): void => {
    void dev.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  // Only once the signals are ours: a write to a pipe is synchronous, and whoever reads this line
  // may send Ctrl-C before the next statement runs.
  process.stdout.write(`dev provider: issuer ${dev.issuer} (users: ${Object.keys(DEV_USERS).join(', ')})\n`);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
