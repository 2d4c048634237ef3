import { Configuration } from 'openid-client';
import { ERROR_TABLE, isOfaError } from '../../errors.js';
import { buildAuthorizationRequest, type AuthorizationRequest } from '../../oidc/authorization.js';
import { clearCookie, serializeCookie, type CookieJar } from '../../session/cookies.js';
import { boundReturnTo, placeLoginFlow } from '../../session/state-cookie.js';
import type { Answer } from '../answer.js';
import { isAt, unavailable, UNAVAILABLE, type ForwardAuthRequest } from '../forward-request.js';
import { isTopLevelNavigation } from '../navigation.js';
import type { MiddlewareRuntime } from '../runtime.js';
import { resolveParsedUrlOption } from '../url-option.js';

/**
 * A request without a session: a 302 to the provider with state, nonce and PKCE when a login may
 * start here, else 401. `cookies` (clearing a stale session) ride along either way, except on a
 * login through nginx: nginx passes one Set-Cookie of a subrequest's answer (1.22: the first;
 * 1.23+ joins them into one header browsers do not split), and that one must be the state cookie.
 * The stale session cookie needs no clearing then: the callback replaces it.
 */
export async function startLogin(rt: MiddlewareRuntime, request: ForwardAuthRequest, jar: CookieJar, cookies: readonly string[]): Promise<Answer> {
  const decision = decideLoginStart(rt, request, cookies);
  if (!(decision instanceof Configuration)) return decision;
  const redirectUri = loginRedirectUri(rt, request);
  let authorization: AuthorizationRequest;
  try {
    // With PAR this calls the provider; its outages reach the dispatcher's 503 as transient errors.
    authorization = await buildAuthorizationRequest(decision, rt.config, redirectUri);
  } catch (error) {
    if (!isOfaError(error) || ERROR_TABLE[error.code].transient === true) throw error;
    rt.log.warn({ code: error.code, reason: error.message }, 'the login could not start');
    return { kind: 'error', code: error.code, detail: error.message, retryUrl: request.original.url.href, cookies };
  }
  return loginRedirect(rt, request, jar, cookies, authorization, redirectUri);
}

/**
 * The answer that refuses a login for this request, or the provider configuration to start it
 * with. On the anonymous page load's hot path: the go-ahead is the configuration itself, so
 * deciding allocates nothing the route would not send anyway.
 */
export function decideLoginStart(
  rt: Pick<MiddlewareRuntime, 'config' | 'urls' | 'provider' | 'store'>,
  request: Pick<ForwardAuthRequest, 'original' | 'headers'>,
  cookies: readonly string[],
): Answer | Configuration {
  const { original } = request;
  if (rt.config.disableLogin) return { kind: 'deny', code: 'OFA_LOGIN_REQUIRED', reason: 'login is disabled', cookies };
  if (rt.urls.login !== undefined && !isAt(rt.urls.login, original)) {
    return { kind: 'deny', code: 'OFA_LOGIN_REQUIRED', reason: 'login starts only at loginUrl', cookies };
  }
  // A fetch, an image or a service worker must never receive a login page or fork a second login.
  if (!isTopLevelNavigation(original.method, request.headers)) {
    return { kind: 'deny', code: 'OFA_LOGIN_REQUIRED', reason: 'not a page load', cookies };
  }
  const configuration = rt.provider.current();
  if (configuration === undefined) return UNAVAILABLE;
  // The callback could not keep the session: no one is sent to the provider for nothing.
  if (!rt.store.isAvailable()) return unavailable('OFA_STORE_UNAVAILABLE');
  return configuration;
}

/** The redirect_uri of this login: redirectUrl resolved against the request's scheme and host. */
export function loginRedirectUri(rt: Pick<MiddlewareRuntime, 'urls'>, request: Pick<ForwardAuthRequest, 'original'>): string {
  return resolveParsedUrlOption(rt.urls.redirect, request.original.url).href;
}

/**
 * The 302 to the provider, carrying the flow's state cookie: placed beside the browser's other
 * logins in progress (the oldest cleared when there are too many), or, through nginx, as the one
 * Set-Cookie that reaches the browser. A login started on loginUrl says so in its flow, so the
 * callback goes on to postLoginRedirectUrl.
 */
export function loginRedirect(
  rt: Pick<MiddlewareRuntime, 'config' | 'sealer' | 'urls'>,
  request: Pick<ForwardAuthRequest, 'original' | 'proxy' | 'nowSeconds'>,
  jar: CookieJar,
  cookies: readonly string[],
  authorization: AuthorizationRequest,
  redirectUri: string,
): Answer {
  const stateCookie = rt.config.stateCookie;
  const singleCookie = request.proxy === 'nginx';
  const placed = placeLoginFlow(
    rt.sealer,
    rt.config,
    stateCookie.name,
    jar,
    {
      state: authorization.state,
      nonce: authorization.nonce,
      ...(authorization.codeVerifier === undefined ? {} : { codeVerifier: authorization.codeVerifier }),
      returnTo: boundReturnTo(request.original.url),
      redirectUri,
      viaLoginUrl: isAt(rt.urls.login, request.original),
      createdAt: request.nowSeconds,
    },
    request.nowSeconds,
    stateCookie.maxAge,
    { singleCookie },
  );
  const stateSetCookie = serializeCookie(placed.cookieName, placed.value, { ...stateCookie, maxAge: stateCookie.maxAge });
  return {
    kind: 'redirect',
    purpose: 'login',
    location: authorization.url.href,
    cookies: singleCookie
      ? [stateSetCookie]
      : [...cookies, ...placed.toClear.map((name) => clearCookie(name, stateCookie)), stateSetCookie],
  };
}
