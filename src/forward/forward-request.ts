import type { IncomingHttpHeaders } from 'node:http';
import type { ErrorCode } from '../errors.js';
import type { ProviderContext } from '../oidc/tokens.js';
import type { SessionCookieContext } from '../session/session-cookies.js';
import type { LoadedSession } from '../session/store.js';
import type { Answer, ProxyKind } from './answer.js';
import type { OriginalRequest } from './original-request.js';
import type { MiddlewareRuntime } from './runtime.js';
import { matchesUrlOption, type ParsedUrlOption } from './url-option.js';

export interface ForwardAuthRequest {
  readonly original: OriginalRequest;
  /** The original request's headers, as the proxy copied them onto the subrequest. */
  readonly headers: IncomingHttpHeaders;
  /** What the proxy forwarded of the original body (Traefik's forwardBody, or a direct route). */
  readonly body: Buffer | undefined;
  readonly proxy: ProxyKind;
  readonly nowSeconds: number;
  /**
   * The same reading in epoch milliseconds, for a session's creation and a revocation's cutoff:
   * in whole seconds, a login in the second of a subject-wide logout would be born revoked.
   */
  readonly nowMs: number;
}

const RETRY_AFTER_SECONDS = 5;

/** When a dependency cannot answer: fail closed, keep sessions, tell the client to retry soon. */
export function unavailable(code: ErrorCode): Answer {
  return { kind: 'unavailable', code, retryAfterSeconds: RETRY_AFTER_SECONDS };
}

/** The provider has not been discovered yet. */
export const UNAVAILABLE: Answer = Object.freeze(unavailable('OFA_PROVIDER_UNAVAILABLE'));

/** The original request is at this configured URL (matched on the raw path, see url-option.ts). */
export function isAt(option: ParsedUrlOption | undefined, original: OriginalRequest): boolean {
  return option !== undefined && matchesUrlOption(option, original, original.rawPath);
}

/** What openid-client and our token checks need, or undefined while the provider is not discovered. */
export function providerContext(rt: MiddlewareRuntime): ProviderContext | undefined {
  const configuration = rt.provider.current();
  if (configuration === undefined) return undefined;
  return { configuration, keys: rt.providerKeys(), middleware: rt.config };
}

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return typeof value === 'string' ? value : undefined;
}

/**
 * Several values under our name: a sibling subdomain may toss one with `Domain=` the parent.
 * Values that do not open are ignored (a stale or foreign duplicate); copies of one session (same
 * id) are one session, the most recently renewed copy kept. Values that open to different sessions
 * cannot be told apart, so none is picked: the request is unauthenticated, and the callers clear
 * the cookies as for any session that does not open.
 */
export async function loadSession(rt: MiddlewareRuntime, values: readonly string[], nowSeconds: number): Promise<LoadedSession | undefined> {
  let found: LoadedSession | undefined;
  for (const value of values) {
    const loaded = await rt.store.load(value, nowSeconds);
    if (loaded === undefined) continue;
    if (found === undefined) {
      found = loaded;
    } else if (found.session.id !== loaded.session.id) {
      rt.log.warn('several session cookies open to different sessions (cookie tossing?); treating the request as signed out');
      return undefined;
    } else if (loaded.session.renewedAt > found.session.renewedAt) {
      found = loaded;
    }
  }
  return found;
}

/** What writing this middleware's session cookies needs to know. */
export function cookieContext(rt: MiddlewareRuntime): SessionCookieContext {
  return { config: rt.config, csrfKeys: rt.csrfKeys, serverSide: rt.store.serverSide };
}
