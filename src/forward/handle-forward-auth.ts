import { isTransientError } from '../errors.js';
import { parseCookieHeader } from '../session/cookies.js';
import { staleSessionCookies } from '../session/session-cookies.js';
import { callbackAnswer, type Answer } from './answer.js';
import { isAt, loadSession, unavailable, type ForwardAuthRequest } from './forward-request.js';
import { handleBackchannelLogout } from './routes/backchannel-logout.js';
import { bearerTokenOf } from '../oidc/access-token.js';
import { handleCallback } from './routes/callback.js';
import { checkBearerToken } from './routes/check-bearer-token.js';
import { checkSession } from './routes/check-session.js';
import { startLogin } from './routes/start-login.js';
import { answerUserinfo } from './routes/userinfo.js';
import { corsPreflightAnswer, isCorsPreflight } from './cors-preflight.js';
import { handleLogout } from './routes/logout.js';
import type { MiddlewareRuntime } from './runtime.js';

export type { ForwardAuthRequest } from './forward-request.js';

/**
 * Picks the route for one forward-auth subrequest: the callback, logout, back-channel logout and
 * userinfo URLs first (matched on the raw path), a CORS preflight where allowCorsPreflight is on,
 * then a bearer token where bearerTokens is on, then the session check, or a login when there is
 * no session.
 * A store or provider that cannot answer turns into 503 here, whichever route met it.
 */
export async function handleForwardAuth(rt: MiddlewareRuntime, request: ForwardAuthRequest): Promise<Answer> {
  try {
    return await route(rt, request);
  } catch (error) {
    if (!isTransientError(error)) throw error;
    rt.log.warn({ code: error.code, reason: error.message }, 'a dependency did not answer; refusing for now');
    // The callback's URL holds a code and a state: even its 503 must not be cached or sent on in a Referer.
    return isAt(rt.urls.redirect, request.original) ? callbackAnswer(unavailable(error.code)) : unavailable(error.code);
  }
}

async function route(rt: MiddlewareRuntime, request: ForwardAuthRequest): Promise<Answer> {
  const { original } = request;
  const jar = parseCookieHeader(request.headers.cookie);
  if (isAt(rt.urls.redirect, original)) return handleCallback(rt, request, jar);
  if (isAt(rt.urls.logout, original)) return handleLogout(rt, request, jar);
  if (isAt(rt.urls.backchannelLogout, original)) return handleBackchannelLogout(rt, request);
  if (isAt(rt.urls.userinfo, original)) {
    const loaded = await loadSession(rt, jar, request.nowSeconds);
    return answerUserinfo(rt, request, loaded, (found) => checkSession(rt, request, jar, found));
  }
  // Off by default; a preflight carries no credentials, so the application must answer it.
  if (rt.config.allowCorsPreflight === true && isCorsPreflight(original.method, request.headers)) return corsPreflightAnswer(rt);

  // An API caller's token, where the middleware accepts them: never a session, never a login.
  const bearer = rt.config.bearerTokens === undefined ? undefined : bearerTokenOf(request.headers.authorization);
  if (bearer !== undefined && rt.config.bearerTokens !== undefined) return checkBearerToken(rt, request, rt.config.bearerTokens, bearer);

  const loaded = await loadSession(rt, jar, request.nowSeconds);
  if (loaded !== undefined) return checkSession(rt, request, jar, loaded);
  return startLogin(rt, request, jar, staleSessionCookies(rt.config, jar));
}
