import type { IncomingHttpHeaders } from 'node:http';
import { buildEndSessionUrl } from 'openid-client';
import { readClaim, type ClaimSources } from '../claims/index.js';
import { OfaError, isOfaError, type ErrorCode } from '../errors.js';
import { buildAuthorizationRequest } from '../oidc/authorization.js';
import { exchangeAuthorizationCode, refreshTokens, safeOAuthWord, type ProviderContext } from '../oidc/tokens.js';
import { createCsrfToken, isSafeMethod, verifyCsrfToken } from '../session/csrf.js';
import { newSessionId, pruneClaims, type Session } from '../session/session.js';
import { findLoginFlow, flowCookieName, flowCookiesToClear, listFlowCookies, sealLoginFlow } from '../session/state-cookie.js';
import { dropsCookiesOnSuccess, type Answer, type ProxyKind } from './answer.js';
import { clearCookie, cookieValues, parseCookieHeader, serializeCookie, type CookieJar } from './cookies.js';
import { claimText, headerValueFromClaim } from './forwarded-headers.js';
import { isTopLevelNavigation } from './navigation.js';
import type { OriginalRequest } from './original-request.js';
import { CSRF_COOKIE_NAME, type MiddlewareRuntime, type RefreshOutcome } from './runtime.js';
import { matchesUrlOption, resolveParsedUrlOption, type ParsedUrlOption } from './url-option.js';

export interface ForwardAuthRequest {
  readonly original: OriginalRequest;
  /** The original request's headers, as the proxy copied them onto the subrequest. */
  readonly headers: IncomingHttpHeaders;
  readonly proxy: ProxyKind;
  /** Epoch seconds. */
  readonly now: number;
}

/** Access tokens this close to expiry are refreshed already, so the upstream never gets a stale identity. */
const ACCESS_TOKEN_EXPIRY_LEEWAY_SECONDS = 5;
/** Sliding renewal waits until this share of the lifetime has passed: one small cookie now and then, not on every request. */
const SLIDING_RENEWAL_SHARE = 0.1;
const RETRY_AFTER_SECONDS = 5;
/** Failures that say nothing about the session itself: the provider was unreachable, slow or broken. */
const TRANSIENT_FAILURES: ReadonlySet<ErrorCode> = new Set(['OFA_PROVIDER_UNAVAILABLE', 'OFA_PROVIDER_TIMEOUT', 'OFA_PROVIDER_RESPONSE']);

/** Decides and carries out the answer to one forward-auth subrequest for one middleware. */
export async function handleForwardAuth(rt: MiddlewareRuntime, request: ForwardAuthRequest): Promise<Answer> {
  const { original } = request;
  const jar = parseCookieHeader(request.headers.cookie);
  if (isAt(rt.urls.redirect, original)) return handleCallback(rt, request, jar);
  if (rt.urls.logout !== undefined && isAt(rt.urls.logout, original)) return handleLogout(rt, request, jar);

  const session = await loadSession(rt, jar, request.now);
  if (session !== undefined) return handleAuthenticated(rt, request, jar, session.session, session.stale);
  return handleUnauthenticated(rt, request, jar, staleCookiesToClear(rt, jar));
}

function isAt(option: ParsedUrlOption, original: OriginalRequest): boolean {
  return matchesUrlOption(option, original.url, original.rawPath);
}

async function loadSession(
  rt: MiddlewareRuntime,
  jar: CookieJar,
  now: number,
): Promise<{ session: Session; stale: boolean } | undefined> {
  // Several values under our name: one may be tossed from a parent domain; any that opens is ours.
  for (const value of cookieValues(jar, rt.config.session.name)) {
    const loaded = await rt.store.load(value, now);
    if (loaded !== undefined) return loaded;
  }
  return undefined;
}

async function handleAuthenticated(
  rt: MiddlewareRuntime,
  request: ForwardAuthRequest,
  jar: CookieJar,
  loaded: Session,
  stale: boolean,
): Promise<Answer> {
  const { now } = request;
  let session = loaded;
  let cookieValue: string | undefined;

  if (session.accessTokenExpiresAt !== undefined && now >= session.accessTokenExpiresAt - ACCESS_TOKEN_EXPIRY_LEEWAY_SECONDS) {
    const outcome = await refreshSession(rt, session, now);
    if (!outcome.ok && outcome.transient) {
      // An outage at the provider is not a reason to sign everyone out: fail closed, keep the session.
      rt.log.warn({ middleware: rt.config.name, reason: outcome.reason }, 'refresh failed for now; the session is kept');
      return { kind: 'unavailable', retryAfterSeconds: RETRY_AFTER_SECONDS };
    }
    if (!outcome.ok) {
      rt.log.info({ middleware: rt.config.name, reason: outcome.reason }, 'session ended: access token expired and could not be refreshed');
      await rt.store.revoke(session);
      return handleUnauthenticated(rt, request, jar, endSessionCookies(rt));
    }
    session = outcome.session;
    cookieValue = outcome.cookieValue;
  }

  if (rt.config.csrf !== undefined && !isSafeMethod(request.original.method)) {
    const token = headerValue(request.headers, rt.config.csrf.headerName);
    if (!verifyCsrfToken(rt.csrfKeys, session.id, token)) {
      return { kind: 'deny', code: 'OFA_CSRF_INVALID', reason: 'missing or invalid CSRF token', cookies: await refreshedCookies(rt, session, loaded, cookieValue) };
    }
  }

  const sources: ClaimSources = { idToken: session.idClaims, accessToken: session.accessClaims };
  if (rt.claims !== undefined && !rt.claims.evaluate(sources)) {
    if (rt.log.isLevelEnabled('debug')) {
      rt.log.debug({ middleware: rt.config.name, explanation: rt.claims.explain(sources) }, 'claims expression denied the request');
    }
    return { kind: 'deny', code: 'OFA_CLAIMS_DENIED', reason: 'the claims expression does not allow this user', cookies: await refreshedCookies(rt, session, loaded, cookieValue) };
  }

  const lifetime = rt.config.session.expiry;
  if (rt.config.session.sliding && now - session.renewedAt >= Math.max(1, Math.floor(lifetime * SLIDING_RENEWAL_SHARE))) {
    session = { ...session, renewedAt: now, expiresAt: now + lifetime };
    cookieValue = undefined;
  }
  const renewed = session !== loaded || stale;
  const cookies = renewed ? await sessionCookies(rt, session, cookieValue) : [];
  // Where a 2xx cannot carry the cookie, a page load gets it on a 302 back to the same URL; a
  // background request goes on with the still-valid session and no renewal.
  if (renewed && dropsCookiesOnSuccess(request.proxy) && isTopLevelNavigation(request.original.method, request.headers)) {
    return { kind: 'redirect', purpose: 'renew', location: request.original.url.href, cookies };
  }

  const headers: Record<string, string> = {};
  for (const header of rt.forwardHeaders) {
    headers[header.name] = headerValueFromClaim(readForwardedClaim(sources, header.key));
  }
  const username = rt.usernameKey === undefined ? undefined : claimText(readForwardedClaim(sources, rt.usernameKey));
  // Already signed in at loginUrl: go where a fresh login would have gone.
  if (rt.urls.postLogin !== undefined && rt.urls.login !== undefined && isAt(rt.urls.login, request.original) && isTopLevelNavigation(request.original.method, request.headers)) {
    return { kind: 'redirect', purpose: 'callback', location: resolveParsedUrlOption(rt.urls.postLogin, request.original.url).href, cookies };
  }
  return { kind: 'allow', headers, cookies, username };
}

/** forwardHeaders and usernameClaim read the access token when it is a verified JWT, else the ID token. */
function readForwardedClaim(sources: ClaimSources, key: Parameters<typeof readClaim>[1]): unknown {
  if (key.token === 'id_token') return readClaim(sources.idToken, key);
  if (key.token === 'access_token') return readClaim(sources.accessToken, key);
  return readClaim(sources.accessToken ?? sources.idToken, key);
}

/**
 * One refresh per session at a time: concurrent requests share the outcome, and a request that
 * still carries the old cookie (its Set-Cookie never reached the browser) gets the same result
 * instead of spending a rotated refresh token twice.
 */
async function refreshSession(rt: MiddlewareRuntime, session: Session, now: number): Promise<RefreshOutcome> {
  const refreshToken = session.refreshToken;
  if (!rt.config.session.refresh || refreshToken === undefined) {
    return { ok: false, reason: rt.config.session.refresh ? 'no refresh token' : 'refresh disabled', transient: false };
  }
  const key = `${session.id}:${session.accessTokenExpiresAt ?? 0}`;
  const outcome = await rt.refreshes.runOnce(key, rt.config.session.expiry, now, async (): Promise<RefreshOutcome> => {
    const provider = providerContext(rt);
    if (provider === undefined) return { ok: false, reason: 'provider not discovered yet', transient: true };
    try {
      const tokens = await refreshTokens(provider, refreshToken, session.subject, now);
      const refreshed: Session = {
        ...session,
        idClaims: tokens.idClaims === undefined ? session.idClaims : pruneClaims(tokens.idClaims, rt.keptIdClaims),
        accessClaims: tokens.accessClaims === undefined ? undefined : pruneClaims(tokens.accessClaims, rt.keptAccessClaims),
        idToken: tokens.idToken ?? session.idToken,
        refreshToken: tokens.refreshToken,
        accessTokenExpiresAt: tokens.accessTokenExpiresAt,
        renewedAt: now,
        expiresAt: rt.config.session.sliding ? now + rt.config.session.expiry : session.expiresAt,
      };
      return { ok: true, session: refreshed, cookieValue: await rt.store.save(refreshed) };
    } catch (error) {
      if (!isOfaError(error)) return { ok: false, reason: 'refresh failed', transient: false };
      return { ok: false, reason: error.message, transient: TRANSIENT_FAILURES.has(error.code) };
    }
  });
  // The next request after an outage must try again, not be handed the remembered failure.
  if (!outcome.ok && outcome.transient) rt.refreshes.forget(key);
  return outcome;
}

async function handleUnauthenticated(
  rt: MiddlewareRuntime,
  request: ForwardAuthRequest,
  jar: CookieJar,
  cookies: readonly string[],
): Promise<Answer> {
  const { original } = request;
  if (rt.config.disableLogin) return { kind: 'deny', code: 'OFA_LOGIN_REQUIRED', reason: 'login is disabled', cookies };
  const atLoginUrl = rt.urls.login !== undefined && isAt(rt.urls.login, original);
  if (rt.urls.login !== undefined && !atLoginUrl) {
    return { kind: 'deny', code: 'OFA_LOGIN_REQUIRED', reason: 'login starts only at loginUrl', cookies };
  }
  // A fetch, an image or a service worker must never receive a login page or fork a second login.
  if (!isTopLevelNavigation(original.method, request.headers)) {
    return { kind: 'deny', code: 'OFA_LOGIN_REQUIRED', reason: 'not a page load', cookies };
  }
  const configuration = rt.provider.current();
  if (configuration === undefined) return { kind: 'unavailable', retryAfterSeconds: RETRY_AFTER_SECONDS };

  const redirectUri = resolveParsedUrlOption(rt.urls.redirect, original.url).href;
  const authorization = await buildAuthorizationRequest(configuration, rt.config, redirectUri);
  const stateCookie = rt.config.stateCookie;
  const flow = sealLoginFlow(rt.sealer, rt.config.name, stateCookie.name, {
    state: authorization.state,
    nonce: authorization.nonce,
    ...(authorization.codeVerifier === undefined ? {} : { codeVerifier: authorization.codeVerifier }),
    returnTo: original.url.href,
    viaLoginUrl: atLoginUrl,
    createdAt: request.now,
  });
  const evicted = flowCookiesToClear(rt.sealer, rt.config.name, stateCookie.name, jar, request.now, stateCookie.maxAge);
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

async function handleCallback(rt: MiddlewareRuntime, request: ForwardAuthRequest, jar: CookieJar): Promise<Answer> {
  const { original, now } = request;
  const params = original.url.searchParams;
  const stateCookie = rt.config.stateCookie;
  const retryUrl = `${original.url.origin}/`;
  const states = params.getAll('state');
  const state = states.length === 1 ? states[0] : undefined;
  const flow =
    state === undefined
      ? undefined
      : findLoginFlow(rt.sealer, rt.config.name, stateCookie.name, jar, state, now, stateCookie.maxAge);
  // Whatever happens next, this flow's cookie is spent: a reused callback URL finds nothing.
  const spent = state !== undefined && jar[flowCookieName(stateCookie.name, state)] !== undefined
    ? [clearCookie(flowCookieName(stateCookie.name, state), stateCookie)]
    : [];
  const fail = (error: OfaError): Answer => ({
    kind: 'error',
    code: error.code,
    detail: error.message,
    retryUrl: flow?.returnTo ?? retryUrl,
    cookies: spent,
  });

  const providerError = params.get('error');
  if (providerError !== null) {
    return fail(new OfaError('OFA_CALLBACK_PROVIDER_ERROR', `the identity provider answered "${safeOAuthWord(providerError)}"`));
  }
  if (state === undefined) {
    return fail(new OfaError('OFA_CALLBACK_STATE_MISSING', states.length === 0 ? 'no state parameter' : 'several state parameters'));
  }
  if (flow === undefined) {
    const code = listFlowCookies(stateCookie.name, jar).length > 0 ? 'OFA_CALLBACK_STATE_MISMATCH' : 'OFA_CALLBACK_STATE_MISSING';
    return fail(new OfaError(code, 'no login in progress in this browser matches this response'));
  }
  const provider = providerContext(rt);
  if (provider === undefined) return { kind: 'unavailable', retryAfterSeconds: RETRY_AFTER_SECONDS };

  let session: Session;
  let cookies: string[];
  try {
    const redirectUri = resolveParsedUrlOption(rt.urls.redirect, original.url).href;
    const tokens = await exchangeAuthorizationCode(provider, redirectUri, params, flow, now);
    const providerSid = tokens.idClaims.sid;
    session = {
      v: 1,
      id: newSessionId(),
      issuer: String(tokens.idClaims.iss),
      subject: String(tokens.idClaims.sub),
      ...(typeof providerSid === 'string' ? { providerSid } : {}),
      idClaims: pruneClaims(tokens.idClaims, rt.keptIdClaims),
      ...(tokens.accessClaims === undefined ? {} : { accessClaims: pruneClaims(tokens.accessClaims, rt.keptAccessClaims) }),
      ...(rt.provider.current()?.serverMetadata().end_session_endpoint === undefined ? {} : { idToken: tokens.idToken }),
      ...(tokens.refreshToken === undefined ? {} : { refreshToken: tokens.refreshToken }),
      ...(tokens.accessTokenExpiresAt === undefined ? {} : { accessTokenExpiresAt: tokens.accessTokenExpiresAt }),
      createdAt: now,
      renewedAt: now,
      expiresAt: now + rt.config.session.expiry,
    };
    // Saving may fail too (OFA_SESSION_TOO_LARGE: claims too big for one cookie).
    cookies = await sessionCookies(rt, session, undefined);
  } catch (error) {
    const failure = isOfaError(error) ? error : new OfaError('OFA_TOKEN_EXCHANGE_FAILED', 'the sign-in could not be completed', { cause: error });
    rt.log.warn({ middleware: rt.config.name, code: failure.code, reason: failure.message }, 'login failed at the callback');
    return fail(failure);
  }
  const location =
    flow.viaLoginUrl && rt.urls.postLogin !== undefined
      ? resolveParsedUrlOption(rt.urls.postLogin, new URL(flow.returnTo)).href
      : flow.returnTo;
  rt.log.info({ middleware: rt.config.name, subject: session.subject }, 'login completed');
  return { kind: 'redirect', purpose: 'callback', location, cookies: [...spent, ...cookies] };
}

async function handleLogout(rt: MiddlewareRuntime, request: ForwardAuthRequest, jar: CookieJar): Promise<Answer> {
  const loaded = await loadSession(rt, jar, request.now);
  if (loaded !== undefined) await rt.store.revoke(loaded.session);
  const cookies = endSessionCookies(rt);
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

async function sessionCookies(rt: MiddlewareRuntime, session: Session, savedValue: string | undefined): Promise<string[]> {
  const options = rt.config.session;
  const value = savedValue ?? (await rt.store.save(session));
  const cookies = [serializeCookie(options.name, value, { ...options, maxAge: Math.max(1, session.expiresAt - session.renewedAt) })];
  if (rt.config.csrf !== undefined) {
    cookies.push(
      serializeCookie(CSRF_COOKIE_NAME, createCsrfToken(rt.csrfKeys, session.id), {
        path: options.path,
        domain: options.domain,
        sameSite: options.sameSite,
        // The page's scripts read it to send it back in the header: that is the double submit.
        httpOnly: false,
        secure: rt.config.csrf.secure,
        maxAge: Math.max(1, session.expiresAt - session.renewedAt),
      }),
    );
  }
  return cookies;
}

/**
 * A refresh that ran before a 403 may have rotated the refresh token: the browser must still get
 * the new session, or its next request (on another replica) spends the old token and is signed out.
 */
async function refreshedCookies(rt: MiddlewareRuntime, session: Session, loaded: Session, savedValue: string | undefined): Promise<string[]> {
  return session === loaded ? [] : sessionCookies(rt, session, savedValue);
}

function endSessionCookies(rt: MiddlewareRuntime): string[] {
  const cookies = [clearCookie(rt.config.session.name, rt.config.session)];
  if (rt.config.csrf !== undefined) cookies.push(clearCsrfCookie(rt));
  return cookies;
}

function clearCsrfCookie(rt: MiddlewareRuntime): string {
  const options = rt.config.session;
  return clearCookie(CSRF_COOKIE_NAME, { ...options, httpOnly: false, secure: rt.config.csrf?.secure ?? false });
}

/** A session or CSRF cookie that no longer opens is cleared, so the browser stops sending it. */
function staleCookiesToClear(rt: MiddlewareRuntime, jar: CookieJar): string[] {
  const cookies: string[] = [];
  if (cookieValues(jar, rt.config.session.name).length > 0) cookies.push(clearCookie(rt.config.session.name, rt.config.session));
  if (rt.config.csrf !== undefined && cookieValues(jar, CSRF_COOKIE_NAME).length > 0) cookies.push(clearCsrfCookie(rt));
  return cookies;
}

function providerContext(rt: MiddlewareRuntime): ProviderContext | undefined {
  const configuration = rt.provider.current();
  if (configuration === undefined) return undefined;
  return { configuration, keys: rt.providerKeys(), middleware: rt.config };
}

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return typeof value === 'string' ? value : undefined;
}
