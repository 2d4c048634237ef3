import type { Configuration } from 'openid-client';
import { OfaError, isOfaError, type ErrorCode } from '../../errors.js';
import { safeOAuthWord } from '../../oidc/provider-errors.js';
import { serverMetadataOf } from '../../oidc/server-metadata.js';
import { exchangeAuthorizationCode, type VerifiedTokens } from '../../oidc/tokens.js';
import { clearCookie, type CookieJar } from '../../session/cookies.js';
import { sessionCookies } from '../../session/session-cookies.js';
import { MAX_SESSION_JSON_BYTES, newSessionId, pruneClaims, type Session } from '../../session/session.js';
import { findLoginFlow, flowCookieName, listFlowCookies, type LoginFlow } from '../../session/state-cookie.js';
import { callbackAnswer, type Answer } from '../answer.js';
import { keptAccessToken, passesIdToken } from '../application-tokens.js';
import { describeErrorCause } from '../error-cause.js';
import { cookieContext, unavailable, type ForwardAuthRequest } from '../forward-request.js';
import { keptClaimsOf } from '../kept-claims.js';
import type { MiddlewareRuntime } from '../runtime.js';
import { resolveParsedUrlOption } from '../url-option.js';

/**
 * The provider sent the browser back to redirectUrl: match the state to a login this browser
 * started, exchange the code, verify the ID token, keep the session and go back where the user was.
 * Every answer, 503 included, is marked as a callback answer: its URL holds a code and a state,
 * so it must neither be cached nor sent on in a Referer.
 */
export async function handleCallback(rt: MiddlewareRuntime, request: ForwardAuthRequest, jar: CookieJar): Promise<Answer> {
  // A dependency's outage thrown from here is answered by the dispatcher, marked as a callback answer too.
  return callbackAnswer(await completeCallback(rt, request, jar));
}

async function completeCallback(rt: MiddlewareRuntime, request: ForwardAuthRequest, jar: CookieJar): Promise<Answer> {
  const decision = decideCallback(rt, request, jar);
  if (decision.kind === 'misdirected-callback') {
    rt.log.warn({ host: decision.host }, 'callback for another host or path than the login was started for');
    return decision.answer;
  }
  if (decision.kind !== 'exchange-code') return decision;
  const { flow } = decision;
  const { nowSeconds } = request;
  const provider = { configuration: decision.configuration, keys: rt.providerKeys(), middleware: rt.config };
  const params = request.original.url.searchParams;
  let session: Session;
  let cookies: string[];
  try {
    const tokens = await withinDeadline(exchangeAuthorizationCode(provider, flow.redirectUri, params, flow, nowSeconds), rt.callbackDeadlineMs);
    session = sessionFromTokens(rt, tokens, request);
    // Keeping it may fail too (OFA_SESSION_TOO_LARGE: claims too big for one cookie).
    cookies = sessionCookies(cookieContext(rt), session, await rt.store.create(session, nowSeconds));
  } catch (error) {
    // A session store that cannot answer is an outage (503, retry), not a failed sign-in.
    if (isOfaError(error) && error.code === 'OFA_STORE_UNAVAILABLE') throw error;
    if (isOfaError(error)) {
      const cause = error.cause === undefined ? {} : { cause: describeErrorCause(error.cause) };
      rt.log.warn({ code: error.code, reason: error.message, ...cause }, 'login failed at the callback');
    } else {
      // Not the provider's doing as far as we know: ours to fix, so the log says what it was.
      rt.log.error({ code: 'OFA_INTERNAL', cause: describeErrorCause(error) }, 'login failed at the callback: unexpected error');
    }
    return failedLogin(decision, error);
  }
  rt.telemetry.sessionEvent('created');
  rt.log.info({ subject: session.subject }, 'login completed');
  return completedLogin(rt, decision, cookies);
}

/** Exchange the code for tokens at the provider, keep the session, then `completedLogin` or `failedLogin`. */
export interface CodeExchange {
  readonly kind: 'exchange-code';
  readonly configuration: Configuration;
  readonly flow: LoginFlow;
  /** Clears the flow's state cookie: whatever happens next, a reused callback URL finds nothing. */
  readonly spent: readonly string[];
}

/** Refused before any token request: the callback came to another address than the login named. Worth a warning. */
export interface MisdirectedCallback {
  readonly kind: 'misdirected-callback';
  readonly host: string;
  readonly answer: Answer;
}

/**
 * Whether this response from the provider belongs to a login this browser started here (one state,
 * its flow cookie opening, the same redirect address) and may be exchanged, or the answer that
 * refuses it. Every refusal spends the flow's cookie too.
 */
export function decideCallback(
  rt: Pick<MiddlewareRuntime, 'config' | 'sealer' | 'urls' | 'provider' | 'store'>,
  request: Pick<ForwardAuthRequest, 'original' | 'nowSeconds'>,
  jar: CookieJar,
): Answer | MisdirectedCallback | CodeExchange {
  const { original, nowSeconds } = request;
  const params = original.url.searchParams;
  const stateCookie = rt.config.stateCookie;
  const states = params.getAll('state');
  const state = states.length === 1 ? states[0] : undefined;
  const found =
    state === undefined
      ? undefined
      : findLoginFlow(rt.sealer, rt.config, stateCookie.name, jar, state, nowSeconds, stateCookie.maxAge);
  const flow = found?.flow;
  const spentNames = new Set<string>();
  if (found !== undefined) spentNames.add(found.cookieName);
  if (state !== undefined && jar[flowCookieName(stateCookie.name, state)] !== undefined) spentNames.add(flowCookieName(stateCookie.name, state));
  const spent = [...spentNames].map((name) => clearCookie(name, stateCookie));
  const retryUrl = flow?.returnTo ?? `${original.url.origin}/`;
  const fail = (code: ErrorCode, detail: string): Answer => ({ kind: 'error', code, detail, retryUrl, cookies: spent });

  const providerError = params.get('error');
  if (providerError !== null) {
    return fail('OFA_CALLBACK_PROVIDER_ERROR', `the identity provider answered "${safeOAuthWord(providerError)}"`);
  }
  if (state === undefined) {
    return fail('OFA_CALLBACK_STATE_MISSING', states.length === 0 ? 'no state parameter' : 'several state parameters');
  }
  if (flow === undefined) {
    const code = listFlowCookies(stateCookie.name, jar).length > 0 ? 'OFA_CALLBACK_STATE_MISMATCH' : 'OFA_CALLBACK_STATE_MISSING';
    return fail(code, 'no login in progress in this browser matches this response');
  }
  // The callback must arrive where the login sent the provider (same origin and path); otherwise
  // the token request would carry another redirect_uri. Refused before any token request.
  const here = resolveParsedUrlOption(rt.urls.redirect, original.url);
  const sent = new URL(flow.redirectUri);
  if (here.href !== flow.redirectUri || original.url.origin !== sent.origin || original.url.pathname !== sent.pathname) {
    const answer = fail('OFA_CALLBACK_STATE_MISMATCH', 'this sign-in response arrived at another address than the sign-in was started for');
    return { kind: 'misdirected-callback', host: original.url.host, answer };
  }
  const configuration = rt.provider.current();
  if (configuration === undefined) return unavailable('OFA_PROVIDER_UNAVAILABLE');
  // Checked before the code is spent: once Redis is back, reloading this callback still works.
  if (!rt.store.isAvailable()) return unavailable('OFA_STORE_UNAVAILABLE');
  return { kind: 'exchange-code', configuration, flow, spent };
}

/** Back where the user was (or to postLoginRedirectUrl after loginUrl), the flow spent and the session kept. */
export function completedLogin(rt: Pick<MiddlewareRuntime, 'urls'>, exchange: CodeExchange, sessionCookies: readonly string[]): Answer {
  const { flow } = exchange;
  const location =
    flow.viaLoginUrl && rt.urls.postLogin !== undefined
      ? resolveParsedUrlOption(rt.urls.postLogin, new URL(flow.returnTo)).href
      : flow.returnTo;
  return { kind: 'redirect', purpose: 'callback', location, cookies: [...exchange.spent, ...sessionCookies] };
}

/**
 * The error page for an exchange (or a session) that failed: the provider's refusal with its code
 * (a replayed code is OFA_CALLBACK_CODE_REJECTED), anything unexpected as OFA_INTERNAL without its
 * message. "Try again" leads back where the user was.
 */
export function failedLogin(exchange: CodeExchange, error: unknown): Answer {
  const { code, message } = isOfaError(error) ? error : { code: 'OFA_INTERNAL' as const, message: 'the sign-in could not be completed' };
  return { kind: 'error', code, detail: message, retryUrl: exchange.flow.returnTo, cookies: exchange.spent };
}

/** The session a verified code exchange opens, within what the session codec can hold. */
export function sessionFromTokens(
  rt: Pick<MiddlewareRuntime, 'config' | 'provider' | 'keptIdClaims' | 'keptAccessClaims'>,
  tokens: VerifiedTokens,
  request: Pick<ForwardAuthRequest, 'nowSeconds' | 'nowMs'>,
): Session {
  const { nowSeconds } = request;
  const providerSid = tokens.idClaims.sid;
  const keepsIdToken = passesIdToken(rt.config);
  return withinSessionCodec(keepsIdToken, {
    v: 1,
    id: newSessionId(),
    issuer: String(tokens.idClaims.iss),
    subject: String(tokens.idClaims.sub),
    ...(typeof providerSid === 'string' ? { providerSid } : {}),
    idClaims: pruneClaims(tokens.idClaims, rt.keptIdClaims),
    ...(tokens.accessClaims === undefined ? {} : { accessClaims: pruneClaims(tokens.accessClaims, rt.keptAccessClaims) }),
    keptClaims: keptClaimsOf(rt),
    ...(endSessionEndpointOf(rt) === undefined && !keepsIdToken ? {} : { idToken: tokens.idToken }),
    ...keptAccessToken(rt.config, tokens.accessToken),
    ...(tokens.refreshToken === undefined ? {} : { refreshToken: tokens.refreshToken }),
    ...(tokens.accessTokenExpiresAt === undefined ? {} : { accessTokenExpiresAt: tokens.accessTokenExpiresAt }),
    createdAt: nowSeconds,
    createdAtMs: request.nowMs,
    renewedAt: nowSeconds,
    expiresAt: nowSeconds + Math.min(rt.config.session.expiry, rt.config.session.maxLifetime ?? Infinity),
  });
}

/**
 * The session as the codec can hold it. The raw ID token is kept only as logout's id_token_hint,
 * so it goes first (as the cookie store drops it for a cookie's size); the claims the configuration
 * reads never do: without them the session would vouch for less than the rule and headers need.
 */
function withinSessionCodec(idTokenRequired: boolean, session: Session): Session {
  if (sessionJsonBytes(session) <= MAX_SESSION_JSON_BYTES) return session;
  const { idToken: _dropped, ...withoutIdToken } = session;
  // Handed to the application (applicationTokens.idTokenHeader), the ID token is not optional.
  const smaller = idTokenRequired ? session : withoutIdToken;
  const bytes = sessionJsonBytes(smaller);
  if (bytes <= MAX_SESSION_JSON_BYTES) return smaller;
  throw new OfaError(
    'OFA_SESSION_TOO_LARGE',
    `the claims this configuration keeps take ${bytes} bytes, over the ${MAX_SESSION_JSON_BYTES} a session holds: ` +
      'reference fewer or smaller claims (claims, forwardHeaders, usernameClaim)',
  );
}

function sessionJsonBytes(session: Session): number {
  return Buffer.byteLength(JSON.stringify(session), 'utf8');
}

/**
 * The provider's answer, or OFA_PROVIDER_TIMEOUT once the deadline passes: a proxy gives up on its
 * own (Traefik: a bare 500 at 30 s), and the user should read our page instead. The exchange may
 * still finish in the background; its result is dropped, and the code is spent either way.
 */
async function withinDeadline<T>(work: Promise<T>, deadlineMs: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new OfaError('OFA_PROVIDER_TIMEOUT', `the identity provider did not complete the sign-in within ${Math.round(deadlineMs / 1000)} s`)),
      deadlineMs,
    );
  });
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    // A late failure of the abandoned exchange must not become an unhandled rejection.
    work.catch(() => undefined);
  }
}

function endSessionEndpointOf(rt: Pick<MiddlewareRuntime, 'provider'>): string | undefined {
  const configuration = rt.provider.current();
  return configuration === undefined ? undefined : serverMetadataOf(configuration).end_session_endpoint;
}
