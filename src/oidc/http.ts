/**
 * The only way we speak HTTP to an identity provider: our TLS settings, a deadline per attempt,
 * bounded retries, a cap on body size and OfaError codes. Shaped as openid-client's and jose's
 * `customFetch` so both libraries send everything through it.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { rootCertificates } from 'node:tls';
import type { Logger } from 'pino';
import { Agent, fetch as undiciFetch } from 'undici';
import type { ClientConfig } from '../config/types.js';
import { OfaError, type ErrorCode } from '../errors.js';
import type { ProviderCallObserver, ProviderCallResult, ProviderEndpoint } from '../observability/observers.js';

/** The second argument openid-client (`CustomFetchOptions`) and jose (`FetchImplementation`) pass. */
export interface ProviderFetchInit {
  readonly method?: string;
  readonly headers?: Headers | Record<string, string> | [string, string][];
  readonly body?: ArrayBuffer | ReadableStream | string | Uint8Array | URLSearchParams | null;
  readonly redirect?: 'manual' | 'follow' | 'error';
  readonly signal?: AbortSignal | null;
  readonly duplex?: 'half';
}

export interface ProviderFetch {
  /**
   * `endpoint` names what is called, for metrics and traces; without it, the tag of the enclosing
   * `callingProviderEndpoint`, else "other".
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

export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;
const DEFAULT_MAX_RETRY_AFTER_SECONDS = 10;
const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304]);
const IDEMPOTENT_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);
/** Failures that no retry can fix: the provider's certificate is not one we trust. */
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_UNTRUSTED',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/**
 * The endpoint tag for calls made through a library that cannot pass one (openid-client's grants):
 * set around the call site, read by our fetch when the library calls it.
 */
const endpointAtCallSite = new AsyncLocalStorage<ProviderEndpoint>();

/** Runs `work`, tagging the provider calls it makes without an explicit endpoint as `endpoint`. */
export function callingProviderEndpoint<T>(endpoint: ProviderEndpoint, work: () => Promise<T>): Promise<T> {
  return endpointAtCallSite.run(endpoint, work);
}

/** Exponential backoff with jitter: 100, 200, 400 … ms, capped at 2 s, each scaled by 50–100 %. */
export function defaultRetryDelayMs(attempt: number): number {
  const base = Math.min(2000, 100 * 2 ** Math.max(0, attempt - 1));
  return Math.round(base * (0.5 + Math.random() * 0.5));
}

/**
 * Seconds a whole call may take with every retry, for callers that set their own overall deadline
 * (openid-client's `Configuration.timeout`, jose's `timeoutDuration`).
 */
export function requestBudgetSeconds(clientConfig: ClientConfig): number {
  const attempts = clientConfig.maxRetries + 1;
  return Math.ceil(clientConfig.timeoutSeconds * attempts + 2 * clientConfig.maxRetries + 1);
}

function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The URL as it may appear in logs and errors: no credentials, no query (it can carry codes). */
export function safeUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return '(invalid URL)';
  }
}

function errorCodeOf(error: unknown): string | undefined {
  // undici wraps socket errors: TypeError('fetch failed') with the system error as cause.
  let current: unknown = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth += 1) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = current.cause;
  }
  return undefined;
}

function parseRetryAfterSeconds(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, (date - nowMs) / 1000);
}

class BodyTooLargeError extends Error {}

async function readCapped(response: Response, maxBytes: number): Promise<Uint8Array> {
  const declared = response.headers.get('content-length');
  if (declared !== null && Number(declared) > maxBytes) {
    await response.body?.cancel().catch(() => undefined);
    throw new BodyTooLargeError();
  }
  const reader = response.body?.getReader();
  if (reader === undefined) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new BodyTooLargeError();
    }
    chunks.push(value);
  }
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return body;
}

type AttemptOutcome =
  | { readonly kind: 'response'; readonly response: Response }
  | { readonly kind: 'retry-response'; readonly status: number; readonly waitMs: number | undefined }
  | {
      readonly kind: 'failure';
      readonly code: ErrorCode;
      readonly result: ProviderCallResult;
      readonly reason: string;
      readonly retryable: boolean;
      readonly cause?: unknown;
    };

function resultOfStatus(status: number): ProviderCallResult {
  if (status >= 500) return 'http_5xx';
  if (status >= 400) return 'http_4xx';
  if (status >= 300) return 'http_3xx';
  return 'ok';
}

/** What one logical call came to, kept up to date by the retry loop for the observer. */
interface CallTally {
  attempts: number;
  result: ProviderCallResult;
  status: number | undefined;
}

export function createProviderFetch(
  clientConfig: ClientConfig,
  log: Logger,
  options: ProviderFetchOptions = {},
): ProviderFetch {
  const { tls } = clientConfig;
  const timeoutMs = Math.max(1, Math.round(clientConfig.timeoutSeconds * 1000));
  const maxRetries = Math.max(0, Math.floor(clientConfig.maxRetries));
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const maxRetryAfterSeconds = options.maxRetryAfterSeconds ?? DEFAULT_MAX_RETRY_AFTER_SECONDS;
  const retryDelayMs = options.retryDelayMs ?? defaultRetryDelayMs;
  const sleep = options.sleep ?? abortableSleep;
  const observer = options.observer;

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
      timeout: timeoutMs,
    },
  });

  async function attempt(url: string, init: ProviderFetchInit, method: string): Promise<AttemptOutcome> {
    const controller = new AbortController();
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, timeoutMs);
    const callerSignal = init.signal ?? undefined;
    const onCallerAbort = (): void => controller.abort();
    if (callerSignal?.aborted === true) controller.abort();
    callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    let gotResponse = false;
    try {
      const response = await undiciFetch(url, {
        method,
        headers: init.headers as Record<string, string> | undefined,
        body: (init.body ?? undefined) as string | undefined,
        redirect: init.redirect ?? 'manual',
        signal: controller.signal,
        dispatcher: agent,
        ...(init.duplex === undefined ? {} : { duplex: init.duplex }),
      });
      gotResponse = true;
      const idempotent = IDEMPOTENT_METHODS.has(method);
      if (idempotent && RETRYABLE_STATUSES.has(response.status)) {
        await response.body?.cancel().catch(() => undefined);
        const retryAfter = parseRetryAfterSeconds(response.headers.get('retry-after'), Date.now());
        return {
          kind: 'retry-response',
          status: response.status,
          waitMs: retryAfter === undefined ? undefined : retryAfter * 1000,
        };
      }
      const body = await readCapped(response, maxBodyBytes);
      const copy = new Response(NULL_BODY_STATUSES.has(response.status) ? null : body, {
        status: response.status,
        statusText: response.statusText,
        headers: [...response.headers],
      });
      return { kind: 'response', response: copy };
    } catch (error) {
      if (error instanceof BodyTooLargeError) {
        return {
          kind: 'failure',
          code: 'OFA_PROVIDER_RESPONSE',
          result: 'too_large',
          reason: `response body larger than ${maxBodyBytes} bytes`,
          retryable: false,
        };
      }
      if (callerSignal?.aborted === true) {
        return { kind: 'failure', code: 'OFA_PROVIDER_TIMEOUT', result: 'timeout', reason: 'caller deadline reached', retryable: false, cause: error };
      }
      // Once a non-idempotent request may have reached the provider (it answered, or we stopped
      // waiting), sending it again could use an authorization code or a rotating refresh token twice.
      const sendAgainIsSafe = IDEMPOTENT_METHODS.has(method) || (!gotResponse && !timedOut);
      if (timedOut) {
        return {
          kind: 'failure',
          code: 'OFA_PROVIDER_TIMEOUT',
          result: 'timeout',
          reason: `no answer within ${clientConfig.timeoutSeconds}s`,
          retryable: sendAgainIsSafe,
          cause: error,
        };
      }
      const code = errorCodeOf(error) ?? 'network error';
      if (TLS_VERIFY_CODES.has(code)) {
        return { kind: 'failure', code: 'OFA_PROVIDER_UNAVAILABLE', result: 'tls', reason: `TLS verification failed (${code})`, retryable: false, cause: error };
      }
      if (code === 'UND_ERR_CONNECT_TIMEOUT') {
        return { kind: 'failure', code: 'OFA_PROVIDER_TIMEOUT', result: 'timeout', reason: `connection not established within ${clientConfig.timeoutSeconds}s`, retryable: true, cause: error };
      }
      return { kind: 'failure', code: 'OFA_PROVIDER_UNAVAILABLE', result: 'network', reason: code, retryable: sendAgainIsSafe, cause: error };
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    }
  }

  async function sendWithRetries(url: string, init: ProviderFetchInit, method: string, endpoint: ProviderEndpoint, tally: CallTally): Promise<Response> {
    const where = `${method} ${safeUrl(url)}`;
    // A stream can be read once; everything openid-client sends is a string or URLSearchParams.
    const replayable = !(init.body instanceof ReadableStream);
    const callerSignal = init.signal ?? undefined;
    for (let attemptNo = 1; ; attemptNo += 1) {
      tally.attempts = attemptNo;
      const outcome = await attempt(url, init, method);
      if (outcome.kind === 'failure') {
        tally.result = outcome.result;
        tally.status = undefined;
      } else {
        tally.status = outcome.kind === 'response' ? outcome.response.status : outcome.status;
        tally.result = resultOfStatus(tally.status);
      }
      if (outcome.kind === 'response') return outcome.response;

      // Introspection is never retried: every attempt is one more call a flood of made-up tokens
      // would cost the provider; the caller answers 503 and its client tries again.
      const canRetry = attemptNo <= maxRetries && replayable && endpoint !== 'introspection';
      let waitMs = retryDelayMs(attemptNo);
      let reason: string;
      if (outcome.kind === 'retry-response') {
        reason = `HTTP ${outcome.status}`;
        if (outcome.waitMs !== undefined) {
          if (outcome.waitMs > maxRetryAfterSeconds * 1000) {
            throw new OfaError('OFA_PROVIDER_UNAVAILABLE', `${where}: HTTP ${outcome.status}, Retry-After beyond ${maxRetryAfterSeconds}s`);
          }
          waitMs = Math.max(waitMs, outcome.waitMs);
        }
        if (!canRetry) {
          throw new OfaError('OFA_PROVIDER_UNAVAILABLE', `${where}: HTTP ${outcome.status} after ${attemptNo} attempt(s)`);
        }
      } else {
        reason = outcome.reason;
        if (!outcome.retryable || !canRetry) {
          throw new OfaError(outcome.code, `${where}: ${outcome.reason} after ${attemptNo} attempt(s)`, { cause: outcome.cause });
        }
      }
      log.debug({ url: safeUrl(url), method, attempt: attemptNo, reason, waitMs }, 'retrying provider request');
      observer?.retry(endpoint, tally.result);
      try {
        await sleep(waitMs, callerSignal);
      } catch (error) {
        tally.result = 'timeout';
        tally.status = undefined;
        throw new OfaError('OFA_PROVIDER_TIMEOUT', `${where}: caller deadline reached while waiting to retry`, { cause: error });
      }
    }
  }

  const providerFetch = async (url: string, init: ProviderFetchInit = {}, endpoint?: ProviderEndpoint): Promise<Response> => {
    const method = (init.method ?? 'GET').toUpperCase();
    const tag = endpoint ?? endpointAtCallSite.getStore() ?? 'other';
    const tally: CallTally = { attempts: 0, result: 'network', status: undefined };
    const end = observer?.start(tag, method, safeUrl(url));
    try {
      return await sendWithRetries(url, init, method, tag, tally);
    } finally {
      end?.(tally.result, tally.status, tally.attempts);
    }
  };

  return Object.assign(providerFetch, { close: () => agent.close() });
}
