/**
 * A middleware runtime for route decision tables, built without a socket: the provider's metadata
 * given, not discovered; its keys local; a recording store; the clock fixed. Tokens signed here
 * verify against `providerKeys`, and `tokenResponses` answers openid-client's token request in
 * process, so a callback can run end to end without HTTP.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type JWK, type JWTPayload } from 'jose';
import type { ServerMetadata } from 'openid-client';
import type { ServerConfig } from '../../../src/config/types.js';
import type { ProxyKind } from '../../../src/forward/answer.js';
import type { ForwardAuthRequest } from '../../../src/forward/forward-request.js';
import type { OriginalRequest } from '../../../src/forward/original-request.js';
import { createMiddlewareRuntime, type MiddlewareRuntime } from '../../../src/forward/runtime.js';
import type { SessionEvent } from '../../../src/observability/observers.js';
import { buildConfiguration, type ProviderClient } from '../../../src/oidc/discovery.js';
import type { ProviderFetch } from '../../../src/oidc/http.js';
import { parseCookieHeader, type CookieJar } from '../../../src/session/cookies.js';
import { createSealer } from '../../../src/session/seal.js';
import { sealLoginFlow, type LoginFlow } from '../../../src/session/state-cookie.js';
import type { Session } from '../../../src/session/session.js';
import type { LoadedSession, SessionStore } from '../../../src/session/store.js';
import { createTestLogger, type TestLogger } from '../../support/log.js';
import { makeMiddlewareConfig, type MiddlewareOverrides } from '../../support/middleware-config.js';

export const ISSUER = 'https://idp.example';
export const NOW_SECONDS = 1_700_000_000;
export const SECRET = 'route-tests-secret-route-tests-secret-01';

/** What the fake store was asked to do, in order. */
export type StoreCall =
  | { readonly op: 'create'; readonly session: Session }
  | { readonly op: 'revoke'; readonly sessionId: string }
  | { readonly op: 'revokeProviderSession'; readonly issuer: string; readonly sid: string }
  | { readonly op: 'revokeSubject'; readonly issuer: string; readonly subject: string; readonly cutoffSeconds: number }
  | { readonly op: 'recordLogoutToken'; readonly issuer: string; readonly jti: string };

export interface RecordingStore extends SessionStore {
  readonly calls: StoreCall[];
  available: boolean;
  /** Sessions `load` opens, by cookie value. */
  readonly sessions: Map<string, Session>;
}

/** A store that keeps sessions in a map and remembers every change it was asked for. */
export function createRecordingStore(): RecordingStore {
  const calls: StoreCall[] = [];
  const sessions = new Map<string, Session>();
  const jtis = new Set<string>();
  const store: RecordingStore = {
    calls,
    sessions,
    available: true,
    serverSide: false,
    isAvailable: () => store.available,
    async load(value) {
      const session = sessions.get(value);
      return session === undefined ? undefined : { session, stale: false };
    },
    async create(session) {
      calls.push({ op: 'create', session });
      sessions.set(`cookie-${session.id}`, session);
      return `cookie-${session.id}`;
    },
    async save() {
      return undefined;
    },
    async revoke(session) {
      calls.push({ op: 'revoke', sessionId: session.id });
    },
    async revokeProviderSession(issuer, sid) {
      calls.push({ op: 'revokeProviderSession', issuer, sid });
    },
    async revokeSubject(issuer, subject, cutoffSeconds) {
      calls.push({ op: 'revokeSubject', issuer, subject, cutoffSeconds });
    },
    async refresh() {
      return { ok: false, code: 'REFRESH_DISABLED', transient: false };
    },
    async recordLogoutToken(issuer, jti) {
      calls.push({ op: 'recordLogoutToken', issuer, jti });
      const key = `${issuer}\0${jti}`;
      if (jtis.has(key)) return false;
      jtis.add(key);
      return true;
    },
    async close() {},
  };
  return store;
}

/** The provider's keys: one signing key pair, its public half served to the runtime. */
export interface ProviderKeys {
  readonly sign: (claims: JWTPayload, typ?: string) => Promise<string>;
  readonly jwks: { keys: JWK[] };
}

export async function createProviderKeys(): Promise<ProviderKeys> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  return {
    jwks: { keys: [jwk] },
    sign: (claims, typ = 'JWT') => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid: 'k1', typ }).sign(privateKey),
  };
}

export interface RouteRuntimeOptions {
  readonly middleware?: MiddlewareOverrides;
  /** Merged over the default metadata; `discovered: false` leaves the provider undiscovered. */
  readonly metadata?: Partial<ServerMetadata>;
  readonly discovered?: boolean;
  readonly keys?: ProviderKeys;
  /** Answers openid-client's calls to the provider (the token endpoint); none by default. */
  readonly providerFetch?: (url: string, init: RequestInit | undefined) => Promise<Response>;
  readonly callbackDeadlineMs?: number;
}

export interface RouteRuntime {
  readonly rt: MiddlewareRuntime;
  readonly store: RecordingStore;
  readonly events: SessionEvent[];
  readonly logs: TestLogger;
}

export const DEFAULT_METADATA: ServerMetadata = {
  issuer: ISSUER,
  authorization_endpoint: `${ISSUER}/authorize`,
  token_endpoint: `${ISSUER}/token`,
  jwks_uri: `${ISSUER}/jwks`,
  id_token_signing_alg_values_supported: ['ES256'],
};

export async function createRouteRuntime(options: RouteRuntimeOptions = {}): Promise<RouteRuntime> {
  const middleware = makeMiddlewareConfig({ issuer: ISSUER, ...options.middleware });
  const keys = options.keys ?? (await createProviderKeys());
  const logs = createTestLogger();
  const store = createRecordingStore();
  const events: SessionEvent[] = [];
  const fetch = Object.assign(
    async (url: string, init?: RequestInit): Promise<Response> => {
      if (options.providerFetch === undefined) throw new Error(`no provider call expected: ${url}`);
      return options.providerFetch(url, init);
    },
    { close: async () => undefined },
  ) as unknown as ProviderFetch;
  const configuration =
    options.discovered === false ? undefined : buildConfiguration(middleware, { ...DEFAULT_METADATA, ...options.metadata }, fetch);
  const provider: ProviderClient = {
    issuer: ISSUER,
    fetch,
    state: () => ({ status: configuration === undefined ? 'pending' : 'ready', since: 0 }),
    current: () => configuration,
    ready: async () => undefined,
    discover: async () => ({ status: configuration === undefined ? 'pending' : 'ready', since: 0 }),
    stop: () => undefined,
  };
  const localKeys = createLocalJWKSet(keys.jwks);
  const server: ServerConfig = {
    listen: { host: '127.0.0.1', port: 0 } as ServerConfig['listen'],
    secrets: [SECRET],
    trustedProxies: [],
    logLevel: 'silent',
  };
  const rt = createMiddlewareRuntime(middleware, {
    server,
    log: logs.log,
    provider,
    providerKeys: () => localKeys,
    sealer: createSealer([SECRET]),
    store,
    ...(options.callbackDeadlineMs === undefined ? {} : { callbackDeadlineMs: options.callbackDeadlineMs }),
    telemetry: { sessionEvent: (event) => events.push(event), refreshFailed: () => undefined },
  });
  return { rt, store, events, logs };
}

export interface RequestFacts {
  readonly method?: string;
  readonly headers?: IncomingHttpHeaders;
  readonly body?: Buffer;
  readonly proxy?: ProxyKind;
  readonly nowSeconds?: number;
}

/** The forward-auth request for a browser's `method href`, as the dispatcher hands it to a route. */
export function forwardRequest(href: string, facts: RequestFacts = {}): ForwardAuthRequest {
  const url = new URL(href);
  const original: OriginalRequest = {
    method: facts.method ?? 'GET',
    protocol: url.protocol as OriginalRequest['protocol'],
    host: url.host,
    url,
    rawPath: url.pathname,
    trustedForwarding: true,
  };
  const nowSeconds = facts.nowSeconds ?? NOW_SECONDS;
  return {
    original,
    headers: facts.headers ?? {},
    body: facts.body,
    proxy: facts.proxy ?? 'traefik',
    nowSeconds,
    nowMs: nowSeconds * 1000,
  };
}

/** Headers of a browser loading a page in its window (Fetch Metadata). */
export const PAGE_LOAD: IncomingHttpHeaders = Object.freeze({ 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'document' });

export function loaded(session: Session): LoadedSession {
  return { session, stale: false };
}

/** A login in progress as start-login seals it, for https://app.example. */
export function loginFlow(overrides: Partial<LoginFlow> = {}): LoginFlow {
  return {
    state: `state-${Math.random().toString(36).slice(2)}-${'s'.repeat(24)}`,
    nonce: `nonce-${Math.random().toString(36).slice(2)}`,
    returnTo: 'https://app.example/page?x=1',
    redirectUri: 'https://app.example/callback',
    viaLoginUrl: false,
    createdAt: NOW_SECONDS - 30,
    ...overrides,
  };
}

/** The state cookie (name and value) that carries `flow` for this runtime's middleware. */
export function flowCookie(rt: MiddlewareRuntime, flow: LoginFlow): { readonly cookieName: string; readonly value: string } {
  return sealLoginFlow(rt.sealer, rt.config, rt.config.stateCookie.name, flow);
}

export function jarOf(...cookies: readonly { readonly cookieName: string; readonly value: string }[]): CookieJar {
  return parseCookieHeader(cookies.map((c) => `${c.cookieName}=${c.value}`).join('; '));
}

/** The name of each Set-Cookie, with "cleared" for one that expires at once. */
export function cookieSummary(cookies: readonly string[]): string[] {
  return cookies.map((cookie) => {
    const name = cookie.slice(0, cookie.indexOf('='));
    return /Max-Age=0(;|$)/.test(cookie) ? `${name} cleared` : name;
  });
}
