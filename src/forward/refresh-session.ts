import { isOfaError, isTransientError } from '../errors.js';
import { refreshTokens } from '../oidc/tokens.js';
import { pruneClaims, type Session } from '../session/session.js';
import type { RefreshAttempt, RefreshOutcome } from '../session/store.js';
import { refreshedKeptClaims } from './kept-claims.js';
import { keptAccessToken } from './application-tokens.js';
import { providerContext } from './forward-request.js';
import type { MiddlewareRuntime } from './runtime.js';

/**
 * Spends the session's refresh token at the provider, under the store's refresh lock: one refresh
 * per session at a time (across replicas with a shared store), its outcome shared with every
 * request that raced for it.
 */
export async function refreshSession(rt: MiddlewareRuntime, session: Session, nowSeconds: number): Promise<RefreshOutcome> {
  if (!rt.config.session.refresh || session.refreshToken === undefined) {
    return { ok: false, code: rt.config.session.refresh ? 'NO_REFRESH_TOKEN' : 'REFRESH_DISABLED', transient: false };
  }
  return rt.store.refresh(session, nowSeconds, (current) => refreshAtProvider(rt, current, nowSeconds));
}

/** Where sliding moves a session's end: `expiry` from now, never past the absolute `maxLifetime` from sign-in. */
export function slidExpiry(rt: MiddlewareRuntime, session: Session, nowSeconds: number): number {
  const { expiry, maxLifetime } = rt.config.session;
  const slid = nowSeconds + expiry;
  return maxLifetime === undefined ? slid : Math.min(slid, session.createdAt + maxLifetime);
}

async function refreshAtProvider(rt: MiddlewareRuntime, session: Session, nowSeconds: number): Promise<RefreshAttempt> {
  const provider = providerContext(rt);
  if (provider === undefined) {
    rt.telemetry.refreshFailed('OFA_PROVIDER_UNAVAILABLE');
    return { ok: false, code: 'OFA_PROVIDER_UNAVAILABLE', transient: true };
  }
  if (session.refreshToken === undefined) return { ok: false, code: 'NO_REFRESH_TOKEN', transient: false };
  try {
    const tokens = await refreshTokens(provider, session.refreshToken, session, nowSeconds);
    rt.telemetry.sessionEvent('refreshed');
    return {
      ok: true,
      session: {
        ...session,
        idClaims: tokens.idClaims === undefined ? session.idClaims : refreshedIdClaims(rt, session, tokens.idClaims),
        accessClaims: tokens.accessClaims === undefined ? undefined : pruneClaims(tokens.accessClaims, rt.keptAccessClaims),
        keptClaims: refreshedKeptClaims(rt, session, { id: tokens.idClaims !== undefined, access: tokens.accessClaims !== undefined }),
        idToken: tokens.idToken ?? session.idToken,
        refreshToken: tokens.refreshToken,
        ...keptAccessToken(rt.config, tokens.accessToken),
        accessTokenExpiresAt: tokens.accessTokenExpiresAt,
        renewedAt: nowSeconds,
        expiresAt: rt.config.session.sliding ? slidExpiry(rt, session, nowSeconds) : session.expiresAt,
      },
    };
  } catch (error) {
    const code = isOfaError(error) ? error.code : 'OFA_REFRESH_FAILED';
    rt.telemetry.refreshFailed(code);
    // The outcome carries only the code; what went wrong, in our words, is told here.
    rt.log.info({ code, reason: isOfaError(error) ? error.message : 'unexpected error' }, 'the provider did not refresh the session');
    return { ok: false, code, transient: isTransientError(error) };
  }
}

/** The new ID token's claims; an auth_time it leaves out stays the original's, so the next refresh is held to it. */
function refreshedIdClaims(rt: MiddlewareRuntime, session: Session, claims: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const pruned = pruneClaims(claims, rt.keptIdClaims);
  if (pruned.auth_time === undefined && session.idClaims.auth_time !== undefined) pruned.auth_time = session.idClaims.auth_time;
  return pruned;
}
