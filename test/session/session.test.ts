import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { decodeSession, encodeSession, isSession, newSessionId, pruneClaims } from '../../src/session/session.js';
import { sampleSession } from './fixtures.js';

describe('newSessionId', () => {
  it('is 128 random bits in base64url', () => {
    const id = newSessionId();
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(Buffer.from(id, 'base64url')).toHaveLength(16);
    expect(newSessionId()).not.toBe(id);
  });
});

describe('pruneClaims', () => {
  const claims = { sub: 's', iss: 'i', sid: 'x', exp: 1, aud: 'c', email: 'e', groups: ['g'], picture: 'p' };

  it('keeps only the referenced claims and always sub, iss, sid, exp, aud, azp and auth_time', () => {
    expect(pruneClaims(claims, new Set(['email', 'groups']))).toEqual({ sub: 's', iss: 'i', sid: 'x', exp: 1, aud: 'c', email: 'e', groups: ['g'] });
  });

  it('ignores referenced names the token does not carry', () => {
    expect(pruneClaims({ sub: 's' }, new Set(['missing']))).toEqual({ sub: 's' });
  });

  it('keeps a claim named __proto__ as data without touching the prototype', () => {
    const hostile = JSON.parse('{"sub":"s","__proto__":{"admin":true}}') as Record<string, unknown>;
    const pruned = pruneClaims(hostile, new Set(['__proto__']));
    expect(Object.getPrototypeOf(pruned)).toBe(Object.prototype);
    expect((pruned as { admin?: unknown }).admin).toBeUndefined();
    expect(Object.hasOwn(pruned, '__proto__')).toBe(true);
  });
});

describe('encodeSession / decodeSession', () => {
  it('round-trips a session', () => {
    const session = sampleSession();
    expect(decodeSession(encodeSession(session))).toEqual(session);
  });

  it('round-trips a session without optional fields', () => {
    const { providerSid: _a, idToken: _b, refreshToken: _c, accessTokenExpiresAt: _d, ...minimal } = sampleSession();
    expect(decodeSession(encodeSession(minimal))).toEqual(minimal);
  });

  it('compresses in codec version 1: a typical session encodes smaller than its JSON', () => {
    const session = sampleSession();
    expect(encodeSession(session, 1).length).toBeLessThan(JSON.stringify(session).length);
  });

  it('answers undefined for bytes that are not a session', () => {
    const cases: Uint8Array[] = [
      new Uint8Array(0),
      Uint8Array.of(1),
      Uint8Array.of(2, 1, 2, 3),
      Uint8Array.of(1, 0xff, 0xff, 0xff),
      Buffer.concat([Buffer.of(1), deflateRawSync(Buffer.from('not json'))]),
      Buffer.concat([Buffer.of(1), deflateRawSync(Buffer.from('{"v":2}'))]),
      Buffer.concat([Buffer.of(1), deflateRawSync(Buffer.from('null'))]),
    ];
    for (const bytes of cases) expect(decodeSession(bytes)).toBeUndefined();
  });

  it('refuses a deflate bomb instead of inflating it', () => {
    const bomb = Buffer.concat([Buffer.of(1), deflateRawSync(Buffer.alloc(10 * 1024 * 1024, 0x20))]);
    expect(bomb.length).toBeLessThan(20_000);
    expect(decodeSession(bomb)).toBeUndefined();
  });
});

describe('isSession', () => {
  it('accepts a well-formed session', () => {
    expect(isSession(sampleSession())).toBe(true);
  });

  it.each([
    ['a wrong version', { v: 2 }],
    ['a short id', { id: 'abc' }],
    ['an empty issuer', { issuer: '' }],
    ['a numeric subject', { subject: 42 }],
    ['claims as an array', { idClaims: [] }],
    ['null claims', { idClaims: null }],
    ['access claims as a string', { accessClaims: 'x' }],
    ['a numeric refresh token', { refreshToken: 1 }],
    ['a string expiry', { expiresAt: '1' }],
    ['an infinite expiry', { expiresAt: Infinity }],
    ['a missing creation time', { createdAt: undefined }],
  ])('rejects a session with %s', (_name, change) => {
    expect(isSession({ ...sampleSession(), ...change })).toBe(false);
  });
});
