import type { Sealer } from './seal.js';
import { boundPurpose, type CookieBinding } from './state-cookie.js';
import { decodeSession, DEFAULT_SESSION_CODEC_VERSION, encodeSession, type Session, type SessionCodecVersion } from './session.js';

/**
 * A session sealed for storage, wherever it is kept (the cookie, or a Redis value): the codec's
 * versioned bytes under AES-256-GCM with the store's purpose as AAD. Every store goes through
 * here, so a value copied from one middleware or one store never opens in another.
 */
export interface SealedSession {
  readonly value: string;
  /** A frozen copy decoded from what was sealed, safe to cache and share between requests. */
  readonly session: Session;
}

/** `codecVersion` is what this release writes (session.codecVersion); openSession reads every version. */
export function sealSession(
  sealer: Sealer,
  session: Session,
  purpose: string,
  codecVersion: SessionCodecVersion = DEFAULT_SESSION_CODEC_VERSION,
): SealedSession {
  const encoded = encodeSession(session, codecVersion);
  // Decoded again rather than frozen in place: the caller's object stays its own to change.
  const stored = decodeSession(encoded);
  if (stored === undefined) throw new TypeError('session does not survive its own codec');
  return { value: sealer.seal(encoded, purpose), session: deepFreeze(stored) };
}

/** Undefined for anything that is not a session sealed for this purpose; never throws. */
export function openSession(sealer: Sealer, value: string, purpose: string): { readonly session: Session; readonly rotated: boolean } | undefined {
  const opened = sealer.openWithKey(value, purpose);
  if (opened === undefined) return undefined;
  const session = decodeSession(opened.plaintext);
  return session === undefined ? undefined : { session: deepFreeze(session), rotated: opened.rotated };
}

/** Sessions are shared between requests: freezing makes an accidental mutation throw instead of leak. */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  // for-in, not Object.values: no array per object on every cache miss (decoded JSON has no inherited keys).
  for (const key in value) {
    const child: unknown = value[key];
    if (typeof child === 'object' && child !== null) deepFreeze(child);
  }
  return value;
}

/**
 * The sealing purpose of a middleware's sessions, in the cookie or in Redis: bound to its name,
 * issuer and client ID, so a session minted by another deployment sharing the secret, or before
 * the issuer or client changed, never opens.
 */
export function sessionPurpose(binding: CookieBinding): string {
  return boundPurpose('session', binding);
}
