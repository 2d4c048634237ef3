import type { ClaimSources } from '../../claims/index.js';
import { ERROR_TABLE, type ErrorCode } from '../../errors.js';
import type { CookieJar } from '../../session/cookies.js';
import { isSafeMethod, verifyCsrfToken } from '../../session/csrf.js';
import { endSessionCookies, sessionCookies } from '../../session/session-cookies.js';
import { createLru, type Lru } from '../../cache/lru.js';
import type { LoadedSession } from '../../session/store.js';
import { dropsCookiesOnSuccess, type Answer } from '../answer.js';
import { checkIdentityHeaderBudget, type IdentityHeaderBudget } from '../forwarded-headers.js';
import { cookieContext, headerValue, isAt, unavailable, UNAVAILABLE, type ForwardAuthRequest } from '../forward-request.js';
import { lacksNeededClaims } from '../kept-claims.js';
import { accessTokenExpiresWithin, accessTokenLeewaySeconds, lacksPassedTokens, passedAccessTokenExpired, withApplicationTokens } from '../application-tokens.js';
import { isTopLevelNavigation } from '../navigation.js';
import { refreshSession, slidExpiry } from '../refresh-session.js';
import type { MiddlewareRuntime } from '../runtime.js';
import { resolveParsedUrlOption } from '../url-option.js';
import { identityHeaders, identityTooLarge, identityUsername } from './identity-headers.js';
import { startLogin } from './start-login.js';

/** Access tokens this close to expiry are refreshed already, so the upstream never gets a stale identity. */
const ACCESS_TOKEN_EXPIRY_LEEWAY_SECONDS = 5;
/** Sliding renewal waits until this share of the lifetime has passed: one small write now and then, not on every request. */
const SLIDING_RENEWAL_SHARE = 0.1;

/**
 * A request that carries a session: refresh when the access token has expired, then CSRF, then
 * the claims rule, then sliding renewal; 200 with the forwarded headers when all say yes.
 */
export async function checkSession(
  rt: MiddlewareRuntime,
  request: ForwardAuthRequest,
  cookies: () => CookieJar,
  loaded: LoadedSession,
): Promise<Answer> {
  const { nowSeconds } = request;
  let session = loaded.session;
  /** Set when the browser must get a new session cookie. */
  let cookieValue: string | undefined;

  // The absolute lifetime counts from sign-in: neither use (sliding) nor refresh extends it.
  const { maxLifetime } = rt.config.session;
  if (maxLifetime !== undefined && nowSeconds >= session.createdAt + maxLifetime) {
    rt.log.info('session ended: session.maxLifetime has passed since sign-in');
    await rt.store.revoke(session, nowSeconds);
    rt.telemetry.sessionEvent('ended_by_max_lifetime');
    return startLogin(rt, request, cookies(), endSessionCookies(rt.config));
  }

  const accessTokenExpired = accessTokenExpiresWithin(session, nowSeconds, accessTokenLeewaySeconds(rt.config, ACCESS_TOKEN_EXPIRY_LEEWAY_SECONDS));
  // The configuration reads a claim this session never kept (a reload added it): no answer from
  // it can vouch for the identity until a refresh or a new sign-in brings the claim.
  const lacksClaims = lacksNeededClaims(rt, session) || lacksPassedTokens(rt.config, session);
  const canRefresh = rt.config.session.refresh && session.refreshToken !== undefined;
  if (lacksClaims && (!canRefresh || refreshMustWait(rt, request, session))) {
    rt.log.info('the session lacks claims the configuration now reads; it is renewed by a new sign-in');
    return startLogin(rt, request, cookies(), []);
  }
  if (accessTokenExpired && refreshMustWait(rt, request, session)) {
    rt.log.debug('access token expired; the refresh waits for a page load that can carry the new cookie');
    // The application would get a token its API refuses: the caller's 401 makes the page reload.
    if (passedAccessTokenExpired(rt.config, session, nowSeconds)) {
      return { kind: 'deny', code: 'OFA_LOGIN_REQUIRED', reason: 'the access token has expired; a page load refreshes it', cookies: [] };
    }
  } else if (accessTokenExpired || lacksClaims) {
    const outcome = await refreshSession(rt, session, nowSeconds);
    if (!outcome.ok && outcome.transient) {
      // An outage at the provider is not a reason to sign everyone out: fail closed, keep the session.
      rt.log.warn({ code: outcome.code }, 'refresh failed for now; the session is kept');
      // The provider's own code where it has one (a timeout is 504, a garbled answer 502).
      return isErrorCode(outcome.code) ? unavailable(outcome.code) : UNAVAILABLE;
    }
    if (!outcome.ok) {
      rt.log.info({ code: outcome.code }, 'session ended: it needed a refresh and could not be refreshed');
      await rt.store.revoke(session, nowSeconds);
      rt.telemetry.sessionEvent('ended_by_failed_refresh');
      return startLogin(rt, request, cookies(), endSessionCookies(rt.config));
    }
    session = outcome.session;
    cookieValue = outcome.cookieValue;
    if (lacksNeededClaims(rt, session) || lacksPassedTokens(rt.config, session)) {
      // The refresh did not bring them (no new ID token): a new sign-in will, the refreshed session rides along meanwhile.
      rt.log.info('the refreshed session still lacks claims the configuration now reads; it is renewed by a new sign-in');
      return startLogin(rt, request, cookies(), cookieValue === undefined ? [] : sessionCookies(cookieContext(rt), session, cookieValue));
    }
  }
  // A refresh that ran before a 403 may have rotated the refresh token: the browser must still get
  // the new session, or its next request (on another replica) spends the old token and is signed out.
  const refreshedCookies = (): string[] => (cookieValue === undefined ? [] : sessionCookies(cookieContext(rt), session, cookieValue));

  if (rt.config.csrf !== undefined && !isSafeMethod(request.original.method)) {
    const token = headerValue(request.headers, rt.config.csrf.headerName);
    if (!verifyCsrfToken(rt.csrfKeys, session.id, token)) {
      return { kind: 'deny', code: 'OFA_CSRF_INVALID', reason: 'missing or invalid CSRF token', cookies: refreshedCookies() };
    }
  }

  const sources: ClaimSources = { idToken: session.idClaims, accessToken: session.accessClaims };
  const verdict = claimsVerdict(rt, sources);
  if (!verdict.allowed) {
    if (rt.claims !== undefined && rt.log.isLevelEnabled('debug')) {
      rt.log.debug({ explanation: rt.claims.explain(sources) }, 'claims expression denied the request');
    }
    return {
      kind: 'deny',
      code: 'OFA_CLAIMS_DENIED',
      reason: 'the claims expression does not allow this user',
      cookies: refreshedCookies(),
      ...(rt.urls.logout === undefined ? {} : { signOutUrl: resolveParsedUrlOption(rt.urls.logout, request.original.url).href }),
    };
  }

  const lifetime = rt.config.session.expiry;
  if (rt.config.session.sliding && nowSeconds - session.renewedAt >= slidingRenewalAfterSeconds(lifetime)) {
    session = { ...session, renewedAt: nowSeconds, expiresAt: slidExpiry(rt, session, nowSeconds) };
    cookieValue = await rt.store.save(session, nowSeconds);
    rt.telemetry.sessionEvent('renewed');
  } else if (loaded.stale && cookieValue === undefined) {
    cookieValue = await rt.store.save(session, nowSeconds);
  }
  const renewed = refreshedCookies();
  // Where a 2xx cannot carry the cookie, a page load gets it on a 302 back to the same URL; a
  // background request goes on with the still-valid session and no renewal.
  if (renewed.length > 0 && dropsCookiesOnSuccess(request.proxy) && isTopLevelNavigation(request.original.method, request.headers)) {
    return { kind: 'redirect', purpose: 'renew', location: request.original.url.href, cookies: renewed };
  }

  // Already signed in at loginUrl: go where a fresh login would have gone.
  if (rt.urls.postLogin !== undefined && isAt(rt.urls.login, request.original) && isTopLevelNavigation(request.original.method, request.headers)) {
    return { kind: 'redirect', purpose: 'callback', location: resolveParsedUrlOption(rt.urls.postLogin, request.original.url).href, cookies: renewed };
  }
  const { headers, budget, username } = withApplicationTokens(rt.config, verdict.identity(), session);
  if (!budget.ok) return identityTooLarge(rt, budget, renewed);
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

/**
 * A rotating refresh token must not be spent unless its successor reaches the browser. Behind a
 * proxy that drops a 2xx answer's cookies, a cookie session's refresh waits for a page load (whose
 * 302 back to the same URL carries the cookie); the background request goes on with the session,
 * still valid, and the claims it holds. A server-side store keeps the new token itself.
 */
function refreshMustWait(rt: MiddlewareRuntime, request: ForwardAuthRequest, session: LoadedSession['session']): boolean {
  if (!rt.config.session.refresh || session.refreshToken === undefined) return false;
  return !rt.store.serverSide && dropsCookiesOnSuccess(request.proxy) && !isTopLevelNavigation(request.original.method, request.headers);
}

/** What a session's claims come to under one middleware runtime: the rule's answer, then the identity it forwards. */
interface ClaimsVerdict {
  readonly accessClaims: ClaimSources['accessToken'];
  readonly allowed: boolean;
  /** Computed on first use: a denied session never needs it. */
  identity(): ForwardedIdentity;
}

interface ForwardedIdentity {
  readonly headers: Readonly<Record<string, string>>;
  readonly budget: IdentityHeaderBudget;
  readonly username: string | undefined;
}

/**
 * Verdicts per runtime and session, computed once: a decoded session is shared by every request
 * that carries its cookie (the stores cache it), and its claims are deeply frozen
 * (sealed-session.ts), so the rule's answer and the header values cannot change while the same
 * claims objects live. Keyed by the ID-token claims object, which a sliding renewal's copy of the
 * session keeps; a refresh or a re-sealed session brings new claims objects, hence a new entry.
 * Per runtime, since a reload builds a new one (perhaps another rule, other headers), and weakly
 * there, so an old runtime is not kept alive from here. Within a runtime a bounded LRU, not a
 * WeakMap keyed by the claims: with sessions coming and going, a WeakMap's entries cost the
 * garbage collector more than the verdict saves.
 */
const VERDICTS_PER_RUNTIME = 1000;
const verdictsByRuntime = new WeakMap<MiddlewareRuntime, Lru<object, ClaimsVerdict>>();

function claimsVerdict(rt: MiddlewareRuntime, sources: ClaimSources): ClaimsVerdict {
  const { idToken, accessToken } = sources;
  const cacheable = Object.isFrozen(idToken) && (accessToken === undefined || Object.isFrozen(accessToken));
  let verdicts = cacheable ? verdictsByRuntime.get(rt) : undefined;
  const cached = verdicts?.get(idToken);
  if (cached !== undefined && cached.accessClaims === accessToken) return cached;
  let identity: ForwardedIdentity | undefined;
  const verdict: ClaimsVerdict = {
    accessClaims: accessToken,
    allowed: rt.claims === undefined || rt.claims.evaluate(sources),
    identity: () => (identity ??= forwardedIdentity(rt, sources)),
  };
  if (cacheable) {
    if (verdicts === undefined) verdictsByRuntime.set(rt, (verdicts = createLru(VERDICTS_PER_RUNTIME)));
    verdicts.set(idToken, verdict);
  }
  return verdict;
}

function forwardedIdentity(rt: MiddlewareRuntime, sources: ClaimSources): ForwardedIdentity {
  // Frozen: one object goes into the answers of every request of this session.
  const headers = Object.freeze(identityHeaders(rt, sources));
  return { headers, budget: checkIdentityHeaderBudget(headers), username: identityUsername(rt, sources) };
}

function isErrorCode(code: string): code is ErrorCode {
  return Object.hasOwn(ERROR_TABLE, code);
}
