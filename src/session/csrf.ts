import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { deriveKeys } from './keys.js';

/**
 * OWASP "signed double submit cookie": token = random + "." + HMAC(key, sessionId + "!" + random).
 * Bound to the session id, so a token planted by a sibling subdomain or left from another session
 * does not verify. The first key signs; every configured secret's key verifies (rotation).
 */
export type CsrfKeys = readonly Buffer[];

const RANDOM_BYTES = 16;
const MAX_TOKEN_LENGTH = 128;
const TOKEN = /^([A-Za-z0-9_-]{22})\.([A-Za-z0-9_-]{43})$/;
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export function deriveCsrfKeys(secrets: readonly string[]): CsrfKeys {
  return deriveKeys(secrets, 'csrf');
}

function mac(key: Buffer, sessionId: string, random: string): Buffer {
  // Session ids and the random part are base64url, so "!" cannot occur in either: the message is unambiguous.
  return createHmac('sha256', key).update(`${sessionId}!${random}`, 'utf8').digest();
}

export function createCsrfToken(keys: CsrfKeys, sessionId: string): string {
  const key = keys[0];
  if (key === undefined) throw new TypeError('no CSRF key');
  const random = randomBytes(RANDOM_BYTES).toString('base64url');
  return `${random}.${mac(key, sessionId, random).toString('base64url')}`;
}

/** Constant-time; false for anything malformed; never throws. */
export function verifyCsrfToken(keys: CsrfKeys, sessionId: string, token: unknown): boolean {
  if (typeof token !== 'string' || typeof sessionId !== 'string' || sessionId.length === 0) return false;
  if (token.length > MAX_TOKEN_LENGTH) return false;
  const match = TOKEN.exec(token);
  if (match === null) return false;
  const random = match[1] as string;
  const signature = match[2] as string;
  const given = Buffer.from(signature, 'base64url');
  // Canonical base64url only, as sealed cookies: the decoder ignores the spare low bits of the last
  // character, so without this four spellings of one signature would verify and a flipped spare
  // bit would pass for tampering that failed. The random part is MACed as text and needs no check.
  if (given.length !== 32 || given.toString('base64url') !== signature) return false;
  let valid = false;
  for (const key of keys) {
    // No early exit: the time taken does not say which key (if any) matched.
    if (timingSafeEqual(mac(key, sessionId, random), given)) valid = true;
  }
  return valid;
}

/** RFC 9110 §9.2.1 safe methods. Case-sensitive on purpose: "get" is not GET and gets no exemption. */
export function isSafeMethod(method: string): boolean {
  return SAFE_METHODS.has(method);
}
