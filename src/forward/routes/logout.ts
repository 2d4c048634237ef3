import type { IncomingHttpHeaders } from 'node:http';
import { endSessionUrl } from '../../oidc/end-session.js';
import { cookieValues, type CookieJar } from '../../session/cookies.js';
import { isSafeMethod, verifyCsrfToken } from '../../session/csrf.js';
import { endSessionCookies } from '../../session/session-cookies.js';
import type { Session } from '../../session/session.js';
import type { Answer } from '../answer.js';
import { headerValue, loadSession, type ForwardAuthRequest } from '../forward-request.js';
import type { OriginalRequest } from '../original-request.js';
import type { MiddlewareRuntime } from '../runtime.js';
import { resolveParsedUrlOption } from '../url-option.js';

/**
 * logoutUrl: end the session here (revoked in the store, cookies cleared), then at the provider
 * when it has an end_session_endpoint, else go to postLogoutRedirectUrl or show a signed-out page.
 * Not when another site asks: with csrf on, an unsafe method needs the token (403, session kept),
 * and a cross-site request gets a page to confirm on, whose link is a same-origin navigation.
 */
export async function handleLogout(rt: MiddlewareRuntime, request: ForwardAuthRequest, jar: CookieJar): Promise<Answer> {
  const loaded = await loadSession(rt, cookieValues(jar, rt.config.session.name), request.nowSeconds);
  const decision = decideLogout(rt, request, loaded?.session);
  if (decision.kind !== 'end-session') return decision;
  if (decision.revoke !== undefined) {
    await rt.store.revoke(decision.revoke, request.nowSeconds);
    rt.telemetry.sessionEvent('ended_by_logout');
  }
  return decision.then;
}

/** Revoke this session in the store (when there is one), then answer `then`. */
export interface EndSession {
  readonly kind: 'end-session';
  readonly revoke: Session | undefined;
  readonly then: Answer;
}

/**
 * What a request to logoutUrl does, given the session it carries (if any): refused or offered for
 * confirmation (nothing ends), or the session ended and the browser sent on, to the provider's
 * end_session_endpoint, postLogoutRedirectUrl or our signed-out page, in that order.
 */
export function decideLogout(
  rt: Pick<MiddlewareRuntime, 'config' | 'urls' | 'provider' | 'csrfKeys'>,
  request: Pick<ForwardAuthRequest, 'original' | 'headers'>,
  session: Session | undefined,
): Answer | EndSession {
  if (session !== undefined && rt.config.csrf !== undefined && !isSafeMethod(request.original.method)) {
    const token = headerValue(request.headers, rt.config.csrf.headerName);
    if (!verifyCsrfToken(rt.csrfKeys, session.id, token)) {
      return { kind: 'deny', code: 'OFA_CSRF_INVALID', reason: 'missing or invalid CSRF token', cookies: [] };
    }
  }
  if (isCrossSite(request.headers, request.original)) {
    const here = rt.urls.logout === undefined ? request.original.url.href : resolveParsedUrlOption(rt.urls.logout, request.original.url).href;
    return { kind: 'confirm-logout', location: here };
  }
  const cookies = endSessionCookies(rt.config);
  const postLogout =
    rt.urls.postLogout === undefined ? undefined : resolveParsedUrlOption(rt.urls.postLogout, request.original.url).href;
  const configuration = rt.provider.current();
  const atProvider =
    configuration === undefined
      ? undefined
      : endSessionUrl(configuration, { clientID: rt.config.clientID, idTokenHint: session?.idToken, postLogoutRedirectUri: postLogout });
  const then: Answer =
    atProvider !== undefined
      ? { kind: 'redirect', purpose: 'logout', location: atProvider.href, cookies }
      : postLogout !== undefined
        ? { kind: 'redirect', purpose: 'logout', location: postLogout, cookies }
        : { kind: 'signed-out', cookies };
  return { kind: 'end-session', revoke: session, then };
}

/** Fetch Metadata sites a logout may come from without a confirmation: typed URLs, bookmarks, our own pages. */
const TRUSTED_FETCH_SITES: ReadonlySet<string> = new Set(['none', 'same-origin', 'same-site']);

/**
 * Whether another site started this request. Sec-Fetch-Site when the browser sends it (pages cannot
 * set it; an unknown value counts as cross-site); otherwise an Origin other than the request's own
 * (`null` included). Without either, a typed URL or an old browser's same-site link: not cross-site.
 */
function isCrossSite(headers: IncomingHttpHeaders, original: OriginalRequest): boolean {
  const site = headers['sec-fetch-site'];
  if (site !== undefined) return typeof site !== 'string' || !TRUSTED_FETCH_SITES.has(site.trim().toLowerCase());
  const origin = headers.origin;
  if (origin === undefined) return false;
  return typeof origin !== 'string' || origin.trim() !== original.url.origin;
}
