import type { MiddlewareConfig } from '../config/types.js';
import { clearCookie, cookieValues, serializeCookie, type CookieJar } from './cookies.js';
import { createCsrfToken, type CsrfKeys } from './csrf.js';
import type { Session } from './session.js';

/** The cookie that carries the signed double-submit token; its name is fixed by the spec. */
export const CSRF_COOKIE_NAME = 'traefikee-csrf-token';

/**
 * Browsers keep a cookie at most 400 days (RFC 6265bis). A cookie that only names a server-side
 * session with sliding expiry gets this lifetime, so the browser never drops a session the server
 * still holds: the store's TTL is the authority.
 */
export const MAX_BROWSER_COOKIE_AGE_SECONDS = 400 * 86_400;

export interface SessionCookieContext {
  readonly config: MiddlewareConfig;
  readonly csrfKeys: CsrfKeys;
  /** The store keeps sessions itself; the cookie is only a pointer to one. */
  readonly serverSide: boolean;
}

/** The session cookie with `cookieValue`, and with CSRF on, a fresh double-submit token bound to the session. */
export function sessionCookies(context: SessionCookieContext, session: Session, cookieValue: string): string[] {
  const { config } = context;
  const options = config.session;
  const maxAge =
    context.serverSide && options.sliding ? MAX_BROWSER_COOKIE_AGE_SECONDS : Math.max(1, session.expiresAt - session.renewedAt);
  const cookies = [serializeCookie(options.name, cookieValue, { ...options, maxAge })];
  if (config.csrf !== undefined) {
    cookies.push(
      serializeCookie(CSRF_COOKIE_NAME, createCsrfToken(context.csrfKeys, session.id), {
        path: options.path,
        domain: options.domain,
        sameSite: options.sameSite,
        // The page's scripts read it to send it back in the header: that is the double submit.
        httpOnly: false,
        secure: config.csrf.secure,
        // Bound to the session id, the token is worthless once the session ends; a sliding session
        // outlives its first cookie lifetime, and nginx passes only the session cookie on a 2xx.
        maxAge: options.sliding ? MAX_BROWSER_COOKIE_AGE_SECONDS : maxAge,
      }),
    );
  }
  return cookies;
}

/** Clears the session cookie and, with CSRF on, the CSRF cookie. */
export function endSessionCookies(config: MiddlewareConfig): string[] {
  const cookies = [clearCookie(config.session.name, config.session)];
  if (config.csrf !== undefined) cookies.push(clearCsrfCookie(config));
  return cookies;
}

/** A session or CSRF cookie that no longer opens is cleared, so the browser stops sending it. */
export function staleSessionCookies(config: MiddlewareConfig, jar: CookieJar): string[] {
  const cookies: string[] = [];
  if (cookieValues(jar, config.session.name).length > 0) cookies.push(clearCookie(config.session.name, config.session));
  if (config.csrf !== undefined && cookieValues(jar, CSRF_COOKIE_NAME).length > 0) cookies.push(clearCsrfCookie(config));
  return cookies;
}

function clearCsrfCookie(config: MiddlewareConfig): string {
  return clearCookie(CSRF_COOKIE_NAME, { ...config.session, httpOnly: false, secure: config.csrf?.secure ?? false });
}
