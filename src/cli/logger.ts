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

export function createLogger(level: ServerConfig['logLevel'], destination?: pino.DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACTED_PATHS, censor: '[redacted]' }, base: { service: 'oidc-forward-auth' } }, destination);
}
