import type { IncomingHttpHeaders } from 'node:http';
import { idTokenAlgorithms } from '../../oidc/id-token.js';
import { verifyLogoutToken } from '../../oidc/logout-token.js';
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
  if (request.original.method !== 'POST') return refuse(405, 'back-channel logout accepts only POST');
  const form = readLogoutTokenParameter(request.headers, request.body);
  if (!form.ok) return refuse(400, form.reason);

  const configuration = rt.provider.current();
  if (configuration === undefined) return UNAVAILABLE;
  const metadata = serverMetadataOf(configuration);
  const verified = await verifyLogoutToken(form.token, rt.providerKeys(), {
    issuer: metadata.issuer,
    clientID: rt.config.clientID,
    algorithms: idTokenAlgorithms(metadata.id_token_signing_alg_values_supported),
    sessionRequired: rt.config.backchannelLogoutSessionsRequired,
    nowSeconds: request.nowSeconds,
  });
  if (!verified.ok) {
    rt.log.info({ reason: verified.reason }, 'refused a back-channel logout token');
    return refuse(400, verified.reason);
  }
  const { target } = verified;
  // Revoke first, record the jti after: a store failure in between answers 503, and the provider's
  // retry of the same token still takes effect instead of being refused as a replay. That retry,
  // or a replay, must not end the logins made since: the subject's cutoff is when the token was
  // issued (its iat plus the skew we allow the provider's clock), or now if that is earlier.
  if (target.sid !== undefined) {
    await rt.store.revokeProviderSession(target.issuer, target.sid, request.nowSeconds);
  } else if (target.sub !== undefined) {
    await rt.store.revokeSubject(target.issuer, target.sub, subjectCutoffSeconds(target.issuedBySeconds, request.nowMs));
  }
  if (!(await rt.store.recordLogoutToken(target.issuer, target.jti, target.rememberUntil, request.nowSeconds))) {
    rt.log.info('refused a replayed back-channel logout token');
    return refuse(400, 'logout token was already used');
  }
  // One count per accepted logout token, however many sessions it ended.
  rt.telemetry.sessionEvent('ended_by_backchannel_logout');
  rt.log.info({ by: target.sid !== undefined ? 'sid' : 'sub', subject: target.sub }, 'back-channel logout: sessions ended');
  return { kind: 'backchannel-logout', status: 200, reason: '' };
}

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
