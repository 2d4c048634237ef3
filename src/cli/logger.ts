import pino, { type Logger } from 'pino';
import type { ServerConfig } from '../config/types.js';

/**
 * Secrets never reach a log line: request headers that carry them are redacted wherever they
 * appear, and our own log calls pass paths, never queries, cookies or tokens.
 */
export const REDACTED_PATHS = [
  'req.headers.cookie',
  'req.headers.authorization',
  'res.headers["set-cookie"]',
  'headers.cookie',
  'headers.authorization',
  '*.cookie',
  '*.authorization',
  '*.refreshToken',
  '*.idToken',
  '*.accessToken',
  '*.clientSecret',
  '*.secrets',
];

/** Bytes gathered before a write to stdout; a quiet service still writes within FLUSH_INTERVAL_MS. */
const BUFFER_BYTES = 4096;
const FLUSH_INTERVAL_MS = 1000;

/**
 * The service's logger. By default it writes to stdout asynchronously in buffered chunks: one
 * access line per decision must not cost a synchronous write each. Nothing is lost on the way
 * out: `flushLog` before a graceful exit, and pino flushes synchronously on process exit.
 */
export function createLogger(level: ServerConfig['logLevel'], destination?: pino.DestinationStream): Logger {
  let stream = destination;
  if (stream === undefined) {
    const stdout = pino.destination({ dest: 1, sync: false, minLength: BUFFER_BYTES });
    setInterval(() => stdout.flush(), FLUSH_INTERVAL_MS).unref();
    stream = stdout;
  }
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: 'oidc-forward-auth' } }, stream);
}

/** Writes out whatever the logger still holds. */
export function flushLog(log: Logger): Promise<void> {
  return new Promise((resolve) => log.flush(() => resolve()));
}
