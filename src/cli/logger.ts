import pino, { type Logger } from 'pino';
import type { ServerConfig } from '../config/types.js';

/**
 * Secrets never reach a log line. Our own log calls pass chosen fields (paths, never queries,
 * cookies or tokens; errors as codes and safe causes), so the hot path's access line is written
 * as is. Redaction is kept for where a foreign object could slip in: a field named like a secret,
 * a `headers` object, an error carrying headers. It works through pino's serializers, which cost
 * a property lookup per logged key, instead of redaction paths, which walked every line.
 *
 * Fastify's own `req` and `res` serializers (applied by the app's Fastify logger) keep only the
 * method, URL, host, address and status: no header reaches a line through them.
 */
export const REDACTED = '[redacted]';

/** Top-level fields whose value is a credential whatever it holds. */
export const SECRET_LOG_FIELDS = ['cookie', 'authorization', 'refreshToken', 'idToken', 'accessToken', 'clientSecret', 'secrets'] as const;

/** Header names (lower case) whose values are credentials. */
const SECRET_HEADERS: ReadonlySet<string> = new Set(['cookie', 'authorization', 'proxy-authorization', 'set-cookie']);

/** A copy of a headers object with credentials replaced; anything else is returned unchanged. */
function redactHeaders(headers: unknown): unknown {
  if (typeof headers !== 'object' || headers === null || Array.isArray(headers)) return headers;
  const copy: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(headers)) copy[name] = SECRET_HEADERS.has(name.toLowerCase()) ? REDACTED : value;
  return copy;
}

/** pino's error serializer, then the same rules one level down: an HTTP client's error may carry headers. */
function redactError(error: unknown): unknown {
  const serialized: unknown = pino.stdSerializers.err(error as Error);
  if (typeof serialized !== 'object' || serialized === null) return serialized;
  const record = serialized as Record<string, unknown>;
  for (const field of SECRET_LOG_FIELDS) if (record[field] !== undefined) record[field] = REDACTED;
  if (record.headers !== undefined) record.headers = redactHeaders(record.headers);
  return record;
}

const redacted = (): string => REDACTED;

/** Serializers run only for the keys a line has: nothing for the access line's fields. */
export const LOG_SERIALIZERS: Readonly<Record<string, (value: unknown) => unknown>> = Object.freeze({
  ...Object.fromEntries(SECRET_LOG_FIELDS.map((field) => [field, redacted])),
  headers: redactHeaders,
  err: redactError,
});

/**
 * Characters of log lines gathered before a write to stdout; a quiet service still writes within
 * FLUSH_INTERVAL_MS. At a few thousand access lines a second, small chunks meant a hundred writes
 * a second, each a hop to libuv's thread pool on the core the service runs on.
 */
const CHUNK_CHARS = 32 * 1024;
/** sonic-boom's largest single write; above CHUNK_CHARS so that a chunk goes out in one write. */
const MAX_WRITE_BYTES = 64 * 1024;
const FLUSH_INTERVAL_MS = 1000;

interface LineBatcher extends pino.DestinationStream {
  flush(callback?: (error?: Error) => void): void;
  flushSync(): void;
}

/**
 * Gathers lines in an array and hands sonic-boom one string per chunk. Not sonic-boom's own
 * `minLength`: it measures its whole pending buffer (a string it keeps appending to) on every
 * line, which flattens that string each time, so a larger buffer cost more than it saved.
 * sonic-boom still does the writing: asynchronous, retried, and flushed synchronously on exit.
 */
function createLineBatcher(stdout: ReturnType<typeof pino.destination>): LineBatcher {
  let lines: string[] = [];
  let chars = 0;
  const handOver = (): void => {
    if (lines.length === 0) return;
    const chunk = lines.join('');
    lines = [];
    chars = 0;
    stdout.write(chunk);
  };
  // Before pino's own exit hook where it can be (registered first): pending lines reach sonic-boom,
  // which writes them synchronously. Run after it, this still writes them, in order.
  process.on('beforeExit', handOver);
  process.on('exit', () => {
    handOver();
    try {
      stdout.flushSync();
    } catch {
      // Destroyed, or stdout closed under us: nothing is left to write to.
    }
  });
  return {
    write(line: string) {
      lines.push(line);
      chars += line.length;
      if (chars >= CHUNK_CHARS) handOver();
    },
    flush(callback) {
      handOver();
      stdout.flush(callback);
    },
    flushSync() {
      handOver();
      stdout.flushSync();
    },
  };
}

/**
 * The service's logger. By default it writes to stdout asynchronously in chunks: one access line
 * per decision must not cost a write each. Nothing is lost on the way out: `flushLog` before a
 * graceful exit, and a synchronous write of what is left on process exit.
 */
export function createLogger(level: ServerConfig['logLevel'], destination?: pino.DestinationStream): Logger {
  let stream = destination;
  if (stream === undefined) {
    // minLength 1, not 0: with 0, sonic-boom's flush does not wait for a write in flight.
    const stdout = pino.destination({ dest: 1, sync: false, minLength: 1, maxWrite: MAX_WRITE_BYTES });
    const batcher = createLineBatcher(stdout);
    setInterval(() => batcher.flush(), FLUSH_INTERVAL_MS).unref();
    stream = batcher;
  }
  return pino({ level, serializers: LOG_SERIALIZERS, base: { service: 'oidc-forward-auth' } }, stream);
}

/** Writes out whatever the logger still holds. */
export function flushLog(log: Logger): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}
