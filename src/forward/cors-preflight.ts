import type { IncomingHttpHeaders } from 'node:http';
import type { Answer } from './answer.js';
import { applicationTokenHeaders } from './application-tokens.js';
import type { MiddlewareRuntime } from './runtime.js';

/** RFC 9110 §5.6.2 token: what a method name in Access-Control-Request-Method must be. */
const METHOD_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/**
 * A CORS preflight as a browser sends it (Fetch standard, "CORS-preflight request"): OPTIONS with
 * one Origin and one Access-Control-Request-Method, and never credentials. A request carrying a
 * cookie or an Authorization header is something else, checked like any other request.
 */
export function isCorsPreflight(method: string, headers: IncomingHttpHeaders): boolean {
  if (method !== 'OPTIONS') return false;
  if (headers.cookie !== undefined || headers.authorization !== undefined) return false;
  const origin = headers.origin;
  const requested = headers['access-control-request-method'];
  return typeof origin === 'string' && origin !== '' && typeof requested === 'string' && METHOD_TOKEN.test(requested.trim());
}

/**
 * The 2xx that lets a preflight through to the application, which answers it. It names every
 * header the proxies copy, empty: no identity rides on a request without a session, and Caddy's
 * copy_headers would otherwise hand the application a placeholder or the client's own copy.
 */
export function corsPreflightAnswer(rt: Pick<MiddlewareRuntime, 'config' | 'forwardHeaders'>): Answer {
  const headers: Record<string, string> = {};
  for (const header of rt.forwardHeaders) headers[header.name] = '';
  Object.assign(headers, applicationTokenHeaders(rt.config, {}));
  return { kind: 'allow', headers, cookies: [], username: undefined };
}
