import { hkdfSync } from 'node:crypto';

/** HKDF salt shared by every key we derive; changing it invalidates every cookie and token. */
const HKDF_SALT = Buffer.from('oidc-forward-auth/v1', 'utf8');

/**
 * One 32-byte key per distinct secret, in configuration order (the first is the current one).
 * `info` separates uses (sealing, CSRF) so a key for one can never serve the other.
 * Derived once at start: HKDF costs far more than the AEAD it feeds.
 */
export function deriveKeys(secrets: readonly string[], info: string): readonly Buffer[] {
  if (secrets.length === 0) throw new TypeError('at least one secret is required');
  const seen = new Set<string>();
  const keys: Buffer[] = [];
  for (const secret of secrets) {
    if (typeof secret !== 'string' || secret.length === 0) throw new TypeError('secrets must be non-empty strings');
    if (seen.has(secret)) continue;
    seen.add(secret);
    keys.push(Buffer.from(hkdfSync('sha256', Buffer.from(secret, 'utf8'), HKDF_SALT, info, 32)));
  }
  return Object.freeze(keys);
}
