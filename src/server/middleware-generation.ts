import type { Logger } from 'pino';
import type { Config, MiddlewareConfig } from '../config/types.js';
import { createMiddlewareRuntime, type MiddlewareRuntime } from '../forward/runtime.js';
import { createTrustedProxies, type IsTrustedProxy } from '../forward/trusted-proxies.js';
import type { Telemetry } from '../observability/telemetry.js';
import { createProviderClient, providerSettingsKey, viewProviderClient, type ProviderClient } from '../oidc/discovery.js';
import { createProviderTransport, type ProviderTransport } from '../oidc/http.js';
import { providerKeySet } from '../oidc/jwks.js';
import { createRevocationHub, type RevocationHub } from '../session/revocation-hub.js';
import { createSealer, type Sealer } from '../session/seal.js';
import type { SessionStore } from '../session/store.js';
import { createSessionStores, type SessionStores } from './session-stores.js';

/** What the caller supplies instead of building from the configuration (tests); never closed here. */
export interface InjectedParts {
  readonly providers?: Readonly<Record<string, ProviderClient>> | undefined;
  readonly stores?: Readonly<Record<string, SessionStore>> | undefined;
  readonly callbackDeadlineMs?: number | undefined;
  /** The process's revocations (shared with the other workers); default: this process's own. */
  readonly revocations?: RevocationHub | undefined;
}

/**
 * One configuration's request-time state. Requests hold on to the generation they started
 * with, so a reload never changes anything under an in-flight request; what the next generation
 * did not take over is closed once the last of those requests is done.
 */
export interface Generation {
  readonly config: Config;
  readonly isTrusted: IsTrustedProxy;
  readonly middlewares: ReadonlyMap<string, MiddlewareRuntime>;
  /** Runs `work` counted as in flight in this generation. */
  track<T>(work: () => Promise<T>): Promise<T>;
  /** Called once a successor serves: closes, after in-flight requests, what it did not take over. */
  retire(successor: Generation | undefined): Promise<void>;
}

/**
 * A provider client shared by the middlewares with its settings, the connections under it, and
 * each middleware's view of it (kept across a reload while that middleware's own part holds).
 */
interface SharedProvider {
  readonly client: ProviderClient;
  readonly transport: ProviderTransport;
  readonly views: Map<string, ProviderClient>;
}

/** What a middleware's view adds to the shared client: its name (metric labels) and introspection endpoint. */
function viewKey(middleware: MiddlewareConfig): string {
  return JSON.stringify([middleware.name, middleware.bearerTokens?.introspection?.endpoint ?? null]);
}

interface Owned {
  readonly sealer: Sealer;
  readonly secretsKey: string;
  readonly providers: Map<string, SharedProvider>;
  readonly stores: SessionStores;
  readonly revocations: RevocationHub;
}

const owned = new WeakMap<Generation, Owned>();

/** `telemetry` outlives generations: what a generation takes over keeps reporting to it. */
export function buildGeneration(config: Config, log: Logger, injected: InjectedParts, telemetry: Telemetry, predecessor?: Generation): Generation {
  const previous = predecessor === undefined ? undefined : owned.get(predecessor);
  const secretsKey = JSON.stringify(config.server.secrets);
  // Same secrets, same sealer: stores can then be taken over, and their sessions stay open.
  const sealer = previous !== undefined && previous.secretsKey === secretsKey ? previous.sealer : createSealer(config.server.secrets);
  // Revocations are the middleware's, not a generation's: every reload hands them on.
  const revocations = previous?.revocations ?? injected.revocations ?? createRevocationHub();
  const stores = createSessionStores({ sealer, log, predecessor: previous?.stores, revocations, redisCommands: telemetry.redisCommands });
  const providers = new Map<string, SharedProvider>();

  const middlewares = new Map<string, MiddlewareRuntime>();
  for (const middleware of Object.values(config.middlewares)) {
    let provider = injected.providers?.[middleware.name];
    let keysOf = provider;
    if (provider === undefined) {
      const key = providerSettingsKey(middleware);
      let shared = providers.get(key);
      if (shared === undefined) {
        const carried = previous?.providers.get(key);
        if (carried !== undefined) shared = { client: carried.client, transport: carried.transport, views: new Map() };
      }
      const middlewareLog = log.child({ middleware: middleware.name });
      const observer = telemetry.middleware(middleware.name).providerCalls;
      if (shared === undefined) {
        const transport = createProviderTransport(middleware.clientConfig, middlewareLog);
        // Discovery and key-set calls are the shared client's: counted under the middleware that created it.
        shared = { client: createProviderClient(middleware, { fetch: transport.fetchFor(observer, middlewareLog), log }), transport, views: new Map() };
      }
      providers.set(key, shared);
      keysOf = shared.client;
      const viewAt = viewKey(middleware);
      provider =
        previous?.providers.get(key)?.views.get(viewAt) ??
        viewProviderClient(shared.client, middleware, shared.transport.fetchFor(observer, middlewareLog));
      shared.views.set(viewAt, provider);
    }
    const client = provider;
    const keySource = keysOf ?? provider;
    // Introspection answers go with the provider view (as when they were keyed by it): kept while the reload keeps the view.
    const before = predecessor?.middlewares.get(middleware.name);
    middlewares.set(
      middleware.name,
      createMiddlewareRuntime(middleware, {
        server: config.server,
        log: log.child({ middleware: middleware.name }),
        provider: client,
        providerKeys: () => providerKeySet(keySource),
        sealer,
        store: injected.stores?.[middleware.name] ?? stores.storeFor(middleware),
        telemetry: telemetry.middleware(middleware.name),
        introspectionCache: before?.provider === client ? before.introspectionCache : undefined,
        ...(injected.callbackDeadlineMs === undefined ? {} : { callbackDeadlineMs: injected.callbackDeadlineMs }),
      }),
    );
  }

  let inFlight = 0;
  let drained: (() => void) | undefined;
  const generation: Generation = {
    config,
    isTrusted: createTrustedProxies(config.server.trustedProxies),
    middlewares,
    async track(work) {
      inFlight += 1;
      try {
        return await work();
      } finally {
        inFlight -= 1;
        if (inFlight === 0) drained?.();
      }
    },
    async retire(successor) {
      if (inFlight > 0) await new Promise<void>((resolve) => (drained = resolve));
      const next = successor === undefined ? undefined : owned.get(successor);
      const kept = new Set([...(next?.providers.values() ?? [])].map((shared) => shared.client));
      for (const shared of providers.values()) {
        if (kept.has(shared.client)) continue;
        shared.client.stop();
        await shared.transport.close();
      }
      await stores.closeExcept(next?.stores);
    },
  };
  owned.set(generation, { sealer, secretsKey, providers, stores, revocations });
  return generation;
}
