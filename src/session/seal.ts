import { createCipheriv, createDecipheriv, createHash, randomBytes, type KeyObject, createSecretKey } from 'node:crypto';
import { deriveKeys } from './keys.js';

/**
 * Authenticated encryption for everything we hand to a browser (session and login-flow cookies).
 * Format: "v1." + base64url(keyId[4] | nonce[12] | ciphertext | tag[16]), AES-256-GCM.
 * The purpose (e.g. "session:app") and the header are the AAD, so a value sealed for one
 * middleware or one kind of cookie never opens as another.
 */
export interface OpenResult {
  readonly plaintext: Uint8Array;
  /** Opened with a key other than the current one: re-seal so the old secret can be retired. */
  readonly rotated: boolean;
}

export interface Sealer {
  seal(plaintext: Uint8Array, purpose: string): string;
  /** Undefined for anything that does not open; never throws on hostile input. */
  open(sealed: string, purpose: string): Uint8Array | undefined;
  openWithKey(sealed: string, purpose: string): OpenResult | undefined;
}

export interface SealerOptions {
  /** Longest sealed string we try to decode, in characters. */
  readonly maxSealedLength?: number;
}

const PREFIX = 'v1.';
const PREFIX_BYTES = Buffer.from(PREFIX);
const KEY_ID_BYTES = 4;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const HEADER_BYTES = KEY_ID_BYTES + NONCE_BYTES;
const DEFAULT_MAX_SEALED_LENGTH = 64 * 1024;

interface SealingKey {
  readonly key: KeyObject;
  readonly id: Buffer;
  readonly current: boolean;
}

export function createSealer(secrets: readonly string[], options: SealerOptions = {}): Sealer {
  const maxSealedLength = options.maxSealedLength ?? DEFAULT_MAX_SEALED_LENGTH;
  const keys: readonly SealingKey[] = deriveKeys(secrets, 'aes-256-gcm seal').map((raw, index) => ({
    key: createSecretKey(raw),
    id: createHash('sha256').update('oidc-forward-auth key id\0').update(raw).digest().subarray(0, KEY_ID_BYTES),
    current: index === 0,
  }));
  const current = keys[0] as SealingKey;
  const purposeBytes = new Map<string, Buffer>();

  function aad(header: Buffer, purpose: string): Buffer {
    let bytes = purposeBytes.get(purpose);
    if (bytes === undefined) {
      bytes = Buffer.from(purpose, 'utf8');
      // Purposes come from configuration (a handful); bounding guards against a caller passing data.
      if (purposeBytes.size < 1024) purposeBytes.set(purpose, bytes);
    }
    return Buffer.concat([PREFIX_BYTES, header, bytes]);
  }

  function seal(plaintext: Uint8Array, purpose: string): string {
    const header = Buffer.concat([current.id, randomBytes(NONCE_BYTES)]);
    const cipher = createCipheriv('aes-256-gcm', current.key, header.subarray(KEY_ID_BYTES), { authTagLength: TAG_BYTES });
    cipher.setAAD(aad(header, purpose));
    const body = Buffer.concat([header, cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    return PREFIX + body.toString('base64url');
  }

  function openWithKey(sealed: string, purpose: string): OpenResult | undefined {
    if (typeof sealed !== 'string' || typeof purpose !== 'string') return undefined;
    if (sealed.length > maxSealedLength || !sealed.startsWith(PREFIX)) return undefined;
    const encoded = sealed.slice(PREFIX.length);
    const body = Buffer.from(encoded, 'base64url');
    if (body.length < HEADER_BYTES + TAG_BYTES) return undefined;
    // Buffer's decoder skips junk (other characters, padding, the "+/" alphabet), drops a dangling
    // last character and ignores stray low bits: only our own spelling of these bytes opens, so an
    // edited cookie never passes for the original. Encoding back is a quarter of the cost of a
    // regular expression over the alphabet, and catches all of it.
    if (body.toString('base64url') !== encoded) return undefined;
    const header = body.subarray(0, HEADER_BYTES);
    const keyId = body.subarray(0, KEY_ID_BYTES);
    const nonce = body.subarray(KEY_ID_BYTES, HEADER_BYTES);
    const ciphertext = body.subarray(HEADER_BYTES, body.length - TAG_BYTES);
    const tag = body.subarray(body.length - TAG_BYTES);
    const additional = aad(header, purpose);
    // Key ids are public hints, not secrets: trying only matching keys keeps a miss cheap.
    for (const candidate of keys) {
      if (!candidate.id.equals(keyId)) continue;
      try {
        const decipher = createDecipheriv('aes-256-gcm', candidate.key, nonce, { authTagLength: TAG_BYTES });
        decipher.setAAD(additional);
        decipher.setAuthTag(tag);
        const plaintext = Buffer.concat([decipher.update(ciphertext), decipher.final()]);
        return { plaintext, rotated: !candidate.current };
      } catch {
        // Wrong tag: another key may share the 4-byte id (vanishingly rare), keep trying.
      }
    }
    return undefined;
  }

  return Object.freeze({
    seal,
    openWithKey,
    open: (sealed: string, purpose: string) => openWithKey(sealed, purpose)?.plaintext,
  });
}
