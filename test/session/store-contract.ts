import { describe, expect, it } from 'vitest';
import type { SessionStore } from '../../src/session/store.js';
import { sampleSession } from './fixtures.js';

/**
 * What every SessionStore must do, whatever keeps the data. Each store's test file calls this
 * with a factory; a Redis store gets the same suite.
 */
export function describeSessionStoreContract(storeName: string, makeStore: () => SessionStore): void {
  describe(`${storeName} (SessionStore contract)`, () => {
    const now = 1_700_000_100;

    it('loads what it saved', async () => {
      const store = makeStore();
      const session = sampleSession();
      const loaded = await store.load(await store.save(session), now);
      expect(loaded?.session).toEqual(session);
      expect(loaded?.stale).toBe(false);
    });

    it('loads nothing for a cookie value it never issued', async () => {
      const store = makeStore();
      expect(await store.load('v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', now)).toBeUndefined();
      expect(await store.load('', now)).toBeUndefined();
      expect(await store.load('x'.repeat(100_000), now)).toBeUndefined();
    });

    it('loads nothing once the session has expired', async () => {
      const store = makeStore();
      const session = sampleSession({ expiresAt: now + 10 });
      const value = await store.save(session);
      expect(await store.load(value, now + 9)).toBeDefined();
      expect(await store.load(value, now + 10)).toBeUndefined();
      expect(await store.load(value, now + 11)).toBeUndefined();
    });

    it('loads nothing after revoke, even for a value that was just loaded', async () => {
      const store = makeStore();
      const session = sampleSession();
      const value = await store.save(session);
      expect(await store.load(value, now)).toBeDefined();
      await store.revoke(session);
      expect(await store.load(value, now)).toBeUndefined();
    });

    it('revokes every saved version of a session (same id)', async () => {
      const store = makeStore();
      const session = sampleSession();
      const first = await store.save(session);
      const renewed = await store.save({ ...session, renewedAt: session.renewedAt + 60 });
      await store.revoke(session);
      expect(await store.load(first, now)).toBeUndefined();
      expect(await store.load(renewed, now)).toBeUndefined();
    });

    it('keeps other sessions when one is revoked', async () => {
      const store = makeStore();
      const kept = sampleSession();
      const value = await store.save(kept);
      await store.revoke(sampleSession());
      expect((await store.load(value, now))?.session.id).toBe(kept.id);
    });
  });
}
