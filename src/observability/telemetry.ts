/**
 * The service's metrics (Prometheus, prom-client) and, when configured, its tracing: one object
 * per process, handed to buildApp, outliving configuration reloads so counters keep counting.
 *
 * Every metric has its own Registry (never prom-client's global one), so several apps in one
 * process keep apart. Labels are bounded: middleware names from the configuration, the fixed
 * vocabularies of observers.ts, and our error codes. Label-bound children are cached per
 * middleware, so a request costs map lookups, not label hashing.
 */
import { Counter, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { ErrorCode } from '../errors.js';
import type {
  ProviderCallObserver,
  ProviderCallResult,
  ProviderEndpoint,
  RedisCommandName,
  RedisCommandObserver,
  SessionEvent,
  SessionTelemetry,
} from './observers.js';
import type { Tracing } from './tracing.js';

/** What a forward-auth request came to, one count each. */
export type DecisionOutcome =
  /** 200, or a 302 carrying a signed-in user on (a renewal through a proxy that drops 2xx cookies; loginUrl → postLoginRedirectUrl). */
  | 'allowed'
  | 'login_started'
  /** The callback completed a login (a failed callback is `error` with its code). */
  | 'callback'
  | 'unauthorized'
  /** The claims expression said no. */
  | 'forbidden'
  | 'csrf_refused'
  | 'logout'
  /** A cross-site logout was answered with a page to confirm it. */
  | 'logout_confirmation'
  | 'backchannel_logout'
  | 'backchannel_logout_refused'
  /** A dependency (provider, session store) could not answer: 503. */
  | 'unavailable'
  | 'invalid_request'
  | 'error';

export type ConfigReloadResult = 'success' | 'failure';

/** The label value for requests to a middleware name that is not configured: never the name asked for. */
export const UNKNOWN_MIDDLEWARE = '';

export interface MiddlewareTelemetry extends SessionTelemetry {
  readonly providerCalls: ProviderCallObserver;
  recordDecision(outcome: DecisionOutcome, code: ErrorCode | undefined, seconds: number): void;
}

export interface Telemetry {
  /**
   * This telemetry's own registry. Only for what must reach the metrics themselves, such as a
   * cluster worker handing them to prom-client's AggregatorRegistry (`setRegistries`).
   */
  readonly registry: Registry;
  /** Tracing as the environment configured it; undefined when off (then no span is ever made). */
  readonly tracing: Tracing | undefined;
  /** One middleware's metrics (cached: the same object for the same name, across reloads). */
  middleware(name: string): MiddlewareTelemetry;
  readonly redisCommands: RedisCommandObserver;
  /** Counts a configuration reload (SIGHUP or a changed file) and whether it took over. */
  recordConfigReload(result: ConfigReloadResult): void;
  /** The Prometheus text exposition, as a scrape gets it. */
  scrape(): Promise<{ readonly contentType: string; readonly body: string }>;
  /** Exports buffered spans and stops tracing (after the listeners closed). */
  shutdown(): Promise<void>;
}

export interface TelemetryOptions {
  /** From startTracing; default none. */
  readonly tracing?: Tracing | undefined;
  /**
   * prom-client's process and Node.js metrics (CPU, memory, event loop, GC). They watch the whole
   * process and cannot be stopped: the serve command turns them on for its one telemetry; the
   * default is off so that tests building many apps do not pile up monitors.
   */
  readonly processMetrics?: boolean;
}

/** From a fraction of a millisecond (a cookie session allowed) to the callback deadline. */
const DECISION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20];
const PROVIDER_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20];
const REDIS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

const REDIS_COMMANDS: ReadonlySet<string> = new Set<RedisCommandName>([
  'get',
  'set',
  'eval',
  'del',
  'zrem',
  'zrange',
  'zrangebyscore',
  'zremrangebyscore',
  'exists',
  'wait',
  'publish',
]);

/** `create(key)` once per key, then the cached value. */
function cached<V>(create: (key: string) => V): (key: string) => V {
  const values = new Map<string, V>();
  return (key) => {
    let found = values.get(key);
    if (found === undefined) {
      found = create(key);
      values.set(key, found);
    }
    return found;
  };
}

export function createTelemetry(options: TelemetryOptions = {}): Telemetry {
  const registry = new Registry();
  if (options.processMetrics === true) collectDefaultMetrics({ register: registry });
  const registers = [registry];

  const decisions = new Counter({
    name: 'ofa_decisions_total',
    help: 'Forward-auth requests answered, by middleware, outcome and error code ("" when none).',
    labelNames: ['middleware', 'outcome', 'code'] as const,
    registers,
  });
  const decisionSeconds = new Histogram({
    name: 'ofa_decision_duration_seconds',
    help: 'Time from receiving a forward-auth request to its answer, provider calls included.',
    labelNames: ['middleware'] as const,
    buckets: DECISION_BUCKETS,
    registers,
  });
  const providerRequests = new Counter({
    name: 'ofa_provider_requests_total',
    help: 'Calls to the identity provider, by endpoint and final result; one per call, however many attempts it took.',
    labelNames: ['middleware', 'endpoint', 'result'] as const,
    registers,
  });
  const providerSeconds = new Histogram({
    name: 'ofa_provider_request_duration_seconds',
    help: 'Time a call to the identity provider took, retries and their waits included.',
    labelNames: ['middleware', 'endpoint'] as const,
    buckets: PROVIDER_BUCKETS,
    registers,
  });
  const providerRetries = new Counter({
    name: 'ofa_provider_retries_total',
    help: 'Attempts at the identity provider sent again, by the result of the attempt that failed.',
    labelNames: ['middleware', 'endpoint', 'reason'] as const,
    registers,
  });
  const sessionEvents = new Counter({
    name: 'ofa_session_events_total',
    help: 'Sessions created, renewed (sliding), refreshed at the provider, and ended (by logout, back-channel logout, max lifetime, failed refresh).',
    labelNames: ['middleware', 'event'] as const,
    registers,
  });
  const refreshFailures = new Counter({
    name: 'ofa_refresh_failures_total',
    help: 'Refreshes at the identity provider that failed, by error code; one per attempt, not per request waiting on it.',
    labelNames: ['middleware', 'code'] as const,
    registers,
  });
  const redisSeconds = new Histogram({
    name: 'ofa_redis_command_duration_seconds',
    help: 'Time Redis commands of the session store took, failed ones included.',
    labelNames: ['command'] as const,
    buckets: REDIS_BUCKETS,
    registers,
  });
  const redisErrors = new Counter({
    name: 'ofa_redis_command_errors_total',
    help: 'Redis commands of the session store that failed (refused, timed out, connection lost).',
    labelNames: ['command'] as const,
    registers,
  });
  const configReloads = new Counter({
    name: 'ofa_config_reloads_total',
    help: 'Configuration reloads, by whether the new configuration took over.',
    labelNames: ['result'] as const,
    registers,
  });
  // Both series exist from the start, so an alert on failures sees 0 rather than nothing.
  configReloads.labels('success').inc(0);
  configReloads.labels('failure').inc(0);

  const tracing = options.tracing;

  const redisCommand = cached((command) => ({ seconds: redisSeconds.labels(command), errors: redisErrors.labels(command) }));
  const redisCommands: RedisCommandObserver = {
    observe(command, seconds, failed) {
      const child = redisCommand(REDIS_COMMANDS.has(command) ? command : 'other');
      child.seconds.observe(seconds);
      if (failed) child.errors.inc();
    },
  };

  const middleware = cached((name): MiddlewareTelemetry => {
    const decision = cached((key) => {
      const [outcome = '', code = ''] = key.split('|');
      return decisions.labels(name, outcome, code);
    });
    const decisionDuration = decisionSeconds.labels(name);
    const providerCall = cached((key) => {
      const [endpoint = '', result = ''] = key.split('|');
      return providerRequests.labels(name, endpoint, result);
    });
    const providerDuration = cached((endpoint) => providerSeconds.labels(name, endpoint));
    const retry = cached((key) => {
      const [endpoint = '', reason = ''] = key.split('|');
      return providerRetries.labels(name, endpoint, reason);
    });
    const sessionEvent = cached((event) => sessionEvents.labels(name, event));
    const refreshFailure = cached((code) => refreshFailures.labels(name, code));

    const providerCalls: ProviderCallObserver = {
      start(endpoint: ProviderEndpoint, method: string, url: string) {
        const started = process.hrtime.bigint();
        const span = tracing?.startProviderCall(name, endpoint, method, url);
        return (result: ProviderCallResult, status: number | undefined, attempts: number) => {
          providerDuration(endpoint).observe(Number(process.hrtime.bigint() - started) / 1e9);
          providerCall(`${endpoint}|${result}`).inc();
          span?.end(result, status, attempts);
        };
      },
      retry(endpoint, reason) {
        retry(`${endpoint}|${reason}`).inc();
      },
    };

    return {
      providerCalls,
      recordDecision(outcome, code, seconds) {
        decision(`${outcome}|${code ?? ''}`).inc();
        decisionDuration.observe(seconds);
      },
      sessionEvent(event: SessionEvent) {
        sessionEvent(event).inc();
      },
      refreshFailed(code: ErrorCode) {
        refreshFailure(code).inc();
      },
    };
  });

  return {
    registry,
    tracing,
    middleware,
    redisCommands,
    recordConfigReload(result) {
      configReloads.labels(result).inc();
    },
    async scrape() {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    async shutdown() {
      await tracing?.shutdown();
    },
  };
}
