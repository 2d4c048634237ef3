import { describe, expect, it } from 'vitest';
import { createCsrfToken, deriveCsrfKeys, isSafeMethod, verifyCsrfToken } from '../../src/session/csrf.js';
import { deriveKeys } from '../../src/session/keys.js';
import { OLD_SECRET, SECRET } from './fixtures.js';

const keys = deriveCsrfKeys([SECRET]);
const SESSION = 'AAAAAAAAAAAAAAAAAAAAAA';
const OTHER_SESSION = 'BBBBBBBBBBBBBBBBBBBBBB';

describe('CSRF tokens', () => {
  it('verifies a token made for the same session', () => {
    const token = createCsrfToken(keys, SESSION);
    expect(token).toMatch(/^[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}$/);
    expect(verifyCsrfToken(keys, SESSION, token)).toBe(true);
  });

  it('makes a new random token each time', () => {
    expect(createCsrfToken(keys, SESSION)).not.toBe(createCsrfToken(keys, SESSION));
  });

  it('does not verify a token made for another session', () => {
    expect(verifyCsrfToken(keys, OTHER_SESSION, createCsrfToken(keys, SESSION))).toBe(false);
  });

  it('does not verify a token whose random part or signature was changed', () => {
    const token = createCsrfToken(keys, SESSION);
    const [random = '', signature = ''] = token.split('.');
    const other = createCsrfToken(keys, SESSION).split('.')[0] ?? '';
    expect(verifyCsrfToken(keys, SESSION, `${other}.${signature}`)).toBe(false);
    const flipped = (signature[0] === 'A' ? 'B' : 'A') + signature.slice(1);
    expect(verifyCsrfToken(keys, SESSION, `${random}.${flipped}`)).toBe(false);
  });

  it('does not verify a token whose signature is spelt with other spare bits in its last character (same bytes, not our spelling)', () => {
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // 32 bytes take 43 characters; the last carries 4 bits of the signature and 2 spare ones.
    for (let attempt = 0; attempt < 64; attempt++) {
      const token = createCsrfToken(keys, SESSION);
      const last = token.at(-1) ?? 'A';
      for (const spare of [1, 2, 3]) {
        const respelt = token.slice(0, -1) + alphabet[alphabet.indexOf(last) ^ spare];
        expect(verifyCsrfToken(keys, SESSION, respelt), respelt).toBe(false);
      }
    }
  });

  it('does not verify a token signed with an unknown secret', () => {
    const foreign = deriveCsrfKeys(['someone-elses-secret-someone-elses-01']);
    expect(verifyCsrfToken(keys, SESSION, createCsrfToken(foreign, SESSION))).toBe(false);
  });

  it('accepts tokens signed with any configured secret (rotation) and signs with the first', () => {
    const before = deriveCsrfKeys([OLD_SECRET]);
    const during = deriveCsrfKeys([SECRET, OLD_SECRET]);
    expect(verifyCsrfToken(during, SESSION, createCsrfToken(before, SESSION))).toBe(true);
    expect(verifyCsrfToken(keys, SESSION, createCsrfToken(during, SESSION))).toBe(true);
  });

  it('uses a key of its own, not the sealing key (separate HKDF info)', () => {
    expect(keys[0]?.equals(deriveKeys([SECRET], 'aes-256-gcm seal')[0] as Buffer)).toBe(false);
    expect(keys[0]).toHaveLength(32);
  });

  it('answers false, without throwing, for malformed tokens and session ids', () => {
    const token = createCsrfToken(keys, SESSION);
    for (const bad of [undefined, null, 42, '', '.', 'a.b', token + '.', token + 'A', ' ' + token, 'x'.repeat(100_000), `${token.split('.')[0]}.`]) {
      expect(verifyCsrfToken(keys, SESSION, bad)).toBe(false);
    }
    expect(verifyCsrfToken(keys, '', token)).toBe(false);
  });
});

describe('isSafeMethod', () => {
  it.each(['GET', 'HEAD', 'OPTIONS', 'TRACE'])('treats %s as safe', (method) => {
    expect(isSafeMethod(method)).toBe(true);
  });

  it.each(['POST', 'PUT', 'PATCH', 'DELETE', 'CONNECT', 'get', 'Head', ''])('treats %s as unsafe', (method) => {
    expect(isSafeMethod(method)).toBe(false);
  });
});
