import type { ClaimSources } from '../../claims/index.js';
import { ERROR_TABLE, type ErrorCode } from '../../errors.js';
import type { CookieJar } from '../../session/cookies.js';
import { isSafeMethod, verifyCsrfToken } from '../../session/csrf.js';
import type { Session } from '../../session/session.js';
import { endSessionCookies, sessionCookies } from '../../session/session-cookies.js';
import type { LoadedSession } from '../../session/store.js';
import { dropsCookiesOnSuccess, type Answer } from '../answer.js';
import { cookieContext, headerValue, isAt, unavailable, UNAVAILABLE, type ForwardAuthRequest } from '../forward-request.js';
import { lacksNeededClaims } from '../kept-claims.js';
import { accessTokenExpiresWithin, accessTokenLeewaySeconds, lacksPassedTokens, passedAccessTokenExpired, withApplicationTokens } from '../application-tokens.js';
import { claimsVerdict, debugClaimsDenied, identityTooLarge, warnIdentityTooLarge, type TooLargeBudget } from '../identity.js';
import { isTopLevelNavigation } from '../navigation.js';
import { refreshSession, slidExpiry } from '../refresh-session.js';
import type { MiddlewareRuntime } from '../runtime.js';
import { resolveParsedUrlOption } from '../url-option.js';
import { startLogin } from './start-login.js';

/** Access tokens this close to expiry are refreshed already, so the upstream never gets a stale identity. */
const ACCESS_TOKEN_EXPIRY_LEEWAY_SECONDS = 5;
/** Sliding renewal waits until this share of the lifetime has passed: one small write now and then, not on every request. */
const SLIDING_RENEWAL_SHARE = 0.1;
/** Shared by every answer that sets no cookie: nothing downstream adds to an answer's cookies. */
const NO_COOKIES: readonly string[] = Object.freeze([]);

/** Where the check of one request stands: the session as loaded, or as a refresh or save left it. */
export interface SessionState {
  readonly session: Session;
  /** Still to be written anew (opened with an old key, or otherwise due for rewriting). */
  readonly stale: boolean;
  /** What a refresh or save of this request returned: the browser must get it. */
  readonly cookieValue: string | undefined;
  /** A refresh ran for this request: it does not run twice. */
  readonly refreshed: boolean;
}

/**
 * What the check asks of its shell: an answer to send, or I/O to perform first. After a refresh
 * or a save the shell asks again with the state they left; neither is asked for twice.
 */
export type SessionStep =
  | Answer
  /** maxLifetime has passed since sign-in: revoke, clear the cookies, start a login. */
  | { readonly kind: 'end-session'; readonly reason: 'max-lifetime' }
  /** The access token is due or claims are lacking: spend the refresh token. */
  | { readonly kind: 'refresh' }
  /** The session lacks claims the configuration now reads and no refresh brings them: a new login, with these cookies. */
  | { readonly kind: 'sign-in-again'; readonly cookies: readonly string[] }
  /** Write the session (a sliding renewal, or a stale one rewritten). */
  | { readonly kind: 'save'; readonly session: Session; readonly renewal: boolean }
  | { readonly kind: 'identity-too-large'; readonly budget: TooLargeBudget; readonly cookies: readonly string[] };

const END_AT_MAX_LIFETIME: SessionStep = Object.freeze({ kind: 'end-session', reason: 'max-lifetime' });
const REFRESH: SessionStep = Object.freeze({ kind: 'refresh' });

/**
 * A request that carries a session: refresh when the access token has expired, then CSRF, then
 * the claims rule, then sliding renewal; 200 with the forwarded headers when all say yes. This
 * shell performs what decideSession asks for.
 */
export async function checkSession(
  rt: MiddlewareRuntime,
  request: ForwardAuthRequest,
  cookies: () => CookieJar,
  loaded: LoadedSession,
): Promise<Answer> {
  const { nowSeconds } = request;
  let state: SessionState = { session: loaded.session, stale: loaded.stale, cookieValue: undefined, refreshed: false };
  let step = decideSession(rt, request, state);
  if (rt.log.isLevelEnabled('debug') && step.kind !== 'end-session' && step.kind !== 'sign-in-again' && refreshWaitsForPageLoad(rt, request, state.session)) {
    rt.log.debug('access token expired; the refresh waits for a page load that can carry the new cookie');
  }
  for (;;) {
    switch (step.kind) {
      case 'end-session':
        rt.log.info('session ended: session.maxLifetime has passed since sign-in');
        return endSession(rt, request, cookies, state.session, 'ended_by_max_lifetime');
      case 'sign-in-again':
        rt.log.info(
          state.refreshed
            ? 'the refreshed session still lacks claims the configuration now reads; it is renewed by a new sign-in'
            : 'the session lacks claims the configuration now reads; it is renewed by a new sign-in',
        );
        return startLogin(rt, request, cookies(), step.cookies);
      case 'refresh': {
        const outcome = await refreshSession(rt, state.session, nowSeconds);
        if (!outcome.ok && outcome.transient) {
          // An outage at the provider is not a reason to sign everyone out: fail closed, keep the session.
          rt.log.warn({ code: outcome.code }, 'refresh failed for now; the session is kept');
          // The provider's own code where it has one (a timeout is 504, a garbled answer 502).
          return isErrorCode(outcome.code) ? unavailable(outcome.code) : UNAVAILABLE;
        }
        if (!outcome.ok) {
          rt.log.info({ code: outcome.code }, 'session ended: it needed a refresh and could not be refreshed');
          return endSession(rt, request, cookies, state.session, 'ended_by_failed_refresh');
        }
        state = { session: outcome.session, stale: state.stale, cookieValue: outcome.cookieValue, refreshed: true };
        break;
      }
      case 'save':
        state = { session: step.session, stale: false, cookieValue: await rt.store.save(step.session, nowSeconds), refreshed: state.refreshed };
        if (step.renewal) rt.telemetry.sessionEvent('renewed');
        break;
      case 'identity-too-large':
        warnIdentityTooLarge(rt.log, step.budget);
        return identityTooLarge(step.budget, step.cookies);
      default:
        if (step.kind === 'deny' && step.code === 'OFA_CLAIMS_DENIED') {
          debugClaimsDenied(rt.log, rt, claimSourcesOf(state.session), 'claims expression denied the request');
        }
        return step;
    }
    step = decideSession(rt, request, state);
  }
}

async function endSession(
  rt: MiddlewareRuntime,
  request: ForwardAuthRequest,
  cookies: () => CookieJar,
  session: Session,
  event: 'ended_by_max_lifetime' | 'ended_by_failed_refresh',
): Promise<Answer> {
  await rt.store.revoke(session, request.nowSeconds);
  rt.telemetry.sessionEvent(event);
  return startLogin(rt, request, cookies(), endSessionCookies(rt.config));
}

/**
 * The session check as a decision over the request, the session where it stands, and the
 * runtime's configuration: no store, no provider, no log.
 */
export function decideSession(rt: MiddlewareRuntime, request: ForwardAuthRequest, state: SessionState): SessionStep {
  const { nowSeconds, original } = request;
  const { session } = state;

  // The absolute lifetime counts from sign-in: neither use (sliding) nor refresh extends it.
  const { maxLifetime } = rt.config.session;
  if (maxLifetime !== undefined && nowSeconds >= session.createdAt + maxLifetime) return END_AT_MAX_LIFETIME;

  // The configuration reads a claim this session never kept (a reload added it): no answer from
  // it can vouch for the identity until a refresh or a new sign-in brings the claim.
  const lacksClaims = lacksNeededClaims(rt, session) || lacksPassedTokens(rt.config, session);
  if (state.refreshed) {
    // The refresh did not bring them (no new ID token): a new sign-in will, the refreshed session rides along meanwhile.
    if (lacksClaims) return { kind: 'sign-in-again', cookies: cookiesToSet(rt, state) };
  } else {
    const accessTokenExpired = accessTokenExpiresWithin(session, nowSeconds, accessTokenLeewaySeconds(rt.config, ACCESS_TOKEN_EXPIRY_LEEWAY_SECONDS));
    const canRefresh = rt.config.session.refresh && session.refreshToken !== undefined;
    if (lacksClaims && (!canRefresh || refreshMustWait(rt, request, session))) return { kind: 'sign-in-again', cookies: NO_COOKIES };
    if (accessTokenExpired && refreshMustWait(rt, request, session)) {
      // The application would get a token its API refuses: the caller's 401 makes the page reload.
      if (passedAccessTokenExpired(rt.config, session, nowSeconds)) {
        return { kind: 'deny', code: 'OFA_LOGIN_REQUIRED', reason: 'the access token has expired; a page load refreshes it', cookies: NO_COOKIES };
      }
    } else if (accessTokenExpired || lacksClaims) {
      return REFRESH;
    }
  }

  // A refresh that ran before a 403 may have rotated the refresh token: the browser must still get
  // the new session, or its next request (on another replica) spends the old token and is signed out.
  if (rt.config.csrf !== undefined && !isSafeMethod(original.method)) {
    const token = headerValue(request.headers, rt.config.csrf.headerName);
    if (!verifyCsrfToken(rt.csrfKeys, session.id, token)) {
      return { kind: 'deny', code: 'OFA_CSRF_INVALID', reason: 'missing or invalid CSRF token', cookies: cookiesToSet(rt, state) };
    }
  }

  const verdict = claimsVerdict(rt, claimSourcesOf(session), session.id);
  if (!verdict.allowed) {
    return {
      kind: 'deny',
      code: 'OFA_CLAIMS_DENIED',
      reason: 'the claims expression does not allow this user',
      cookies: cookiesToSet(rt, state),
      ...(rt.urls.logout === undefined ? {} : { signOutUrl: resolveParsedUrlOption(rt.urls.logout, original.url).href }),
    };
  }

  // A save leaves the session renewed now and not stale, so neither asks again.
  if (rt.config.session.sliding && nowSeconds - session.renewedAt >= slidingRenewalAfterSeconds(rt.config.session.expiry)) {
    return { kind: 'save', session: { ...session, renewedAt: nowSeconds, expiresAt: slidExpiry(rt, session, nowSeconds) }, renewal: true };
  }
  if (state.stale && state.cookieValue === undefined) return { kind: 'save', session, renewal: false };
  const renewed = cookiesToSet(rt, state);
  // Where a 2xx cannot carry the cookie, a page load gets it on a 302 back to the same URL; a
  // background request goes on with the still-valid session and no renewal.
  if (renewed.length > 0 && dropsCookiesOnSuccess(request.proxy) && isTopLevelNavigation(original.method, request.headers)) {
    return { kind: 'redirect', purpose: 'renew', location: original.url.href, cookies: renewed };
  }

  // Already signed in at loginUrl: go where a fresh login would have gone.
  if (rt.urls.postLogin !== undefined && isAt(rt.urls.login, original) && isTopLevelNavigation(original.method, request.headers)) {
    return { kind: 'redirect', purpose: 'callback', location: resolveParsedUrlOption(rt.urls.postLogin, original.url).href, cookies: renewed };
  }
  const { headers, budget, username } = withApplicationTokens(rt.config, verdict.identity(), session);
  if (!budget.ok) return { kind: 'identity-too-large', budget, cookies: renewed };
  return { kind: 'allow', headers, cookies: renewed, username };
}

/**
 * Until when an allow answer for `session` (with no cookie to set) stays the answer, if nothing is
 * revoked meanwhile: the first moment the check above would do something else for it (the session
 * expires, its access token is due for a refresh, sliding renewal is due, maxLifetime ends).
 */
export function allowAnswerFreshUntil(rt: MiddlewareRuntime, session: LoadedSession['session']): number {
  let until = session.expiresAt;
  const { maxLifetime, sliding, expiry } = rt.config.session;
  if (maxLifetime !== undefined) until = Math.min(until, session.createdAt + maxLifetime);
  if (session.accessTokenExpiresAt !== undefined) {
    until = Math.min(until, session.accessTokenExpiresAt - accessTokenLeewaySeconds(rt.config, ACCESS_TOKEN_EXPIRY_LEEWAY_SECONDS));
  }
  if (sliding) until = Math.min(until, session.renewedAt + slidingRenewalAfterSeconds(expiry));
  return until;
}

/** How long after a renewal sliding renewal is due again. */
function slidingRenewalAfterSeconds(expirySeconds: number): number {
  return Math.max(1, Math.floor(expirySeconds * SLIDING_RENEWAL_SHARE));
}

/** The session cookies a refresh or save of this request calls for; none when the browser's cookie stays. */
function cookiesToSet(rt: MiddlewareRuntime, state: SessionState): readonly string[] {
  return state.cookieValue === undefined ? NO_COOKIES : sessionCookies(cookieContext(rt), state.session, state.cookieValue);
}

function claimSourcesOf(session: Session): ClaimSources {
  return { idToken: session.idClaims, accessToken: session.accessClaims };
}

/**
 * A rotating refresh token must not be spent unless its successor reaches the browser. Behind a
 * proxy that drops a 2xx answer's cookies, a cookie session's refresh waits for a page load (whose
 * 302 back to the same URL carries the cookie); the background request goes on with the session,
 * still valid, and the claims it holds. A server-side store keeps the new token itself.
 */
function refreshMustWait(rt: MiddlewareRuntime, request: ForwardAuthRequest, session: Session): boolean {
  if (!rt.config.session.refresh || session.refreshToken === undefined) return false;
  return !rt.store.serverSide && dropsCookiesOnSuccess(request.proxy) && !isTopLevelNavigation(request.original.method, request.headers);
}

/** The access token is due, and its refresh waits behind a proxy that drops a 2xx's cookies. */
function refreshWaitsForPageLoad(rt: MiddlewareRuntime, request: ForwardAuthRequest, session: Session): boolean {
  return accessTokenExpiresWithin(session, request.nowSeconds, accessTokenLeewaySeconds(rt.config, ACCESS_TOKEN_EXPIRY_LEEWAY_SECONDS)) && refreshMustWait(rt, request, session);
}

function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_TABLE, code);
}
