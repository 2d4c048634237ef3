/**
 * The only way we speak HTTP to an identity provider: our TLS settings, a deadline per attempt
 * and a cap on body size (http-attempt.ts), bounded retries (http-retry.ts), endpoint tags and
 * observers, and OfaError codes. Shaped as openid-client's and jose's `customFetch` so both
 * libraries send everything through it.
 */
import { rootCertificates } from 'node:tls';
import type { Logger } from 'pino';
import { Agent } from 'undici';
import type { ClientConfig } from '../config/types.js';
import type { ProviderCallObserver, ProviderEndpoint } from '../observability/observers.js';
import { createAttempt, type ProviderFetchInit } from './http-attempt.js';
import { abortableSleep, defaultRetryDelayMs, sendWithRetries, type CallTally } from './http-retry.js';
import { safeUrl } from './safe-url.js';

export type { ProviderFetchInit } from './http-attempt.js';

export interface ProviderFetch {
  /**
   * `endpoint` names what is called, for metrics, traces and the retry rules; without it, what the
   * request's form says (see endpointOfForm), else "other".
   */
  (url: string, init?: ProviderFetchInit, endpoint?: ProviderEndpoint): Promise<Response>;
  /** Closes pooled connections; the fetch must not be used afterwards. */
  close(): Promise<void>;
}

export interface ProviderFetchOptions {
  /** Delay before retry number `attempt` (1-based). Default: exponential from 100 ms, capped at 2 s, jittered. */
  readonly retryDelayMs?: (attempt: number) => number;
  /** Injected for tests; must reject when the signal aborts. */
  readonly sleep?: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  /** Responses larger than this fail with OFA_PROVIDER_RESPONSE. Default 1 MiB. */
  readonly maxBodyBytes?: number;
  /** The longest Retry-After (seconds) we wait for on a 429/503; longer means give up. Default 10. */
  readonly maxRetryAfterSeconds?: number;
  /** Told of every call, its retries and its result (metrics, traces). */
  readonly observer?: ProviderCallObserver;
}

const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const DEFAULT_MAX_RETRY_AFTER_SECONDS = 10;

/**
 * What a form POST that openid-client sends for us is, from its fields: its grants, pushed
 * authorization requests and introspection cannot be tagged at the call site. Read from the form
 * rather than carried in an AsyncLocalStorage, which on Node 20 turns promise hooks on for the
 * whole process and taxes every request.
 */
export function endpointOfForm(body: unknown): ProviderEndpoint | undefined {
  if (!(body instanceof URLSearchParams)) return undefined;
  const grant = body.get('grant_type');
  if (grant === 'refresh_token') return 'refresh';
  if (grant !== null) return 'token';
  if (body.has('token')) return 'introspection';
  if (body.has('response_type')) return 'par';
  return undefined;
}

export interface ProviderTransport {
  /**
   * A fetch over this transport that reports to `observer`: middlewares sharing a provider client
   * share the connections, while their calls keep their own metric labels.
   */
  fetchFor(observer: ProviderCallObserver | undefined, log: Logger): ProviderFetch;
  /** Closes pooled connections; no fetch of this transport may be used afterwards. */
  close(): Promise<void>;
}

/** The connection pool, TLS settings and retry policy of one provider client; no observer. */
export function createProviderTransport(
  clientConfig: ClientConfig,
  log: Logger,
  options: Omit<ProviderFetchOptions, 'observer'> = {},
): ProviderTransport {
  const { tls } = clientConfig;
  const policy = {
    maxRetries: Math.max(0, Math.floor(clientConfig.maxRetries)),
    retryDelayMs: options.retryDelayMs ?? defaultRetryDelayMs,
    sleep: options.sleep ?? abortableSleep,
    maxRetryAfterSeconds: options.maxRetryAfterSeconds ?? DEFAULT_MAX_RETRY_AFTER_SECONDS,
  };

  if (tls.insecureSkipVerify) {
    log.warn('clientConfig.tls.insecureSkipVerify is on: the identity provider\'s certificate is not verified');
  }
  const agent = new Agent({
    connect: {
      // Setting `ca` replaces Node's trust store, so the bundle is added to the public roots.
      ca: tls.ca === undefined ? undefined : [...rootCertificates, tls.ca],
      cert: tls.cert,
      key: tls.key,
      rejectUnauthorized: !tls.insecureSkipVerify,
      timeout: Math.max(1, Math.round(clientConfig.timeoutSeconds * 1000)),
    },
  });
  const attempt = createAttempt({
    agent,
    timeoutSeconds: clientConfig.timeoutSeconds,
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
  });
  const close = (): Promise<void> => agent.close();

  return {
    fetchFor(observer, fetchLog) {
      const providerFetch = async (url: string, init: ProviderFetchInit = {}, endpoint?: ProviderEndpoint): Promise<Response> => {
        const method = (init.method ?? 'GET').toUpperCase();
        const tag = endpoint ?? endpointOfForm(init.body) ?? 'other';
        const tally: CallTally = { attempts: 0, result: 'network', status: undefined };
        const end = observer?.start(tag, method, safeUrl(url));
        try {
          return await sendWithRetries(attempt, policy, { url, init, method, endpoint: tag }, tally, fetchLog, observer);
        } finally {
          end?.(tally.result, tally.status, tally.attempts);
        }
      };
      return Object.assign(providerFetch, { close });
    },
    close,
  };
}

/** A transport of its own with one observer: for a provider client no other middleware shares. */
export function createProviderFetch(
  clientConfig: ClientConfig,
  log: Logger,
  options: ProviderFetchOptions = {},
): ProviderFetch {
  return createProviderTransport(clientConfig, log, options).fetchFor(options.observer, log);
}
