/**
 * What the rest of the service tells telemetry, as small interfaces with bounded vocabularies.
 * The modules that observe (oidc/, session/, forward/) import only these types; the metrics and
 * tracing behind them live in telemetry.ts and are handed in by the server. Nothing here carries
 * a user, a path, a session id or a value a provider sent: only names from the fixed lists below
 * and our own error codes.
 */
import type { ErrorCode } from '../errors.js';

/** Which provider endpoint a call went to, tagged where the call is made. */
export type ProviderEndpoint = 'discovery' | 'jwks' | 'token' | 'refresh' | 'userinfo' | 'par' | 'introspection' | 'other';

/** How one provider call (with its retries) ended. */
export type ProviderCallResult =
  | 'ok'
  | 'http_3xx'
  | 'http_4xx'
  | 'http_5xx'
  | 'timeout'
  | 'tls'
  | 'network'
  | 'too_large';

export interface ProviderCallEnd {
  /** Once per logical call: the final result, the HTTP status if one arrived, and how many attempts it took. */
  (result: ProviderCallResult, status: number | undefined, attempts: number): void;
}

/** Sees every call our provider fetch makes: one start and one end per logical call, a retry per extra attempt. */
export interface ProviderCallObserver {
  /** `url` is already stripped of query and credentials. */
  start(endpoint: ProviderEndpoint, method: string, url: string): ProviderCallEnd;
  /** An attempt failed with `reason` and is about to be sent again. */
  retry(endpoint: ProviderEndpoint, reason: ProviderCallResult): void;
}

/** The commands the Redis session store sends; nothing else is counted by name. */
export type RedisCommandName = 'get' | 'set' | 'eval' | 'del' | 'zrem' | 'zrange' | 'zrangebyscore' | 'zremrangebyscore' | 'exists' | 'wait' | 'publish';

export interface RedisCommandObserver {
  observe(command: RedisCommandName, seconds: number, failed: boolean): void;
}

/** What happened to a session, one count each. */
export type SessionEvent =
  | 'created'
  | 'renewed'
  | 'refreshed'
  | 'ended_by_logout'
  | 'ended_by_backchannel_logout'
  | 'ended_by_max_lifetime'
  | 'ended_by_failed_refresh';

/** One middleware's session events and refresh failures. */
export interface SessionTelemetry {
  sessionEvent(event: SessionEvent): void;
  /** A refresh at the provider failed (counted once per attempt, not per request that waited on it). */
  refreshFailed(code: ErrorCode): void;
}
