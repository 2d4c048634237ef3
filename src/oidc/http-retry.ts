/**
 * Sending one provider call again after a failure that another attempt may fix: bounded attempts,
 * exponential backoff, and a 429/503's Retry-After honoured up to a limit.
 */
import type { Logger } from 'pino';
import type { ClientConfig } from '../config/types.js';
import { OfaError } from '../errors.js';
import type { ProviderCallObserver, ProviderCallResult, ProviderEndpoint } from '../observability/observers.js';
import type { Attempt, ProviderFetchInit } from './http-attempt.js';
import { safeUrl } from './safe-url.js';

/** What one logical call came to, kept up to date by the retry loop for the observer. */
export interface CallTally {
  attempts: number;
  result: ProviderCallResult;
  status: number | undefined;
}

export interface RetryPolicy {
  readonly maxRetries: number;
  /** Delay before retry number `attempt` (1-based). */
  readonly retryDelayMs: (attempt: number) => number;
  /** Must reject when the signal aborts. */
  readonly sleep: (ms: number, signal: AbortSignal | undefined) => Promise<void>;
  /** The longest Retry-After (seconds) we wait for; longer means give up. */
  readonly maxRetryAfterSeconds: number;
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

export function abortableSleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
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

function parseRetryAfterSeconds(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const trimmed = value.trim();
  if (/^\d+$/.test(trimmed)) return Number(trimmed);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, (date - nowMs) / 1000);
}

function resultOfStatus(status: number): ProviderCallResult {
  if (status >= 500) return 'http_5xx';
  if (status >= 400) return 'http_4xx';
  if (status >= 300) return 'http_3xx';
  return 'ok';
}

/** Runs `attempt` until it yields a response or a failure no retry may fix; the tally follows each attempt. */
export async function sendWithRetries(
  attempt: Attempt,
  policy: RetryPolicy,
  call: { readonly url: string; readonly init: ProviderFetchInit; readonly method: string; readonly endpoint: ProviderEndpoint },
  tally: CallTally,
  log: Logger,
  observer: ProviderCallObserver | undefined,
): Promise<Response> {
  const { url, init, method, endpoint } = call;
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
    const canRetry = attemptNo <= policy.maxRetries && replayable && endpoint !== 'introspection';
    let waitMs = policy.retryDelayMs(attemptNo);
    let reason: string;
    if (outcome.kind === 'retry-response') {
      reason = `HTTP ${outcome.status}`;
      const retryAfterSeconds = parseRetryAfterSeconds(outcome.retryAfter, Date.now());
      if (retryAfterSeconds !== undefined) {
        if (retryAfterSeconds > policy.maxRetryAfterSeconds) {
          throw new OfaError('OFA_PROVIDER_UNAVAILABLE', `${where}: HTTP ${outcome.status}, Retry-After beyond ${policy.maxRetryAfterSeconds}s`);
        }
        waitMs = Math.max(waitMs, retryAfterSeconds * 1000);
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
      await policy.sleep(waitMs, callerSignal);
    } catch (error) {
      tally.result = 'timeout';
      tally.status = undefined;
      throw new OfaError('OFA_PROVIDER_TIMEOUT', `${where}: caller deadline reached while waiting to retry`, { cause: error });
    }
  }
}
