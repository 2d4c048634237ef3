/**
 * What one client may hold of the service's listener: time to send a request, and a share of
 * the open connections (`server.requestTimeoutSeconds`, `server.maxConnections`).
 */
import type { Server, ServerOptions } from 'node:http';
import type { Logger } from 'pino';
import { DEFAULT_MAX_CONNECTIONS, DEFAULT_REQUEST_TIMEOUT_SECONDS } from '../config/server-config.js';
import type { ServerConfig } from '../config/types.js';
import { createRateLimitedLog } from './client-error-log.js';

/**
 * Fastify's options for the request timeout. One limit covers the headers and the body (Node's
 * `headersTimeout` and `requestTimeout`): a client that announces a body and never sends it, or
 * trickles its headers, gets 408 and the connection is closed. Idle keep-alive connections between
 * requests and time spent answering are not counted (the proxies' pools stay open).
 */
export function requestTimeoutOptions(server: ServerConfig): { readonly requestTimeout: number; readonly http: ServerOptions } {
  const timeoutMs = Math.ceil((server.requestTimeoutSeconds ?? DEFAULT_REQUEST_TIMEOUT_SECONDS) * 1000);
  return {
    // Fastify sets Node's requestTimeout from this one (its own default, 0, would turn Node's off).
    requestTimeout: timeoutMs,
    http: {
      headersTimeout: timeoutMs,
      requestTimeout: timeoutMs,
      // Node looks for expired requests only this often (30 s by default, which would stretch a
      // 10 s timeout to 40 s); the walk over open requests is cheap.
      connectionsCheckingInterval: Math.max(50, Math.min(1000, Math.floor(timeoutMs / 2))),
    },
  };
}

/**
 * Caps the open connections of this process: one past the cap is closed as it arrives, and a
 * warning says so, a few times a minute at most however many are refused.
 */
export function limitConnections(httpServer: Server, server: ServerConfig, log: Logger): void {
  const maxConnections = server.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  httpServer.maxConnections = maxConnections;
  const dropped = createRateLimitedLog(log, {
    level: 'warn',
    message: 'server.maxConnections reached: closed a new connection',
    linesPerWindow: 5,
    windowMs: 60_000,
  });
  httpServer.on('drop', () => dropped.write({ maxConnections }));
}
