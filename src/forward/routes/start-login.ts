import { buildAuthorizationRequest } from '../../oidc/authorization.js';
import { clearCookie, serializeCookie, type CookieJar } from '../../session/cookies.js';
import { flowCookiesToClear, sealLoginFlow } from '../../session/state-cookie.js';
import type { Answer } from '../answer.js';
import { isAt, unavailable, UNAVAILABLE, type ForwardAuthRequest } from '../forward-request.js';
import { isTopLevelNavigation } from '../navigation.js';
import type { MiddlewareRuntime } from '../runtime.js';
import { resolveParsedUrlOption } from '../url-option.js';

/**
 * A request without a session: a 302 to the provider with state, nonce and PKCE when a login may
 * start here, else 401. `cookies` (clearing a stale session) ride along either way.
 */
export async function startLogin(rt: MiddlewareRuntime, request: ForwardAuthRequest, jar: CookieJar, cookies: readonly string[]): Promise<Answer> {
  const { original } = request;
  if (rt.config.disableLogin) return { kind: 'deny', code: 'OFA_LOGIN_REQUIRED', reason: 'login is disabled', cookies };
  const atLoginUrl = isAt(rt.urls.login, original);
  if (rt.urls.login !== undefined && !atLoginUrl) {
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

  const redirectUri = resolveParsedUrlOption(rt.urls.redirect, original.url).href;
  const authorization = await buildAuthorizationRequest(configuration, rt.config, redirectUri);
  const stateCookie = rt.config.stateCookie;
  const flow = sealLoginFlow(rt.sealer, rt.config.name, stateCookie.name, {
    state: authorization.state,
    nonce: authorization.nonce,
    ...(authorization.codeVerifier === undefined ? {} : { codeVerifier: authorization.codeVerifier }),
    returnTo: original.url.href,
    viaLoginUrl: atLoginUrl,
    createdAt: request.nowSeconds,
  });
  const evicted = flowCookiesToClear(rt.sealer, rt.config.name, stateCookie.name, jar, request.nowSeconds, stateCookie.maxAge);
  return {
    kind: 'redirect',
    purpose: 'login',
    location: authorization.url.href,
    cookies: [
      ...cookies,
      ...evicted.map((name) => clearCookie(name, stateCookie)),
      serializeCookie(flow.cookieName, flow.value, { ...stateCookie, maxAge: stateCookie.maxAge }),
    ],
  };
}
