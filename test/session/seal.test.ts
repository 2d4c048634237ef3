import { describe, expect, it } from 'vitest';
import { createSealer } from '../../src/session/seal.js';

const OLD = 'old-secret-old-secret-old-secret-0001';
const NEW = 'new-secret-new-secret-new-secret-0002';
const text = (s: string) => new TextEncoder().encode(s);
const str = (b: Uint8Array | undefined) => (b === undefined ? undefined : Buffer.from(b).toString('utf8'));

function flipChar(sealed: string, index: number): string {
  const c = sealed[index] === 'A' ? 'B' : 'A';
  return sealed.slice(0, index) + c + sealed.slice(index + 1);
}

describe('createSealer', () => {
  const sealer = createSealer([NEW]);

  it('opens what it sealed, for the same purpose', () => {
    const sealed = sealer.seal(text('hello'), 'session:app');
    expect(sealed.startsWith('v1.')).toBe(true);
    expect(sealed.slice(3)).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(str(sealer.open(sealed, 'session:app'))).toBe('hello');
  });

  it('seals the same plaintext differently each time (random nonce)', () => {
    expect(sealer.seal(text('x'), 'p')).not.toBe(sealer.seal(text('x'), 'p'));
  });

  it('round-trips an empty plaintext', () => {
    expect(str(sealer.open(sealer.seal(new Uint8Array(0), 'p'), 'p'))).toBe('');
  });

  it('does not open a value sealed for another purpose (another middleware or kind of cookie)', () => {
    const sealed = sealer.seal(text('hello'), 'session:app');
    expect(sealer.open(sealed, 'session:other')).toBeUndefined();
    expect(sealer.open(sealed, 'state:app')).toBeUndefined();
  });

  it('does not open a tampered value, anywhere in it', () => {
    const sealed = sealer.seal(text('hello world, a longer plaintext'), 'p');
    for (let i = 3; i < sealed.length - 1; i++) {
      expect(sealer.open(flipChar(sealed, i), 'p')).toBeUndefined();
    }
  });

  it('does not open a truncated value', () => {
    const sealed = sealer.seal(text('hello'), 'p');
    for (const cut of [1, 2, 8, 20, sealed.length - 4]) {
      expect(sealer.open(sealed.slice(0, sealed.length - cut), 'p')).toBeUndefined();
    }
  });

  it('does not open a value sealed with a secret it does not know', () => {
    const stranger = createSealer(['another-secret-another-secret-0003']);
    expect(sealer.open(stranger.seal(text('hello'), 'p'), 'p')).toBeUndefined();
  });

  it('answers undefined, without throwing, for hostile input', () => {
    const hostile: unknown[] = ['', 'v1.', 'v1.!!!!', 'v2.AAAA', 'v1.AAAA', 'v1.' + 'A'.repeat(100), 'v1.a b', 'v1.AAAA=', 'x'.repeat(10), 42, null, undefined, {}];
    for (const value of hostile) {
      expect(() => sealer.open(value as string, 'p')).not.toThrow();
      expect(sealer.open(value as string, 'p')).toBeUndefined();
    }
  });

  it('opens only our own spelling of the bytes: no padding, other alphabet, inserted junk or stray low bits', () => {
    // 5 plaintext bytes + 32 of header and tag: 37 bytes, 50 characters, the last one carrying 4 unused bits.
    const sealed = sealer.seal(text('hello'), 'p');
    const body = sealed.slice(3);
    expect(body.length % 4).toBe(2);
    const lastValue = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.indexOf(body.at(-1) as string);
    const strayBits = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'[lastValue | 1] as string;
    const respelled = [
      `${sealed}==`,
      `${sealed}=`,
      `${sealed}A`,
      `v1.${body.slice(0, 10)} ${body.slice(10)}`,
      `v1.${body.slice(0, 10)}.${body.slice(10)}`,
      `v1.${body.slice(0, 10)}\n${body.slice(10)}`,
      `${sealed.slice(0, -1)}${strayBits}`,
    ];
    if (body.includes('-') || body.includes('_')) respelled.push(`v1.${body.replace(/-/g, '+').replace(/_/g, '/')}`);
    expect(str(sealer.open(sealed, 'p'))).toBe('hello');
    for (const value of respelled) expect(sealer.open(value, 'p')).toBeUndefined();
  });

  it('refuses oversized input before decoding it', () => {
    const small = createSealer([NEW], { maxSealedLength: 100 });
    const sealed = small.seal(new Uint8Array(200), 'p');
    expect(sealed.length).toBeGreaterThan(100);
    expect(small.open(sealed, 'p')).toBeUndefined();
    expect(sealer.open('v1.' + 'A'.repeat(1_000_000), 'p')).toBeUndefined();
  });

  describe('key rotation', () => {
    const before = createSealer([OLD]);
    const during = createSealer([NEW, OLD]);

    it('opens a value sealed with an old secret and says it was rotated', () => {
      const result = during.openWithKey(before.seal(text('kept'), 'p'), 'p');
      expect(str(result?.plaintext)).toBe('kept');
      expect(result?.rotated).toBe(true);
    });

    it('seals with the first secret, so the new value is not rotated', () => {
      const result = during.openWithKey(during.seal(text('fresh'), 'p'), 'p');
      expect(result?.rotated).toBe(false);
      expect(str(before.open(during.seal(text('fresh'), 'p'), 'p'))).toBeUndefined();
    });

    it('no longer opens old values once the old secret is removed', () => {
      const after = createSealer([NEW]);
      expect(after.open(before.seal(text('gone'), 'p'), 'p')).toBeUndefined();
    });

    it('ignores a repeated secret', () => {
      const twice = createSealer([NEW, NEW]);
      expect(twice.openWithKey(sealer.seal(text('a'), 'p'), 'p')?.rotated).toBe(false);
    });
  });

  it('refuses to be built without secrets', () => {
    expect(() => createSealer([])).toThrow(TypeError);
  });
});
