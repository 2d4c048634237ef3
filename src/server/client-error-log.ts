/**
 * Log lines for what clients get wrong: a body over the limit, a request aborted halfway, a
 * missing Content-Type. These are no fault of the service, and anyone who reaches it can make
 * them by the thousand, so they are logged at info, never error (which pages someone), and at
 * most a few per window: a flood costs a bounded number of lines and one summary.
 */
import type { Logger } from 'pino';

/** Node's codes for a client that went away before its request was read. */
const CLIENT_GONE_CODES: ReadonlySet<string> = new Set(['ECONNRESET', 'ECONNABORTED', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE']);
/** Codes are library constants; anything else is not written out, since it could come from elsewhere. */
const CODE_PATTERN = /^[A-Z][A-Z0-9_]{0,63}$/;

export interface FailedRequest {
  readonly code?: unknown;
  readonly statusCode?: unknown;
}

/** A 4xx that Fastify chose (413, 415, 400 …), or the client hanging up mid-request. */
export function isClientError(error: FailedRequest): boolean {
  if (typeof error.statusCode === 'number' && error.statusCode >= 400 && error.statusCode < 500) return true;
  return typeof error.code === 'string' && CLIENT_GONE_CODES.has(error.code);
}

/** The error's code when it looks like one, for a log line. */
export function safeErrorCode(error: FailedRequest): string | undefined {
  return typeof error.code === 'string' && CODE_PATTERN.test(error.code) ? error.code : undefined;
}

export interface RateLimitedLog {
  /** Writes the line unless this window's budget is spent; then only counts it. */
  write(fields: Readonly<Record<string, unknown>>): void;
}

export interface RateLimitOptions {
  readonly level: 'info' | 'warn';
  /** One message for every line, the summary included, so a search finds them all. */
  readonly message: string;
  readonly linesPerWindow: number;
  readonly windowMs: number;
  /** Epoch milliseconds; injected so tests can move time. */
  readonly nowMs?: () => number;
}

/**
 * At most `linesPerWindow` lines per window. The first line after a window in which some were
 * held back is preceded by one that says how many (`withheld`). No timer: a quiet logger costs
 * nothing, and the count waits for the next line of its kind.
 */
export function createRateLimitedLog(log: Logger, options: RateLimitOptions): RateLimitedLog {
  const nowMs = options.nowMs ?? Date.now;
  let windowStartMs = Number.NEGATIVE_INFINITY;
  let written = 0;
  let withheld = 0;
  return {
    write(fields) {
      const at = nowMs();
      if (at - windowStartMs >= options.windowMs) {
        if (withheld > 0) log[options.level]({ withheld, windowSeconds: options.windowMs / 1000 }, options.message);
        windowStartMs = at;
        written = 0;
        withheld = 0;
      }
      if (written >= options.linesPerWindow) {
        withheld += 1;
        return;
      }
      written += 1;
      log[options.level](fields, options.message);
    },
  };
}
