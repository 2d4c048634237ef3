import { ALWAYS_KEPT_CLAIMS, type KeptClaims, type Session } from '../session/session.js';
import type { MiddlewareRuntime } from './runtime.js';

/** The claim names a session made under this runtime keeps from each token, besides those always kept. */
export function keptClaimsOf(rt: Pick<MiddlewareRuntime, 'keptIdClaims' | 'keptAccessClaims'>): KeptClaims {
  const names = (kept: ReadonlySet<string>): string[] => [...kept].filter((name) => !ALWAYS_KEPT_CLAIMS.has(name)).sort();
  return { id: names(rt.keptIdClaims), access: names(rt.keptAccessClaims) };
}

/**
 * The record after a refresh: a token the provider sent again was pruned under this runtime, one
 * it did not send keeps what the session kept before.
 */
export function refreshedKeptClaims(rt: MiddlewareRuntime, session: Session, renewed: { readonly id: boolean; readonly access: boolean }): KeptClaims {
  const now = keptClaimsOf(rt);
  const before = session.keptClaims ?? { id: Object.keys(session.idClaims), access: Object.keys(session.accessClaims ?? {}) };
  return { id: renewed.id ? now.id : before.id, access: renewed.access ? now.access : before.access };
}

/**
 * True when the configuration now reads a claim the session did not keep at sign-in (a reload
 * added a forwardHeaders entry or a claims term): its answer would be an empty header or a rule
 * judging an absent claim, so the session must be renewed first. A claim kept but absent (the
 * provider did not send it) is not lacking. Sessions written before the record was kept are
 * judged by the claims they hold.
 */
export function lacksNeededClaims(rt: MiddlewareRuntime, session: Session): boolean {
  const keptId = session.keptClaims?.id ?? Object.keys(session.idClaims);
  if (lacks(rt.keptIdClaims, keptId)) return true;
  // Without a JWT access token there was nothing to keep from it, and a renewal brings none.
  if (session.accessClaims === undefined) return false;
  return lacks(rt.keptAccessClaims, session.keptClaims?.access ?? Object.keys(session.accessClaims));
}

function lacks(needed: ReadonlySet<string>, kept: readonly string[]): boolean {
  for (const name of needed) if (!ALWAYS_KEPT_CLAIMS.has(name) && !kept.includes(name)) return true;
  return false;
}
