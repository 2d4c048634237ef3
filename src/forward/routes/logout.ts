import { buildEndSessionUrl } from 'openid-client';
import type { CookieJar } from '../../session/cookies.js';
import { endSessionCookies } from '../../session/session-cookies.js';
import type { Answer } from '../answer.js';
import { loadSession, type ForwardAuthRequest } from '../forward-request.js';
import type { MiddlewareRuntime } from '../runtime.js';
import { resolveParsedUrlOption } from '../url-option.js';

/**
 * logoutUrl: end the session here (revoked in the store, cookies cleared), then at the provider
 * when it has an end_session_endpoint, else go to postLogoutRedirectUrl or show a signed-out page.
 */
export async function handleLogout(rt: MiddlewareRuntime, request: ForwardAuthRequest, jar: CookieJar): Promise<Answer> {
  const loaded = await loadSession(rt, jar, request.nowSeconds);
  if (loaded !== undefined) await rt.store.revoke(loaded.session, request.nowSeconds);
  const cookies = endSessionCookies(rt.config);
  const postLogout =
    rt.urls.postLogout === undefined ? undefined : resolveParsedUrlOption(rt.urls.postLogout, request.original.url).href;
  const configuration = rt.provider.current();
  if (configuration?.serverMetadata().end_session_endpoint !== undefined) {
    const params: Record<string, string> = { client_id: rt.config.clientID };
    if (loaded?.session.idToken !== undefined) params.id_token_hint = loaded.session.idToken;
    if (postLogout !== undefined) params.post_logout_redirect_uri = postLogout;
    return { kind: 'redirect', purpose: 'logout', location: buildEndSessionUrl(configuration, params).href, cookies };
  }
  if (postLogout !== undefined) return { kind: 'redirect', purpose: 'logout', location: postLogout, cookies };
  return { kind: 'signed-out', cookies };
}
