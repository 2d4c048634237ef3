/**
 * What the route tests without HTTP share: a runtime built by createMiddlewareRuntime around a
 * fake store, and forward-auth requests made from a few facts.
 */
import type { ProxyKind } from '../../../src/forward/answer.js';
import type { ForwardAuthRequest } from '../../../src/forward/forward-request.js';
import { createMiddlewareRuntime, type MiddlewareRuntime } from '../../../src/forward/runtime.js';
import type { SessionEvent } from '../../../src/observability/observers.js';
import type { ProviderClient } from '../../../src/oidc/discovery.js';
import { createSealer } from '../../../src/session/seal.js';
import type { Session } from '../../../src/session/session.js';
import type { RefreshOutcome, SessionStore } from '../../../src/session/store.js';
import { createTestLogger, type TestLogger } from '../../support/log.js';
import { makeMiddlewareConfig, type MiddlewareOverrides } from '../../support/middleware-config.js';

/** The frozen clock of these tests, epoch seconds. */
export const NOW = 1_900_000_000;
const SECRET = 'route-fixture-test-secret-0123456789abcdef';
export const DAY = 86_400;

/** Never discovered: a decision must not need the provider, and a login it starts answers 503. */
export const undiscoveredProvider: ProviderClient = {
  issuer: 'https://idp.example',
  fetch: Object.assign(async () => new Response(null, { status: 503 }), { close: async () => undefined }),
  state: () => ({ status: 'ready', since: 0 }),
  current: () => undefined,
  ready: async () => undefined,
  discover: async () => ({ status: 'ready', since: 0 }),
  stop: () => undefined,
};

export interface FakeStore extends SessionStore {
  readonly saved: Session[];
  readonly revoked: Session[];
  refreshOutcome: RefreshOutcome | undefined;
  refreshes: number;
}

/** Records what the shell asks of it; a save returns a new cookie value unless the store is server-side. */
export function fakeStore(serverSide = false): FakeStore {
  const store: FakeStore = {
    serverSide,
    saved: [],
    revoked: [],
    refreshOutcome: undefined,
    refreshes: 0,
    isAvailable: () => true,
    load: async () => undefined,
    create: async () => 'created',
    async save(session) {
      store.saved.push(session);
      return serverSide ? undefined : `saved-${store.saved.length}`;
    },
    async revoke(session) {
      store.revoked.push(session);
    },
    revokeProviderSession: async () => undefined,
    revokeSubject: async () => undefined,
    async refresh() {
      store.refreshes += 1;
      if (store.refreshOutcome === undefined) throw new Error('no refresh expected');
      return store.refreshOutcome;
    },
    recordLogoutToken: async () => true,
    close: async () => undefined,
  };
  return store;
}

export interface RouteRuntime {
  readonly rt: MiddlewareRuntime;
  readonly store: FakeStore;
  readonly logger: TestLogger;
  readonly events: SessionEvent[];
}

/**
 * A middleware runtime built as the service builds it, around a fake store and a logger that keeps
 * its lines. By default: claims `Contains(groups, admin)`, the email forwarded as X-Forwarded-User
 * and logged as the username.
 */
export function routeRuntime(
  overrides: MiddlewareOverrides = {},
  options: { readonly serverSide?: boolean; readonly provider?: ProviderClient } = {},
): RouteRuntime {
  const store = fakeStore(options.serverSide);
  const logger = createTestLogger('debug');
  const events: SessionEvent[] = [];
  const config = makeMiddlewareConfig({
    forwardHeaders: { 'X-Forwarded-User': 'email' },
    usernameClaim: 'email',
    claims: 'Contains(`groups`, `admin`)',
    ...overrides,
  });
  const rt = createMiddlewareRuntime(config, {
    server: { listen: { host: '127.0.0.1', port: 0 }, secrets: [SECRET], trustedProxies: [], logLevel: 'debug' },
    log: logger.log,
    provider: options.provider ?? undiscoveredProvider,
    providerKeys: () => {
      throw new Error('no provider keys in these tests');
    },
    sealer: createSealer([SECRET]),
    store,
    telemetry: { sessionEvent: (event) => events.push(event), refreshFailed: () => undefined },
  });
  return { rt, store, logger, events };
}


export interface RequestFacts {
  readonly url?: string;
  readonly method?: string;
  readonly headers?: Record<string, string>;
  readonly proxy?: ProxyKind;
}

export const PAGE_LOAD = { accept: 'text/html' };
export const FETCH = { accept: 'application/json' };

/** A forward-auth request as the proxy would have described it, at NOW. */
export function requestFor({ url = 'https://app.example.com/dashboard', method = 'GET', headers = FETCH, proxy = 'nginx' }: RequestFacts = {}): ForwardAuthRequest {
  const parsed = new URL(url);
  return {
    original: { method, protocol: 'https:', host: parsed.host, url: parsed, rawPath: parsed.pathname, trustedForwarding: true },
    headers,
    body: undefined,
    proxy,
    nowSeconds: NOW,
    nowMs: NOW * 1000,
  };
}
