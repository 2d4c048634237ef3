import type { IncomingHttpHeaders } from 'node:http';
import { idTokenAlgorithms } from '../../oidc/id-token.js';
import { verifyLogoutToken, type LogoutTarget, type LogoutTokenExpectations } from '../../oidc/logout-token.js';
import type { Answer } from '../answer.js';
import { UNAVAILABLE, type ForwardAuthRequest } from '../forward-request.js';
import type { MiddlewareRuntime } from '../runtime.js';
import { serverMetadataOf } from '../../oidc/server-metadata.js';

const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';

/**
 * backchannelLogoutUrl (OpenID Connect Back-Channel Logout 1.0): the provider POSTs a signed
 * logout token; every session of that provider session (`sid`), or of the user when only `sub` is
 * given, ends in the store, so a cookie replayed later opens nothing. No cookie and no CSRF token
 * are involved: the token's signature is the authentication.
 */
export async function handleBackchannelLogout(rt: MiddlewareRuntime, request: ForwardAuthRequest): Promise<Answer> {
  const decision = decideBackchannelLogout(rt, request);
  if (decision.kind !== 'verify-logout-token') return decision;
  const verified = await verifyLogoutToken(decision.token, rt.providerKeys(), decision.expectations);
  if (!verified.ok) {
    rt.log.info({ reason: verified.reason }, 'refused a back-channel logout token');
    return refuse(400, verified.reason);
  }
  const end = sessionsToEnd(verified.target, request.nowMs);
  // Revoke first, record the jti after: a store failure in between answers 503, and the provider's
  // retry of the same token still takes effect instead of being refused as a replay.
  if (end.revoke.by === 'sid') {
    await rt.store.revokeProviderSession(end.revoke.issuer, end.revoke.sid, request.nowSeconds);
  } else if (end.revoke.by === 'sub') {
    await rt.store.revokeSubject(end.revoke.issuer, end.revoke.subject, end.revoke.cutoffSeconds);
  }
  if (!(await rt.store.recordLogoutToken(end.record.issuer, end.record.jti, end.record.untilSeconds, request.nowSeconds))) {
    rt.log.info('refused a replayed back-channel logout token');
    return REPLAYED;
  }
  // One count per accepted logout token, however many sessions it ended.
  rt.telemetry.sessionEvent('ended_by_backchannel_logout');
  rt.log.info({ by: end.revoke.by, subject: verified.target.sub }, 'back-channel logout: sessions ended');
  return ENDED;
}

/** Check this logout token against the provider's keys and these expectations, then `sessionsToEnd`. */
export interface VerifyLogoutToken {
  readonly kind: 'verify-logout-token';
  readonly token: string;
  readonly expectations: LogoutTokenExpectations;
}

/**
 * The refusal of a request that cannot carry a logout token (a method other than POST, a body
 * that is not one form field `logout_token`), 503 while the provider is undiscovered, or the
 * token to verify and what to expect of it.
 */
export function decideBackchannelLogout(
  rt: Pick<MiddlewareRuntime, 'config' | 'provider'>,
  request: Pick<ForwardAuthRequest, 'original' | 'headers' | 'body' | 'nowSeconds'>,
): Answer | VerifyLogoutToken {
  if (request.original.method !== 'POST') return refuse(405, 'back-channel logout accepts only POST');
  const form = readLogoutTokenParameter(request.headers, request.body);
  if (!form.ok) return refuse(400, form.reason);
  const configuration = rt.provider.current();
  if (configuration === undefined) return UNAVAILABLE;
  const metadata = serverMetadataOf(configuration);
  return {
    kind: 'verify-logout-token',
    token: form.token,
    expectations: {
      issuer: metadata.issuer,
      clientID: rt.config.clientID,
      algorithms: idTokenAlgorithms(metadata.id_token_signing_alg_values_supported),
      sessionRequired: rt.config.backchannelLogoutSessionsRequired,
      nowSeconds: request.nowSeconds,
    },
  };
}

/**
 * What a verified logout token ends, and the jti to remember so a replay is refused. With a `sid`,
 * every session of that login at the provider; with only `sub`, the user's sessions created before
 * the token was issued (its iat plus the skew we allow the provider's clock, or now if that is
 * earlier): a retry or a replay must not end the logins made since.
 */
export interface SessionsToEnd {
  readonly revoke:
    | { readonly by: 'sid'; readonly issuer: string; readonly sid: string }
    | { readonly by: 'sub'; readonly issuer: string; readonly subject: string; readonly cutoffSeconds: number }
    | { readonly by: 'none' };
  readonly record: { readonly issuer: string; readonly jti: string; readonly untilSeconds: number };
}

export function sessionsToEnd(target: LogoutTarget, nowMs: number): SessionsToEnd {
  const record = { issuer: target.issuer, jti: target.jti, untilSeconds: target.rememberUntil };
  if (target.sid !== undefined) return { revoke: { by: 'sid', issuer: target.issuer, sid: target.sid }, record };
  if (target.sub !== undefined) {
    return { revoke: { by: 'sub', issuer: target.issuer, subject: target.sub, cutoffSeconds: subjectCutoffSeconds(target.issuedBySeconds, nowMs) }, record };
  }
  // verifyLogoutToken refuses a token with neither; the type cannot say so.
  return { revoke: { by: 'none' }, record };
}

const ENDED: Answer = Object.freeze({ kind: 'backchannel-logout', status: 200, reason: '' });
const REPLAYED: Answer = Object.freeze({ kind: 'backchannel-logout', status: 400, reason: 'logout token was already used' });

/** Seconds to the millisecond: a login in the same second as the logout, but after it, stays. */
function subjectCutoffSeconds(issuedBySeconds: number, nowMs: number): number {
  return Math.min(issuedBySeconds, nowMs / 1000);
}

function refuse(status: 400 | 405, reason: string): Answer {
  return { kind: 'backchannel-logout', status, reason };
}

type LogoutTokenParameter = { readonly ok: true; readonly token: string } | { readonly ok: false; readonly reason: string };

/** Exactly one `logout_token` in an application/x-www-form-urlencoded body; anything else is refused. */
function readLogoutTokenParameter(headers: IncomingHttpHeaders, body: Buffer | undefined): LogoutTokenParameter {
  const contentType = headers['content-type'];
  const mediaType = typeof contentType === 'string' ? contentType.split(';', 1)[0]?.trim().toLowerCase() : undefined;
  if (mediaType !== FORM_CONTENT_TYPE) return { ok: false, reason: `the body must be ${FORM_CONTENT_TYPE}` };
  if (body === undefined || body.length === 0) return { ok: false, reason: 'the body is empty' };
  const tokens = new URLSearchParams(body.toString('utf8')).getAll('logout_token');
  if (tokens.length === 0) return { ok: false, reason: 'logout_token is missing' };
  if (tokens.length > 1) return { ok: false, reason: 'logout_token is repeated' };
  const token = tokens[0] as string;
  return token === '' ? { ok: false, reason: 'logout_token is empty' } : { ok: true, token };
}
