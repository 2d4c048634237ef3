import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { ErrorCode } from '../errors.js';
import { proxyKindOf, type Answer } from '../forward/answer.js';
import { handleForwardAuth } from '../forward/handle-forward-auth.js';
import { reconstructOriginalRequest } from '../forward/original-request.js';
import { createPlainHttpCookieCheck } from '../forward/plain-http-cookies.js';
import { UNKNOWN_MIDDLEWARE, type DecisionOutcome, type Telemetry } from '../observability/telemetry.js';
import { writeAccessLine } from './access-log.js';
import type { Generation } from './middleware-generation.js';
import { sendError, writeAnswer } from './write-answer.js';

export interface ForwardAuthRouteDeps {
  /** The generation serving now: read once per request, which then keeps it to the end. */
  readonly generation: () => Generation;
  readonly telemetry: Telemetry;
  readonly log: Logger;
  /** Epoch seconds, to the millisecond when it can. */
  readonly now: () => number;
}

export type ForwardAuthHandler = (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply>;

/**
 * The `/auth/:name` handler: the shell around a decision. It rebuilds the original request, asks
 * handleForwardAuth, writes the answer in the proxy's dialect, and records the decision three ways
 * (metric, span, access line). Nothing in it decides who gets in.
 */
export function createForwardAuthHandler(deps: ForwardAuthRouteDeps): ForwardAuthHandler {
  const { telemetry, log, now } = deps;
  const { tracing } = telemetry;
  const plainHttpCookies = createPlainHttpCookieCheck();

  return async (request, reply) => {
    const started = process.hrtime.bigint();
    const generation = deps.generation();
    const name = (request.params as { name: string }).name;
    const runtime = generation.middlewares.get(name);
    if (runtime === undefined) {
      // Counted without the name asked for: a label must not take values from the request.
      telemetry.middleware(UNKNOWN_MIDDLEWARE).recordDecision('error', 'OFA_UNKNOWN_MIDDLEWARE', secondsSince(started));
      return sendError(reply, 'OFA_UNKNOWN_MIDDLEWARE', false, 'no such middleware', undefined);
    }
    const metrics = telemetry.middleware(name);
    return generation.track(async () => {
      const reconstructed = reconstructOriginalRequest(
        {
          peerAddress: request.socket.remoteAddress,
          method: request.method,
          url: request.url,
          headers: request.headers,
          rawHeaders: request.raw.rawHeaders,
          secure: request.protocol === 'https',
        },
        generation.isTrusted,
      );
      if (!reconstructed.ok) {
        runtime.log.info({ code: 'OFA_REQUEST_INVALID', reason: reconstructed.reason }, 'rejected a malformed forward-auth request');
        sendError(reply, 'OFA_REQUEST_INVALID', false, reconstructed.reason, undefined);
        metrics.recordDecision('invalid_request', 'OFA_REQUEST_INVALID', secondsSince(started));
        return reply;
      }
      const original = reconstructed.request;
      if (reconstructed.untrustedPeerForwarded === true) {
        log.warn(
          { peer: request.socket.remoteAddress },
          'ignored X-Forwarded-* from a peer not in server.trustedProxies: if it is your proxy, add its address there (logged once per peer)',
        );
      }
      const proxy = proxyKindOf(request.headers['x-forward-auth-proxy'], original.trustedForwarding);
      const body = Buffer.isBuffer(request.body) ? request.body : undefined;
      const span = tracing?.startDecision(name, {
        method: original.method,
        host: original.host,
        headers: request.headers,
        continueTrace: original.trustedForwarding,
      });
      const nowMs = Math.round(now() * 1000);
      const forwarded = { original, headers: request.headers, body, proxy, nowSeconds: Math.floor(nowMs / 1000), nowMs };
      let answer: Answer;
      try {
        answer = span === undefined ? await handleForwardAuth(runtime, forwarded) : await span.within(() => handleForwardAuth(runtime, forwarded));
      } catch (error) {
        // The error handler answers 500.
        metrics.recordDecision('error', 'OFA_INTERNAL', secondsSince(started));
        span?.end('error', 500, 'OFA_INTERNAL');
        throw error;
      }
      answer = plainHttpCookies(runtime.config, runtime.log, original, answer);
      writeAnswer(reply, answer, proxy, wantsHtml(request));
      const seconds = secondsSince(started);
      const { outcome, code } = describeDecision(answer);
      metrics.recordDecision(outcome, code, seconds);
      span?.end(outcome, reply.statusCode, code);
      // One access line per request; the path only, since a query may carry a code or state.
      writeAccessLine(runtime.log, {
        method: original.method,
        host: original.host,
        path: original.rawPath,
        status: reply.statusCode,
        decision: answer.kind,
        outcome,
        code,
        clientusername: answer.kind === 'allow' ? answer.username : undefined,
        ms: seconds * 1e3,
        traceId: span?.traceId,
      });
      return reply;
    });
  };
}

function secondsSince(started: bigint): number {
  return Number(process.hrtime.bigint() - started) / 1e9;
}

const ALLOWED = Object.freeze({ outcome: 'allowed', code: undefined } as const);

/** The metric outcome of an answer and its error code; bounded, never anything from the request. */
export function describeDecision(answer: Answer): { readonly outcome: DecisionOutcome; readonly code: ErrorCode | undefined } {
  switch (answer.kind) {
    case 'allow':
      return ALLOWED;
    case 'redirect':
      if (answer.purpose === 'login') return { outcome: 'login_started', code: undefined };
      if (answer.purpose === 'logout') return { outcome: 'logout', code: undefined };
      // A callback's own redirect completes a login; elsewhere `callback` and `renew` send a signed-in user on.
      return answer.purpose === 'callback' && answer.callback === true ? { outcome: 'callback', code: undefined } : ALLOWED;
    case 'deny':
      if (answer.code === 'OFA_CLAIMS_DENIED') return { outcome: 'forbidden', code: answer.code };
      if (answer.code === 'OFA_CSRF_INVALID') return { outcome: 'csrf_refused', code: answer.code };
      return { outcome: 'unauthorized', code: answer.code };
    case 'error':
      return { outcome: 'error', code: answer.code };
    case 'unavailable':
      return { outcome: 'unavailable', code: answer.code };
    case 'signed-out':
      return { outcome: 'logout', code: undefined };
    case 'confirm-logout':
      return { outcome: 'logout_confirmation', code: undefined };
    case 'backchannel-logout':
      return { outcome: answer.status === 200 ? 'backchannel_logout' : 'backchannel_logout_refused', code: undefined };
    case 'userinfo':
      if (answer.status === 200) return ALLOWED;
      return answer.status === 401 ? { outcome: 'unauthorized', code: 'OFA_LOGIN_REQUIRED' } : { outcome: 'invalid_request', code: undefined };
  }
}

function wantsHtml(request: FastifyRequest): boolean {
  const accept = request.headers.accept;
  return typeof accept === 'string' && accept.includes('text/html');
}
