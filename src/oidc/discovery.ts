/**
 * One provider client per set of provider settings (see providerSettingsKey), shared by the
 * middlewares that have them: OpenID discovery with the `discoveryParams`, an exact issuer check,
 * and per middleware an openid-client `Configuration` wired to that middleware's fetch. The service starts while
 * the provider is down; discovery keeps retrying in the background until it succeeds.
 */
import type { Logger } from 'pino';
import {
  Configuration,
  allowInsecureRequests,
  customFetch,
  type ClientAuth,
  type ClientMetadata,
  type ServerMetadata,
} from 'openid-client';
import type { MiddlewareConfig } from '../config/types.js';
import { OfaError, isOfaError } from '../errors.js';
import { chooseClientAuthMethod, createClientAuth, isMutualTlsMethod } from './client-auth.js';
import type { ProviderFetch } from './http.js';
import { requestBudgetSeconds } from './http-retry.js';
import { safeUrl } from './safe-url.js';

export type ProviderStatus = 'pending' | 'ready' | 'failed';

export interface ProviderState {
  readonly status: ProviderStatus;
  /** Why the last discovery failed; safe to log and to show. */
  readonly lastError?: string;
  /** Epoch ms of the last status change. */
  readonly since: number;
}

export interface ProviderClient {
  readonly issuer: string;
  /** Our fetch, for anything else that talks to this provider (jose's remote key set). */
  readonly fetch: ProviderFetch;
  state(): ProviderState;
  /** The openid-client configuration, once discovery succeeded. */
  current(): Configuration | undefined;
  /** Resolves on the first successful discovery; rejects only when stopped first. */
  ready(): Promise<void>;
  /**
   * Runs a discovery attempt now (joining one in flight) unless already ready, e.g. when a request
   * arrives while the provider is failing and the next background attempt is far away.
   */
  discover(): Promise<ProviderState>;
  stop(): void;
}

export interface ProviderClientDeps {
  readonly fetch: ProviderFetch;
  readonly log: Logger;
  readonly now?: () => number;
  /** Delay before background discovery attempt `attempt + 1`. Default 1 s doubling to 30 s, jittered. */
  readonly retryDelayMs?: (attempt: number) => number;
}

export function defaultDiscoveryRetryDelayMs(attempt: number): number {
  const base = Math.min(30_000, 1000 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.75 + Math.random() * 0.25));
}

/** OpenID Connect Discovery 1.0 §4: drop a trailing slash, then append the well-known path. */
export function discoveryUrl(issuer: string, discoveryParams: Readonly<Record<string, string>>): URL {
  const url = new URL(`${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`);
  for (const [name, value] of Object.entries(discoveryParams)) url.searchParams.set(name, value);
  return url;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const REQUIRED_ENDPOINTS = ['authorization_endpoint', 'token_endpoint', 'jwks_uri'] as const;
/**
 * Optional endpoints the service calls or sends the browser to with a token (end_session gets the
 * ID token as a hint). userinfo is not called today; it is checked so that using it stays safe.
 */
const OPTIONAL_ENDPOINTS = ['userinfo_endpoint', 'end_session_endpoint'] as const;

/** Checks the discovery document we were given; the issuer must be exactly the configured one. */
export function assertDiscoveryDocument(document: unknown, expectedIssuer: string): ServerMetadata {
  if (!isRecord(document)) {
    throw new OfaError('OFA_PROVIDER_RESPONSE', 'discovery document is not a JSON object');
  }
  if (typeof document.issuer !== 'string') {
    throw new OfaError('OFA_PROVIDER_RESPONSE', 'discovery document has no issuer');
  }
  // Exact comparison, as OpenID Connect Discovery §4.3 and go-oidc require: no URL normalisation.
  if (document.issuer !== expectedIssuer) {
    throw new OfaError(
      'OFA_DISCOVERY_ISSUER_MISMATCH',
      `discovery document names issuer "${document.issuer}", expected "${expectedIssuer}"`,
    );
  }
  // An https issuer stays https: an http endpoint would hand codes, tokens and keys to anyone on the path.
  const httpsOnly = URL.canParse(expectedIssuer) && new URL(expectedIssuer).protocol === 'https:';
  for (const name of [...REQUIRED_ENDPOINTS, ...OPTIONAL_ENDPOINTS]) {
    const value = document[name];
    if (value === undefined && (OPTIONAL_ENDPOINTS as readonly string[]).includes(name)) continue;
    if (typeof value !== 'string' || !URL.canParse(value)) {
      throw new OfaError('OFA_PROVIDER_RESPONSE', `discovery document has no valid ${name}`);
    }
    if (httpsOnly && new URL(value).protocol !== 'https:') {
      throw new OfaError('OFA_PROVIDER_RESPONSE', `discovery document of an https issuer names a non-https ${name} (${safeUrl(value)})`);
    }
  }
  return document as unknown as ServerMetadata;
}

/** The token-endpoint authentication for this middleware (see chooseClientAuthMethod). */
export function chooseClientAuth(metadata: ServerMetadata, middleware: MiddlewareConfig): ClientAuth {
  return createClientAuth(chooseClientAuthMethod(metadata, middleware), middleware);
}

export function buildConfiguration(middleware: MiddlewareConfig, metadata: ServerMetadata, fetch: ProviderFetch): Configuration {
  const method = chooseClientAuthMethod(metadata, middleware);
  const clientMetadata: Partial<ClientMetadata> = { token_endpoint_auth_method: method };
  if (middleware.clientSecret !== undefined) clientMetadata.client_secret = middleware.clientSecret;
  // RFC 8705 §5: a provider may serve certificate-authenticated calls on other endpoints.
  if (isMutualTlsMethod(method) && metadata.mtls_endpoint_aliases !== undefined) clientMetadata.use_mtls_endpoint_aliases = true;
  // A configured introspection endpoint stands in for one discovery does not name (Ory Hydra's is on its admin API).
  const introspectionEndpoint = middleware.bearerTokens?.introspection?.endpoint;
  const served = introspectionEndpoint === undefined ? metadata : { ...metadata, introspection_endpoint: introspectionEndpoint };
  const config = new Configuration(served, middleware.clientID, clientMetadata, createClientAuth(method, middleware));
  config[customFetch] = fetch;
  // openid-client aborts a whole call after `timeout` seconds; leave room for all our retries.
  config.timeout = requestBudgetSeconds(middleware.clientConfig);
  // The operator configured an http issuer on purpose (a loopback provider in tests and the demo);
  // openid-client would otherwise refuse every non-https endpoint of it.
  if (new URL(middleware.issuer).protocol === 'http:') allowInsecureRequests(config);
  return config;
}

async function fetchDiscoveryDocument(middleware: MiddlewareConfig, fetch: ProviderFetch): Promise<ServerMetadata> {
  const url = discoveryUrl(middleware.issuer, middleware.discoveryParams);
  const response = await fetch(url.href, { method: 'GET', headers: { accept: 'application/json' }, redirect: 'manual' }, 'discovery');
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new OfaError('OFA_PROVIDER_RESPONSE', `discovery at ${safeUrl(url.href)} answered HTTP ${response.status}`);
  }
  let document: unknown;
  try {
    document = JSON.parse(await response.text());
  } catch (error) {
    throw new OfaError('OFA_PROVIDER_RESPONSE', `discovery at ${safeUrl(url.href)} did not return JSON`, { cause: error });
  }
  return assertDiscoveryDocument(document, middleware.issuer);
}

function safeMessage(error: unknown): string {
  // OfaError messages are written to be safe; anything else may quote a response, so it is not shown.
  return isOfaError(error) ? `${error.code}: ${error.message}` : 'unexpected error during discovery';
}

export function createProviderClient(middleware: MiddlewareConfig, deps: ProviderClientDeps): ProviderClient {
  const now = deps.now ?? Date.now;
  const retryDelayMs = deps.retryDelayMs ?? defaultDiscoveryRetryDelayMs;
  const log = deps.log.child({ middleware: middleware.name, issuer: middleware.issuer });

  let state: ProviderState = { status: 'pending', since: now() };
  let configuration: Configuration | undefined;
  let inFlight: Promise<ProviderState> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let failures = 0;
  let stopped = false;

  let resolveReady!: () => void;
  let rejectReady!: (error: unknown) => void;
  const readyPromise = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  // Nobody may be waiting; a stop before readiness must not become an unhandled rejection.
  readyPromise.catch(() => undefined);

  function setState(next: ProviderState): void {
    state = next;
  }

  async function attemptOnce(): Promise<ProviderState> {
    try {
      const metadata = await fetchDiscoveryDocument(middleware, deps.fetch);
      if (stopped) return state;
      configuration = buildConfiguration(middleware, metadata, deps.fetch);
      failures = 0;
      setState({ status: 'ready', since: now() });
      log.info('identity provider discovered');
      resolveReady();
    } catch (error) {
      if (stopped) return state;
      failures += 1;
      const message = safeMessage(error);
      const changed = state.lastError !== message;
      setState({ status: 'failed', lastError: message, since: state.status === 'failed' ? state.since : now() });
      const delay = retryDelayMs(failures);
      if (changed) log.warn({ attempt: failures, retryInMs: delay, reason: message }, 'identity provider discovery failed');
      else log.debug({ attempt: failures, retryInMs: delay, reason: message }, 'identity provider discovery failed again');
      schedule(delay);
    }
    return state;
  }

  function schedule(delayMs: number): void {
    if (stopped || timer !== undefined) return;
    timer = setTimeout(() => {
      timer = undefined;
      void discover();
    }, delayMs);
    // A pending retry must not keep a CLI command or a test process alive.
    timer.unref();
  }

  function discover(): Promise<ProviderState> {
    if (stopped || state.status === 'ready') return Promise.resolve(state);
    if (inFlight === undefined) {
      if (timer !== undefined) {
        clearTimeout(timer);
        timer = undefined;
      }
      inFlight = attemptOnce().finally(() => {
        inFlight = undefined;
      });
    }
    return inFlight;
  }

  void discover();

  return {
    issuer: middleware.issuer,
    fetch: deps.fetch,
    state: () => state,
    current: () => configuration,
    ready: () => readyPromise,
    discover,
    stop() {
      if (stopped) return;
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
      if (state.status !== 'ready') {
        rejectReady(new OfaError('OFA_PROVIDER_UNAVAILABLE', 'provider client stopped before discovery succeeded'));
      }
    },
  };
}

/**
 * A middleware's view of a shared provider client: discovery, readiness and key set are the
 * shared client's, while the Configuration is built from the discovered metadata with this
 * middleware's own settings (its introspection endpoint) and its own fetch, so its token,
 * refresh and introspection calls are counted under its own name. Stopping the shared client is
 * its owner's job, not a view's.
 */
export function viewProviderClient(shared: ProviderClient, middleware: MiddlewareConfig, fetch: ProviderFetch): ProviderClient {
  let built: { readonly from: Configuration; readonly configuration: Configuration } | undefined;
  return {
    issuer: shared.issuer,
    fetch,
    state: () => shared.state(),
    current() {
      const from = shared.current();
      if (from === undefined) return undefined;
      if (built?.from !== from) built = { from, configuration: buildConfiguration(middleware, from.serverMetadata(), fetch) };
      return built.configuration;
    },
    ready: () => shared.ready(),
    discover: () => shared.discover(),
    stop: () => undefined,
  };
}

/**
 * Everything createProviderClient (and the fetch under it) reads of a middleware, and no more:
 * middlewares with equal keys share one client (one discovery, one key set, one connection pool),
 * and a configuration reload keeps a client, with its discovery and its keys, while its key stays.
 * Holds the client secret and private key: an in-memory map key only, never logged.
 */
export function providerSettingsKey(middleware: MiddlewareConfig): string {
  return JSON.stringify([
    middleware.issuer,
    middleware.clientID,
    middleware.clientSecret ?? null,
    middleware.clientAuthMethod ?? null,
    middleware.clientPrivateKey ?? null,
    middleware.clientAuthSigningAlg ?? null,
    middleware.clientConfig,
    middleware.discoveryParams ?? null,
  ]);
}
