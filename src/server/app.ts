import type { IncomingMessage, ServerResponse } from 'node:http';
import Fastify, { LogController, type FastifyInstance, type RawServerDefault } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config/types.js';
import type { MiddlewareRuntime } from '../forward/runtime.js';
import { createTelemetry, type Telemetry } from '../observability/telemetry.js';
import type { ProviderClient } from '../oidc/discovery.js';
import type { RevocationHub } from '../session/revocation-hub.js';
import type { SessionStore } from '../session/store.js';
import { createRateLimitedLog, isClientError, safeErrorCode } from './client-error-log.js';
import { limitConnections, requestTimeoutOptions } from './connection-limits.js';
import { acceptEveryMethod, answerConnectRequests } from './every-method.js';
import { METRICS_PATH } from './metrics-listener.js';
import { buildGeneration } from './middleware-generation.js';
import { createForwardAuthHandler } from './forward-auth-route.js';
import { sendError } from './write-answer.js';

export interface AppDeps {
  readonly log: Logger;
  /** Epoch seconds, to the millisecond when it can (see ForwardAuthRequest.nowMs); injected so tests can move time. */
  readonly now?: () => number;
  /** Per-middleware provider clients (tests may inject their own); built from the config otherwise. */
  readonly providers?: Readonly<Record<string, ProviderClient>>;
  readonly stores?: Readonly<Record<string, SessionStore>>;
  /** How long a callback may spend at the provider (default CALLBACK_DEADLINE_MS). */
  readonly callbackDeadlineMs?: number;
  /**
   * The process's metrics and tracing, kept across reloads. Default: a new one of this app's own
   * (its own registry, no tracing, no process metrics).
   */
  readonly telemetry?: Telemetry;
  /** Revocations shared with the other workers (serve); default: this process's own. Kept across reloads. */
  readonly revocations?: RevocationHub;
}

export interface App {
  readonly fastify: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;
  readonly telemetry: Telemetry;
  /** The middlewares serving now (after the latest reload). */
  readonly middlewares: ReadonlyMap<string, MiddlewareRuntime>;
  /**
   * Serves `config` from the next request on. In-flight requests finish with the configuration
   * they started with; a middleware whose provider, client and secrets are unchanged keeps its
   * discovery, keys and sessions; what only the old configuration used is closed after its
   * last in-flight request.
   */
  readonly reload: (config: Config) => ReloadSummary;
  /** Stops background discovery, closes provider and session-store connections (after fastify.close()). */
  readonly stop: () => Promise<void>;
}

export interface ReloadSummary {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly changed: readonly string[];
  /** Settings that only a restart applies (the listen addresses). */
  readonly needRestart: readonly string[];
  /** Resolves once what only the old configuration used is closed. */
  readonly retired: Promise<void>;
}

/** Proxies send at most this much with the subrequest (Traefik's forwardBody, back-channel logout). */
const BODY_LIMIT_BYTES = 64 * 1024;

/** Builds the service without listening, so tests drive it with inject or a port of their choosing. */
export function buildApp(config: Config, deps: AppDeps): App {
  const now = deps.now ?? (() => Date.now() / 1000);
  const log = deps.log;
  const injected = { providers: deps.providers, stores: deps.stores, callbackDeadlineMs: deps.callbackDeadlineMs, revocations: deps.revocations };
  const telemetry = deps.telemetry ?? createTelemetry();
  let current = buildGeneration(config, log, injected, telemetry);
  const retiring = new Set<Promise<void>>();

  const fastify = Fastify({
    loggerInstance: log,
    // One access line per forward-auth request is written by the route itself.
    logController: new LogController({ disableRequestLogging: true }),
    // No child logger per request: nothing of ours logs through request.log, and a request id
    // would correlate with nothing (the access line has none), so it is not worth one per request.
    childLoggerFactory: (logger) => logger,
    bodyLimit: BODY_LIMIT_BYTES,
    routerOptions: { maxParamLength: 200 },
    return503OnClosing: true,
    ...requestTimeoutOptions(config.server),
  });
  limitConnections(fastify.server, config.server, log);
  answerConnectRequests(fastify);
  const clientErrors = createRateLimitedLog(log, { level: 'info', message: 'refused a request the client got wrong', linesPerWindow: 10, windowMs: 60_000 });
  // The subrequest's body (if a proxy forwards one) is not ours to interpret here.
  fastify.removeAllContentTypeParsers();
  fastify.addContentTypeParser('*', { parseAs: 'buffer' }, (_request, body, done) => done(null, body));

  fastify.get('/healthz', async () => ({ status: 'ok' }));
  fastify.get('/readyz', async (_request, reply) => {
    const states: Record<string, unknown> = {};
    let ready = true;
    for (const [name, runtime] of current.middlewares) {
      const state = runtime.provider.state();
      // A hung Redis keeps its connection 'ready': only an answer within the timeout says it serves.
      const sessionStore = runtime.store.isAvailable() && (await (runtime.store.ping?.() ?? true)) ? 'ready' : 'unavailable';
      states[name] = { ...state, sessionStore };
      if (state.status !== 'ready' || sessionStore !== 'ready') ready = false;
    }
    return reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'not ready', middlewares: states });
  });
  // With metricsListen set, the metrics have an address of their own (metrics-listener.ts) and
  // the port the proxies reach exposes none. Decided at start: a reload cannot move a listener.
  if (config.server.metricsListen === undefined) {
    fastify.get(METRICS_PATH, async (_request, reply) => {
      const { contentType, body } = await telemetry.scrape();
      return reply.type(contentType).header('Cache-Control', 'no-store').send(body);
    });
  }

  fastify.route({
    method: acceptEveryMethod(fastify),
    url: '/auth/:name',
    handler: createForwardAuthHandler({ generation: () => current, telemetry, log, now }),
  });

  fastify.setErrorHandler((error: { code?: unknown; statusCode?: unknown }, _request, reply) => {
    // Only the code: a message from a parser may quote the request, cookies included.
    const code = safeErrorCode(error);
    if (isClientError(error)) {
      // Fastify's own refusals (413 body too large, 415, …) keep their status; a client that hung
      // up gets a 400 nobody reads.
      const status = typeof error.statusCode === 'number' ? error.statusCode : 400;
      clientErrors.write({ code, status });
      return sendError(reply, 'OFA_REQUEST_INVALID', false, '', undefined, status);
    }
    log.error({ code }, 'unhandled error');
    return sendError(reply, 'OFA_INTERNAL', false, '', undefined);
  });

  return {
    fastify,
    telemetry,
    get middlewares() {
      return current.middlewares;
    },
    reload(next) {
      const previous = current;
      const summary = compareConfigs(previous.config, next);
      if (next.server.logLevel !== previous.config.server.logLevel) log.level = next.server.logLevel;
      current = buildGeneration(next, log, injected, telemetry, previous);
      const retired = previous.retire(current).finally(() => retiring.delete(retired));
      retiring.add(retired);
      return { ...summary, retired };
    },
    stop: async () => {
      await Promise.all(retiring);
      await current.retire(undefined);
    },
  };
}

/** Which middlewares a reload adds, removes or changes, and which settings need a restart. */
function compareConfigs(before: Config, after: Config): Omit<ReloadSummary, 'retired'> {
  const names = (config: Config): string[] => Object.keys(config.middlewares);
  const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
  const needRestart: string[] = [];
  if (!same(before.server.listen, after.server.listen)) needRestart.push('server.listen');
  if (!same(before.server.metricsListen, after.server.metricsListen)) needRestart.push('server.metricsListen');
  if (before.server.requestTimeoutSeconds !== after.server.requestTimeoutSeconds) needRestart.push('server.requestTimeoutSeconds');
  if (before.server.maxConnections !== after.server.maxConnections) needRestart.push('server.maxConnections');
  return {
    added: names(after).filter((name) => before.middlewares[name] === undefined),
    removed: names(before).filter((name) => after.middlewares[name] === undefined),
    changed: names(after).filter((name) => before.middlewares[name] !== undefined && !same(before.middlewares[name], after.middlewares[name])),
    needRestart,
  };
}
