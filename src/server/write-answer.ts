import type { FastifyReply } from 'fastify';
import { ERROR_TABLE, type ErrorCode } from '../errors.js';
import type { Answer, ProxyKind } from '../forward/answer.js';
import { confirmLogoutPage, errorPage, signedOutPage, unavailablePage } from './pages.js';

/** The header our nginx snippet turns into a 302 (nginx answers 500 to a 3xx from auth_request). */
export const NGINX_LOCATION_HEADER = 'X-Auth-Location';
/** On a refusal to nginx: the error code and its words, from which the recipe writes the JSON. */
export const NGINX_ERROR_HEADER = 'X-Auth-Error';
export const NGINX_ERROR_MESSAGE_HEADER = 'X-Auth-Error-Message';
/** The one status besides 2xx, 401 and 403 the nginx recipe passes on (with its Retry-After). */
const NGINX_UNAVAILABLE_STATUS = 503;

/**
 * Writes an answer the way the proxy that asked can pass it on: every Location absolute, a login
 * through nginx as 401 + X-Auth-Location, pages as HTML for browsers and JSON for the rest.
 * An nginx subrequest's answer carries one Set-Cookie at most: nginx 1.22 passes only the first,
 * and 1.23+ joins several into one header browsers do not split. The routes put the cookie that
 * matters first (the state cookie of a login, the session cookie of a 2xx); the rest is dropped.
 * Nor does it carry a body: nginx never shows one, and an auth answer with a body makes nginx
 * close its keep-alive connection to us. The code goes in X-Auth-Error instead.
 */
export function writeAnswer(reply: FastifyReply, answer: Answer, proxy: ProxyKind, wantsHtml: boolean): FastifyReply {
  if (proxy === 'nginx') return writeNginxAnswer(reply, answer);
  reply.header('Cache-Control', 'no-store');
  if (answer.callback === true) reply.header('Referrer-Policy', 'no-referrer');
  if ('cookies' in answer && answer.cookies.length > 0) {
    reply.header('Set-Cookie', [...answer.cookies]);
  }
  switch (answer.kind) {
    case 'allow':
      for (const [name, value] of Object.entries(answer.headers)) reply.header(name, value);
      return reply.code(200).send();
    case 'redirect':
      return reply.code(302).header('Location', answer.location).send();
    case 'deny':
      setChallenge(reply, answer);
      return sendError(reply, answer.code, wantsHtml, answer.reason, undefined, undefined, switchUserOffer(answer));
    case 'error':
      return sendError(reply, answer.code, wantsHtml, answer.detail, answer.retryUrl);
    case 'signed-out':
      // Not 2xx: through Traefik or Caddy a 2xx would hand the logout request to the application.
      reply.code(401).header('WWW-Authenticate', 'Bearer realm="oidc-forward-auth"');
      return wantsHtml ? reply.type('text/html; charset=utf-8').send(signedOutPage()) : reply.send({ message: 'signed out' });
    case 'confirm-logout':
      // Not 2xx (Traefik and Caddy would pass the request on to the application); never framed,
      // so another site cannot lay the confirmation under a click of its own.
      reply.code(403).header('X-Frame-Options', 'DENY').header('Content-Security-Policy', "frame-ancestors 'none'");
      return wantsHtml
        ? reply.type('text/html; charset=utf-8').send(confirmLogoutPage(answer.location))
        : reply.send({ message: 'sign-out requested from another site: confirm it at this location', location: answer.location });
    case 'backchannel-logout':
      if (answer.status === 200) return reply.code(200).send();
      if (answer.status === 405) reply.header('Allow', 'POST');
      return reply.code(answer.status).send({ error: 'invalid_request', error_description: answer.reason });
    case 'userinfo':
      return writeUserinfo(reply, answer);
    case 'unavailable':
      reply.code(ERROR_TABLE[answer.code].status).header('Retry-After', String(answer.retryAfterSeconds));
      return wantsHtml
        ? reply.type('text/html; charset=utf-8').send(unavailablePage(ERROR_TABLE[answer.code].title, answer.code))
        : reply.send({ error: answer.code, message: ERROR_TABLE[answer.code].title });
  }
}

/** The same statuses and headers as writeAnswer, for nginx's auth_request: no body, ever. */
function writeNginxAnswer(reply: FastifyReply, answer: Answer): FastifyReply {
  reply.header('Cache-Control', 'no-store');
  if (answer.callback === true) reply.header('Referrer-Policy', 'no-referrer');
  if ('cookies' in answer && answer.cookies.length > 0) reply.header('Set-Cookie', answer.cookies[0]);
  const refuse = (code: ErrorCode, status: number = ERROR_TABLE[code].status): FastifyReply =>
    reply.code(status).header(NGINX_ERROR_HEADER, code).header(NGINX_ERROR_MESSAGE_HEADER, ERROR_TABLE[code].title).send();
  switch (answer.kind) {
    case 'allow':
      for (const [name, value] of Object.entries(answer.headers)) reply.header(name, value);
      return reply.code(200).send();
    case 'redirect':
      if (answer.purpose === 'login') return reply.code(401).header(NGINX_LOCATION_HEADER, answer.location).send();
      return reply.code(302).header('Location', answer.location).send();
    case 'deny':
      setChallenge(reply, answer);
      return refuse(answer.code);
    case 'error':
      return refuse(answer.code);
    case 'unavailable':
      reply.header('Retry-After', String(answer.retryAfterSeconds));
      // Not the table's 502 or 504: nginx turns any auth status but 2xx, 401 and 403 into 500, and
      // the recipe restores a 503 alone. The code still says which dependency failed.
      return refuse(answer.code, NGINX_UNAVAILABLE_STATUS);
    // The recipe routes logout and back-channel logout straight to the service, never as a
    // subrequest; should one come this way, it keeps its status and nothing more.
    case 'signed-out':
      return reply.code(401).header('WWW-Authenticate', 'Bearer realm="oidc-forward-auth"').send();
    case 'confirm-logout':
      return reply.code(403).send();
    case 'backchannel-logout':
      return reply.code(answer.status).send();
    // Routed straight to the service in the recipe; as a subrequest nginx would show no body.
    case 'userinfo':
      return reply.code(answer.status).send();
  }
}

/**
 * JSON a page of the same origin reads and no other site can: no CORS header ever, nosniff so a
 * cross-site <script> or <img> gets nothing (CORB/ORB), and never cached.
 */
function writeUserinfo(reply: FastifyReply, answer: Extract<Answer, { kind: 'userinfo' }>): FastifyReply {
  reply.code(answer.status).header('X-Content-Type-Options', 'nosniff').type('application/json; charset=utf-8');
  switch (answer.status) {
    case 200:
      return reply.send(JSON.stringify(answer.identity ?? {}));
    case 401:
      reply.header('WWW-Authenticate', 'Bearer realm="oidc-forward-auth"');
      return reply.send(JSON.stringify({ error: 'OFA_LOGIN_REQUIRED', message: ERROR_TABLE.OFA_LOGIN_REQUIRED.title }));
    case 405:
      reply.header('Allow', 'GET, HEAD');
      return reply.send(JSON.stringify({ error: 'method_not_allowed', message: 'only GET and HEAD' }));
  }
}

/**
 * RFC 6750 §3: a login is a bare Bearer challenge; a refused bearer token names its error and
 * nothing more (no description that would help whoever is trying tokens).
 */
function setChallenge(reply: FastifyReply, answer: Extract<Answer, { kind: 'deny' }>): void {
  if (answer.bearerError !== undefined) {
    reply.header('WWW-Authenticate', `Bearer realm="oidc-forward-auth", error="${answer.bearerError}"`);
  } else if (answer.code === 'OFA_LOGIN_REQUIRED') {
    reply.header('WWW-Authenticate', 'Bearer realm="oidc-forward-auth"');
  }
}

/** A signed-in browser user the rule refused may sign out and in as someone else; a bearer token may not. */
function switchUserOffer(answer: Extract<Answer, { kind: 'deny' }>): { readonly signOutUrl: string | undefined } | undefined {
  return answer.code === 'OFA_CLAIMS_DENIED' && answer.bearerError === undefined ? { signOutUrl: answer.signOutUrl } : undefined;
}

/** Status and words from the one table; the detail is ours and safe to show, never a provider's text. */
export function sendError(
  reply: FastifyReply,
  code: ErrorCode,
  wantsHtml: boolean,
  detail: string,
  retryUrl: string | undefined,
  status: number = ERROR_TABLE[code].status,
  switchUser?: { readonly signOutUrl: string | undefined },
): FastifyReply {
  const { title } = ERROR_TABLE[code];
  reply.code(status).header('Cache-Control', 'no-store');
  if (!wantsHtml) return reply.send({ error: code, message: title });
  return reply.type('text/html; charset=utf-8').send(errorPage({ title, detail, code, retryUrl, switchUser }));
}
