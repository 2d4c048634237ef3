import { randomBytes } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { createCookieSessionStore } from '../../src/session/cookie-store.js';
import { createSealer } from '../../src/session/seal.js';
import { openSession, sealSession } from '../../src/session/sealed-session.js';
import { DEFLATE_ABOVE_BYTES, decodeSession, encodeSession, MAX_SESSION_JSON_BYTES, type Session } from '../../src/session/session.js';
import { SECRET, sampleSession } from './fixtures.js';

const PURPOSE = 'session:app';

/** Many claims with repetitive names and values: JSON well past DEFLATE_ABOVE_BYTES that deflate shrinks a lot. */
function largeSession(): Session {
  const groups = Array.from({ length: 120 }, (_, i) => `team-${i}-developers`);
  return sampleSession({ idClaims: { sub: 'user-1', iss: 'https://idp.example', groups } });
}

/** What a release that knew only codec version 1 wrote, built here without encodeSession. */
function versionOneBytes(session: Session): Buffer {
  return Buffer.concat([Buffer.of(1), deflateRawSync(Buffer.from(JSON.stringify(session), 'utf8'))]);
}

const jsonBytes = (session: Session): number => Buffer.byteLength(JSON.stringify(session), 'utf8');

describe('session codec versions', () => {
  it('round-trips a typical and a large session in both versions', () => {
    for (const session of [sampleSession(), largeSession()]) {
      for (const version of [1, 2] as const) expect(decodeSession(encodeSession(session, version))).toEqual(session);
    }
  });

  it('writes version 2 unless told otherwise', () => {
    expect(encodeSession(sampleSession())[0]).toBe(2);
    expect(encodeSession(sampleSession(), 1)[0]).toBe(1);
  });

  it('still reads a value written by a release that knew only version 1', () => {
    const session = sampleSession();
    expect(decodeSession(versionOneBytes(session))).toEqual(session);
  });

  it('stores a session of up to 2 KiB of JSON raw, without deflate', () => {
    const session = sampleSession();
    expect(jsonBytes(session)).toBeLessThanOrEqual(DEFLATE_ABOVE_BYTES);
    const bytes = Buffer.from(encodeSession(session));
    expect([...bytes.subarray(0, 2)]).toEqual([2, 0]);
    expect(bytes.subarray(2).toString('utf8')).toBe(JSON.stringify(session));
  });

  it('deflates a session whose JSON is over 2 KiB', () => {
    const session = largeSession();
    expect(jsonBytes(session)).toBeGreaterThan(DEFLATE_ABOVE_BYTES);
    const bytes = encodeSession(session);
    expect([...bytes.subarray(0, 2)]).toEqual([2, 1]);
    expect(bytes.length).toBeLessThan(jsonBytes(session) / 2);
  });

  it('keeps a 2 KiB session in a cookie far below the cookie budget, so raw never costs an ID token', () => {
    const sealer = createSealer([SECRET]);
    const padding = 'x'.repeat(DEFLATE_ABOVE_BYTES - jsonBytes(sampleSession({ refreshToken: '' })));
    const session = sampleSession({ refreshToken: padding });
    expect(jsonBytes(session)).toBe(DEFLATE_ABOVE_BYTES);
    expect(encodeSession(session)[1]).toBe(0);
    expect(sealSession(sealer, session, PURPOSE).value.length).toBeLessThan(2900);
  });
});

describe('codec version 2 on hostile bytes', () => {
  const raw = Buffer.from(encodeSession(sampleSession()));
  const deflated = Buffer.from(encodeSession(largeSession()));

  it('answers undefined, never throws', () => {
    const cases: Uint8Array[] = [
      Uint8Array.of(2),
      Uint8Array.of(2, 0),
      Uint8Array.of(2, 1),
      Uint8Array.of(2, 2, ...Buffer.from('{}')),
      Buffer.concat([Buffer.of(2, 7), raw.subarray(2)]),
      Buffer.concat([Buffer.of(3, 0), raw.subarray(2)]),
      Buffer.concat([Buffer.of(2, 0), Buffer.from('not json')]),
      Buffer.concat([Buffer.of(2, 0), Buffer.from('{"v":1}')]),
      Buffer.concat([Buffer.of(2, 0), Buffer.of(0xff, 0xfe, 0x7b, 0x7d)]),
      // The deflated body said to be raw, and the raw body said to be deflated.
      Buffer.concat([Buffer.of(2, 0), deflated.subarray(2)]),
      Buffer.concat([Buffer.of(2, 1), raw.subarray(2)]),
      Buffer.concat([Buffer.of(2, 1), deflateRawSync(Buffer.from('null'))]),
    ];
    for (let cut = 1; cut < raw.length; cut += 37) cases.push(raw.subarray(0, cut));
    for (let cut = 1; cut < deflated.length; cut += 23) cases.push(deflated.subarray(0, cut));
    for (const bytes of cases) expect(() => decodeSession(bytes)).not.toThrow();
    for (const bytes of cases) expect(decodeSession(bytes)).toBeUndefined();
  });

  it('refuses raw JSON over the inflate limit as it would refuse a deflate bomb', () => {
    const huge = JSON.stringify(sampleSession({ refreshToken: 'x'.repeat(MAX_SESSION_JSON_BYTES) }));
    expect(decodeSession(Buffer.concat([Buffer.of(2, 0), Buffer.from(huge)]))).toBeUndefined();
    const bomb = Buffer.concat([Buffer.of(2, 1), deflateRawSync(Buffer.alloc(10 * 1024 * 1024, 0x20))]);
    expect(decodeSession(bomb)).toBeUndefined();
  });

  it('answers undefined for random bytes behind either form byte', () => {
    for (let i = 0; i < 200; i++) {
      const bytes = Buffer.concat([Buffer.of(2, i % 2), randomBytes(1 + (i % 64))]);
      expect(decodeSession(bytes)).toBeUndefined();
    }
  });
});

describe('sealed sessions across a codec rollout', () => {
  const sealer = createSealer([SECRET]);

  it('opens a value sealed in either version, whichever version is being written', () => {
    const session = sampleSession();
    for (const version of [1, 2] as const) {
      const sealed = sealSession(sealer, session, PURPOSE, version);
      expect(openSession(sealer, sealed.value, PURPOSE)?.session).toEqual(session);
    }
    const old = sealer.seal(versionOneBytes(session), PURPOSE);
    expect(openSession(sealer, old, PURPOSE)?.session).toEqual(session);
  });

  it('a cookie store writing version 1 (step 1) and one writing version 2 (step 2) read each other', async () => {
    const stepOne = createCookieSessionStore({ sealer, purpose: PURPOSE, sessionLifetimeSeconds: 86_400, codecVersion: 1, cacheSize: 0 });
    const stepTwo = createCookieSessionStore({ sealer, purpose: PURPOSE, sessionLifetimeSeconds: 86_400, cacheSize: 0 });
    const session = sampleSession();
    const now = session.createdAt + 1;
    const fromOne = await stepOne.create(session, now);
    const fromTwo = await stepTwo.create(session, now);
    expect(sealer.open(fromOne, PURPOSE)?.[0]).toBe(1);
    expect(sealer.open(fromTwo, PURPOSE)?.[0]).toBe(2);
    expect((await stepTwo.load(fromOne, now))?.session).toEqual(session);
    expect((await stepOne.load(fromTwo, now))?.session).toEqual(session);
  });
});
