/**
 * One HTTP request to the identity provider, without retries: its deadline, the caller's signal,
 * a cap on the body, and what a failure means (a code, whether sending it again is safe).
 */
import { fetch as undiciFetch, type Agent } from 'undici';
import type { ErrorCode } from '../errors.js';
import type { ProviderCallResult } from '../observability/observers.js';

/** The second argument openid-client (`CustomFetchOptions`) and jose (`FetchImplementation`) pass. */
export interface ProviderFetchInit {
  readonly method?: string;
  readonly headers?: Headers | Record<string, string> | [string, string][];
  readonly body?: ArrayBuffer | ReadableStream | string | Uint8Array | URLSearchParams | null;
  readonly redirect?: 'manual' | 'follow' | 'error';
  readonly signal?: AbortSignal | null;
  readonly duplex?: 'half';
}

export type AttemptOutcome =
  | { readonly kind: 'response'; readonly response: Response }
  /** A status worth retrying on an idempotent request; its body is already discarded. */
  | { readonly kind: 'retry-response'; readonly status: number; readonly retryAfter: string | null }
  | {
      readonly kind: 'failure';
      readonly code: ErrorCode;
      readonly result: ProviderCallResult;
      readonly reason: string;
      readonly retryable: boolean;
      readonly cause?: unknown;
    };

export type Attempt = (url: string, init: ProviderFetchInit, method: string) => Promise<AttemptOutcome>;

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

export function createAttempt(options: {
  /** Carries our TLS settings and the connect timeout. */
  readonly agent: Agent;
  readonly timeoutSeconds: number;
  readonly maxBodyBytes: number;
}): Attempt {
  const { agent, timeoutSeconds, maxBodyBytes } = options;
  const timeoutMs = Math.max(1, Math.round(timeoutSeconds * 1000));

  return async (url, init, method) => {
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
        return { kind: 'retry-response', status: response.status, retryAfter: response.headers.get('retry-after') };
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
          reason: `no answer within ${timeoutSeconds}s`,
          retryable: sendAgainIsSafe,
          cause: error,
        };
      }
      const code = errorCodeOf(error) ?? 'network error';
      if (TLS_VERIFY_CODES.has(code)) {
        return { kind: 'failure', code: 'OFA_PROVIDER_UNAVAILABLE', result: 'tls', reason: `TLS verification failed (${code})`, retryable: false, cause: error };
      }
      if (code === 'UND_ERR_CONNECT_TIMEOUT') {
        return { kind: 'failure', code: 'OFA_PROVIDER_TIMEOUT', result: 'timeout', reason: `connection not established within ${timeoutSeconds}s`, retryable: true, cause: error };
      }
      return { kind: 'failure', code: 'OFA_PROVIDER_UNAVAILABLE', result: 'network', reason: code, retryable: sendAgainIsSafe, cause: error };
    } finally {
      clearTimeout(timer);
      callerSignal?.removeEventListener('abort', onCallerAbort);
    }
  };
}
