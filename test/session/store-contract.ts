import { afterEach, describe, expect, it } from 'vitest';
import type { Session } from '../../src/session/session.js';
import type { RefreshAttempt, SessionStore } from '../../src/session/store.js';
import { sampleSession } from './fixtures.js';

export interface StoreContractOptions {
  /** Two stores from the factory share their data, as replicas sharing one Redis do. */
  readonly sharedBetweenInstances: boolean;
}

/**
 * What every SessionStore must do, whatever keeps the data. Each store's test file calls this
 * with a factory; the cookie store and the Redis store (single, Cluster, Sentinel) run the same suite.
 */
export function describeSessionStoreContract(
  storeName: string,
  makeStore: () => SessionStore | Promise<SessionStore>,
  options: StoreContractOptions,
): void {
  describe(`${storeName} (SessionStore contract)`, () => {
    const now = 1_700_000_100;
    const opened: SessionStore[] = [];
    const open = async (): Promise<SessionStore> => {
      const store = await makeStore();
      opened.push(store);
      return store;
    };
    afterEach(async () => {
      await Promise.all(opened.splice(0).map((store) => store.close()));
    });

    /** The cookie value after a save: a new one, or the same one when the store keeps it. */
    const saveAndFollow = async (store: SessionStore, value: string, session: Session): Promise<string> =>
      (await store.save(session, now)) ?? value;

    const refreshed = (session: Session, suffix: string): RefreshAttempt => ({
      ok: true,
      session: { ...session, refreshToken: `rotated-${suffix}`, accessTokenExpiresAt: (session.accessTokenExpiresAt ?? now) + 300 },
    });

    it('loads what it created', async () => {
      const store = await open();
      const session = sampleSession();
      const loaded = await store.load(await store.create(session, now), now);
      expect(loaded?.session).toEqual(session);
      expect(loaded?.stale).toBe(false);
    });

    it('loads nothing for a cookie value it never issued', async () => {
      const store = await open();
      expect(await store.load('v1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', now)).toBeUndefined();
      expect(await store.load('', now)).toBeUndefined();
      expect(await store.load('x'.repeat(100_000), now)).toBeUndefined();
      expect(await store.load('*', now)).toBeUndefined();
    });

    it('loads nothing once the session has expired', async () => {
      const store = await open();
      const session = sampleSession({ expiresAt: now + 10 });
      const value = await store.create(session, now);
      expect(await store.load(value, now + 9)).toBeDefined();
      expect(await store.load(value, now + 10)).toBeUndefined();
      expect(await store.load(value, now + 11)).toBeUndefined();
    });

    it('loads the changed session after a save, and keeps the cookie when the session lives on the server', async () => {
      const store = await open();
      const session = sampleSession();
      const value = await store.create(session, now);
      const renewed = { ...session, renewedAt: now + 60, expiresAt: now + 60 + 86_400 };
      const saved = await store.save(renewed, now + 60);
      if (store.serverSide) expect(saved).toBeUndefined();
      else expect(saved).toEqual(expect.any(String));
      expect((await store.load(saved ?? value, now + 60))?.session).toEqual(renewed);
    });

    it('loads nothing after revoke, even for a value that was just loaded', async () => {
      const store = await open();
      const session = sampleSession();
      const value = await store.create(session, now);
      expect(await store.load(value, now)).toBeDefined();
      await store.revoke(session, now);
      expect(await store.load(value, now)).toBeUndefined();
    });

    it('revokes every saved version of a session (same id), and a later save does not bring it back', async () => {
      const store = await open();
      const session = sampleSession();
      const first = await store.create(session, now);
      const renewed = await saveAndFollow(store, first, { ...session, renewedAt: session.renewedAt + 60 });
      await store.revoke(session, now);
      await store.save({ ...session, renewedAt: session.renewedAt + 120 }, now);
      expect(await store.load(first, now)).toBeUndefined();
      expect(await store.load(renewed, now)).toBeUndefined();
    });

    it('keeps other sessions when one is revoked', async () => {
      const store = await open();
      const kept = sampleSession();
      const value = await store.create(kept, now);
      await store.revoke(sampleSession(), now);
      expect((await store.load(value, now))?.session.id).toBe(kept.id);
    });

    it('ends every session of a provider sid, and only those', async () => {
      const store = await open();
      const tab = await store.create(sampleSession({ providerSid: 'sid-a' }), now);
      const otherDevice = await store.create(sampleSession({ providerSid: 'sid-a' }), now);
      const otherLogin = await store.create(sampleSession({ providerSid: 'sid-b' }), now);
      const otherIssuer = await store.create(sampleSession({ providerSid: 'sid-a', issuer: 'https://other.example' }), now);
      await store.revokeProviderSession('https://idp.example', 'sid-a', now);
      expect(await store.load(tab, now)).toBeUndefined();
      expect(await store.load(otherDevice, now)).toBeUndefined();
      expect(await store.load(otherLogin, now)).toBeDefined();
      expect(await store.load(otherIssuer, now)).toBeDefined();
    });

    it('ends every existing session of a subject, and not a login that comes after', async () => {
      const store = await open();
      const first = await store.create(sampleSession({ subject: 'user-9', providerSid: 'one' }), now);
      const second = await store.create(sampleSession({ subject: 'user-9', providerSid: 'two' }), now);
      const someoneElse = await store.create(sampleSession({ subject: 'user-8' }), now);
      await store.revokeSubject('https://idp.example', 'user-9', now + 5);
      const later = await store.create(sampleSession({ subject: 'user-9', createdAt: now + 6, renewedAt: now + 6 }), now + 6);
      expect(await store.load(first, now + 6)).toBeUndefined();
      expect(await store.load(second, now + 6)).toBeUndefined();
      expect(await store.load(someoneElse, now + 6)).toBeDefined();
      expect(await store.load(later, now + 6)).toBeDefined();
    });

    it('ends a subject’s sessions created up to the cutoff, and keeps one created after it though it already exists', async () => {
      const store = await open();
      const before = await store.create(sampleSession({ subject: 'user-7', createdAt: now + 4, renewedAt: now + 4 }), now + 4);
      const atCutoff = await store.create(sampleSession({ subject: 'user-7', createdAt: now + 5, renewedAt: now + 5 }), now + 5);
      // Created (by a replica whose clock runs ahead, or a callback that finished first) after the
      // cutoff, and stored and indexed before the revocation runs.
      const after = await store.create(sampleSession({ subject: 'user-7', createdAt: now + 6, renewedAt: now + 6 }), now + 6);
      await store.revokeSubject('https://idp.example', 'user-7', now + 5);
      expect(await store.load(before, now + 6)).toBeUndefined();
      expect(await store.load(atCutoff, now + 6)).toBeUndefined();
      expect(await store.load(after, now + 6)).toBeDefined();
    });

    it('keeps a login made later in the second of a subject’s cutoff, and ends one made earlier in it or that knows only its second', async () => {
      const store = await open();
      const inSecond = (ms: number): Partial<Session> => ({ subject: 'user-6', createdAt: now + 5, createdAtMs: (now + 5) * 1000 + ms, renewedAt: now + 5 });
      const earlier = await store.create(sampleSession(inSecond(400)), now + 5);
      const laterStoredFirst = await store.create(sampleSession(inSecond(600)), now + 5);
      const wholeSecond = await store.create(sampleSession({ subject: 'user-6', createdAt: now + 5, renewedAt: now + 5 }), now + 5);
      await store.revokeSubject('https://idp.example', 'user-6', now + 5.5);
      const laterStoredAfter = await store.create(sampleSession(inSecond(501)), now + 5);
      expect(await store.load(earlier, now + 6)).toBeUndefined();
      expect(await store.load(wholeSecond, now + 6)).toBeUndefined();
      expect(await store.load(laterStoredFirst, now + 6)).toBeDefined();
      expect(await store.load(laterStoredAfter, now + 6)).toBeDefined();
    });

    it('refreshes once for ten concurrent requests and gives each the same result', async () => {
      const store = await open();
      const session = sampleSession();
      const value = await store.create(session, now);
      let attempts = 0;
      const attempt = async (current: Session): Promise<RefreshAttempt> => {
        attempts += 1;
        await new Promise((resolve) => setTimeout(resolve, 50));
        return refreshed(current, 'once');
      };
      const outcomes = await Promise.all(Array.from({ length: 10 }, () => store.refresh(session, now, attempt)));
      expect(attempts).toBe(1);
      for (const outcome of outcomes) {
        expect(outcome.ok && outcome.session.refreshToken).toBe('rotated-once');
      }
      const first = outcomes[0];
      const cookie = first?.ok === true ? (first.cookieValue ?? value) : value;
      expect((await store.load(cookie, now))?.session.refreshToken).toBe('rotated-once');
    });

    it('hands a request that still carries the pre-refresh session the same result, without spending the token again', async () => {
      const store = await open();
      const session = sampleSession();
      await store.create(session, now);
      let attempts = 0;
      const attempt = async (current: Session): Promise<RefreshAttempt> => {
        attempts += 1;
        return refreshed(current, String(attempts));
      };
      const first = await store.refresh(session, now, attempt);
      const late = await store.refresh(session, now + 1, attempt);
      expect(attempts).toBe(1);
      expect(late.ok && late.session.refreshToken).toBe('rotated-1');
      expect(first.ok && first.session.refreshToken).toBe('rotated-1');
    });

    it('tries again after a transient failure, and shares a lasting one', async () => {
      const store = await open();
      const session = sampleSession();
      await store.create(session, now);
      const outage = await store.refresh(session, now, async () => ({ ok: false, code: 'OFA_PROVIDER_UNAVAILABLE', transient: true }));
      expect(outage).toEqual({ ok: false, code: 'OFA_PROVIDER_UNAVAILABLE', transient: true });
      const recovered = await store.refresh(session, now + 1, async (current) => refreshed(current, 'after'));
      expect(recovered.ok && recovered.session.refreshToken).toBe('rotated-after');
    });

    it('records a logout token id once', async () => {
      const store = await open();
      expect(await store.recordLogoutToken('https://idp.example', 'jti-1', now + 60, now)).toBe(true);
      expect(await store.recordLogoutToken('https://idp.example', 'jti-1', now + 60, now + 1)).toBe(false);
      expect(await store.recordLogoutToken('https://other.example', 'jti-1', now + 60, now + 1)).toBe(true);
    });

    if (options.sharedBetweenInstances) {
      it('shares sessions, revocations and the refresh lock between two instances (two replicas)', async () => {
        const replicaA = await open();
        const replicaB = await open();
        const session = sampleSession();
        const value = await replicaA.create(session, now);
        expect((await replicaB.load(value, now))?.session).toEqual(session);

        let attempts = 0;
        const attempt = async (current: Session): Promise<RefreshAttempt> => {
          attempts += 1;
          await new Promise((resolve) => setTimeout(resolve, 100));
          return refreshed(current, 'shared');
        };
        const [a, b] = await Promise.all([replicaA.refresh(session, now, attempt), replicaB.refresh(session, now, attempt)]);
        expect(attempts).toBe(1);
        expect(a.ok && a.session.refreshToken).toBe('rotated-shared');
        expect(b.ok && b.session.refreshToken).toBe('rotated-shared');

        await replicaB.revoke(session, now);
        expect(await replicaA.load(value, now)).toBeUndefined();
        expect(await replicaA.recordLogoutToken('https://idp.example', 'jti-shared', now + 60, now)).toBe(true);
        expect(await replicaB.recordLogoutToken('https://idp.example', 'jti-shared', now + 60, now)).toBe(false);
      });
    }
  });
}
