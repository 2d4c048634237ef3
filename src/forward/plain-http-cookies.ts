import type { Logger } from 'pino';
import type { MiddlewareConfig } from '../config/types.js';
import type { Answer } from './answer.js';
import type { OriginalRequest } from './original-request.js';

/**
 * The most common first-hour mistake: `secure: true` cookies on a site served over plain HTTP.
 * Browsers drop a Secure cookie set over http (except on loopback names, which is why a trial on
 * 127.0.0.1 works), so the login state never comes back and the callback fails with
 * OFA_CALLBACK_STATE_MISSING. This says so: a warning once per middleware and host when such a
 * cookie is set, and the callback's refusal names the probable cause.
 */
export type PlainHttpCookieCheck = (middleware: MiddlewareConfig, log: Logger, original: OriginalRequest, answer: Answer) => Answer;

/** Middleware-and-host pairs already warned about; past this the memory starts over. */
const WARNED_MAX = 1024;
const SECURE_ATTRIBUTE = /;\s*Secure(?:;|$)/i;

export const SECURE_OVER_HTTP_HINT =
  'this site was reached over plain HTTP and the login-state cookie is Secure, which browsers do not keep over HTTP: ' +
  'serve the site over HTTPS, or set stateCookie.secure and session.secure to false for a plain-HTTP trial';

export function createPlainHttpCookieCheck(): PlainHttpCookieCheck {
  const warned = new Set<string>();
  const once = (key: string): boolean => {
    if (warned.has(key)) return false;
    if (warned.size >= WARNED_MAX) warned.clear();
    warned.add(key);
    return true;
  };
  return (middleware, log, original, answer) => {
    // The hot path behind HTTPS stops here.
    if (original.protocol !== 'http:' || isLoopbackHost(hostnameOf(original.host))) return answer;
    const host = original.host;
    if (answer.kind === 'error' && answer.code === 'OFA_CALLBACK_STATE_MISSING' && middleware.stateCookie.secure) {
      if (once(`callback\n${middleware.name}\n${host}`)) {
        log.warn({ code: answer.code, host }, `login state missing at the callback: ${SECURE_OVER_HTTP_HINT}`);
      }
      return { ...answer, detail: SECURE_OVER_HTTP_HINT };
    }
    if ('cookies' in answer && answer.cookies.some((cookie) => SECURE_ATTRIBUTE.test(cookie)) && once(`cookie\n${middleware.name}\n${host}`)) {
      log.warn(
        { host, proto: 'http' },
        'a Secure cookie was set for a page served over plain HTTP (X-Forwarded-Proto: http): browsers will not keep it and sign-in will fail; ' +
          'serve the site over HTTPS, or set secure: false on session, stateCookie and csrf for a plain-HTTP trial',
      );
    }
    return answer;
  };
}

/** "[::1]:8080" → "[::1]", "app.example:8080" → "app.example". */
function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

/** Names browsers treat as a secure context over plain http: there, a Secure cookie is kept. */
function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || hostname === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
}
