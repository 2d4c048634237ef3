import * as crypto from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { createCookieSessionStore } from '../../src/session/cookie-store.js';
import { createSealer } from '../../src/session/seal.js';
import { OLD_SECRET, SECRET, sampleSession } from './fixtures.js';

// Counted, not replaced: every decipher still runs the real AES-GCM.
vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, createDecipheriv: vi.fn(actual.createDecipheriv) };
});

const PURPOSE = 'session:app';
const decipherings = (): number => vi.mocked(crypto.createDecipheriv).mock.calls.length;

describe('a cache miss', () => {
  beforeEach(() => {
    vi.mocked(crypto.createDecipheriv).mockClear();
  });

  it('costs one AES-GCM open, in either codec version', async () => {
    for (const codecVersion of [1, 2] as const) {
      const sealer = createSealer([SECRET]);
      const writer = createCookieSessionStore({ sealer, purpose: PURPOSE, sessionLifetimeSeconds: 86_400, codecVersion });
      const reader = createCookieSessionStore({ sealer, purpose: PURPOSE, sessionLifetimeSeconds: 86_400, cacheSize: 0 });
      const session = sampleSession();
      const cookie = await writer.create(session, session.createdAt);
      vi.mocked(crypto.createDecipheriv).mockClear();
      expect((await reader.load(cookie, session.createdAt + 1))?.session).toEqual(session);
      expect(decipherings()).toBe(1);
    }
  });

  it('costs one open after a secret rotation too: only the key whose id matches is tried', async () => {
    const before = createSealer([OLD_SECRET]);
    const after = createSealer([SECRET, OLD_SECRET]);
    const session = sampleSession();
    const cookie = await createCookieSessionStore({ sealer: before, purpose: PURPOSE, sessionLifetimeSeconds: 86_400 }).create(session, session.createdAt);
    vi.mocked(crypto.createDecipheriv).mockClear();
    const loaded = await createCookieSessionStore({ sealer: after, purpose: PURPOSE, sessionLifetimeSeconds: 86_400 }).load(cookie, session.createdAt + 1);
    expect(loaded).toEqual({ session, stale: true });
    expect(decipherings()).toBe(1);
  });
});
