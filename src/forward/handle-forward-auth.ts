import { isTransientError } from '../errors.js';
import { parseCookieHeader, scanCookieValues, type CookieJar } from '../session/cookies.js';
import { isSafeMethod } from '../session/csrf.js';
import { staleSessionCookies } from '../session/session-cookies.js';
import { callbackAnswer, type Answer } from './answer.js';
import { isAt, loadSession, unavailable, type ForwardAuthRequest } from './forward-request.js';
import { handleBackchannelLogout } from './routes/backchannel-logout.js';
import { bearerTokenOf } from '../oidc/access-token.js';
import { handleCallback } from './routes/callback.js';
import { checkBearerToken } from './routes/check-bearer-token.js';
import { allowAnswerFreshUntil, checkSession } from './routes/check-session.js';
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
  // The whole Cookie header is parsed only for the routes that read other cookies than the session's.
  let jar: CookieJar | undefined;
  const cookies = (): CookieJar => (jar ??= parseCookieHeader(request.headers.cookie));
  if (isAt(rt.urls.redirect, original)) return handleCallback(rt, request, cookies());
  if (isAt(rt.urls.logout, original)) return handleLogout(rt, request, cookies());
  if (isAt(rt.urls.backchannelLogout, original)) return handleBackchannelLogout(rt, request);
  const sessionValues = scanCookieValues(request.headers.cookie, rt.config.session.name);
  if (isAt(rt.urls.userinfo, original)) {
    const loaded = await loadSession(rt, sessionValues, request.nowSeconds);
    return answerUserinfo(rt, request, loaded, (found) => checkSession(rt, request, cookies, found));
  }
  // Off by default; a preflight carries no credentials, so the application must answer it.
  if (rt.config.allowCorsPreflight === true && isCorsPreflight(original.method, request.headers)) return corsPreflightAnswer(rt);

  // An API caller's token, where the middleware accepts them: never a session, never a login.
  const bearer = rt.config.bearerTokens === undefined ? undefined : bearerTokenOf(request.headers.authorization);
  if (bearer !== undefined && rt.config.bearerTokens !== undefined) return checkBearerToken(rt, request, rt.config.bearerTokens, bearer);

  // Read before the load: a revocation that lands while the session loads keeps its answer out of the cache.
  const epoch = sessionValues.length === 1 && answerIsRequestIndependent(rt, request) ? rt.store.verdictEpoch?.() : undefined;
  const cookieValue = sessionValues[0];
  if (epoch !== undefined && cookieValue !== undefined) {
    const cached = rt.verdicts.lookup(cookieValue, request.nowSeconds, epoch);
    if (cached !== undefined) return cached;
  }
  const loaded = await loadSession(rt, sessionValues, request.nowSeconds);
  if (loaded === undefined) return startLogin(rt, request, cookies(), staleSessionCookies(rt.config, cookies()));
  const answer = await checkSession(rt, request, cookies, loaded);
  if (epoch !== undefined && cookieValue !== undefined && answer.kind === 'allow' && answer.cookies.length === 0 && rt.store.verdictEpoch?.() === epoch) {
    rt.verdicts.remember(cookieValue, answer, allowAnswerFreshUntil(rt, loaded.session), epoch);
  }
  return answer;
}

/**
 * Whether a signed-in allow answer is the same for every request that carries the cookie: not for
 * an unsafe method under CSRF protection (the token is checked per request), nor at loginUrl (a
 * signed-in page load there is sent on to postLoginRedirectUrl).
 */
function answerIsRequestIndependent(rt: MiddlewareRuntime, request: ForwardAuthRequest): boolean {
  if (rt.config.csrf !== undefined && !isSafeMethod(request.original.method)) return false;
  return rt.urls.postLogin === undefined || !isAt(rt.urls.login, request.original);
}
