import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isOfaError } from '../../src/errors.js';
import { createCookieSessionStore, DEFAULT_MAX_COOKIE_BYTES } from '../../src/session/cookie-store.js';
import { createSealer, type Sealer } from '../../src/session/seal.js';
import { describeSessionStoreContract } from './store-contract.js';
import { OLD_SECRET, SECRET, sampleSession } from './fixtures.js';

const now = 1_700_000_100;

/** Counts how often the store really decrypts, to see the cache at work. */
function countingSealer(inner: Sealer): Sealer & { opens: () => number } {
  let opens = 0;
  return {
    seal: inner.seal,
    open: inner.open,
    openWithKey: (sealed, purpose) => {
      opens++;
      return inner.openWithKey(sealed, purpose);
    },
    opens: () => opens,
  };
}

describeSessionStoreContract(
  'cookie store',
  () => createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([SECRET]), purpose: 'session:app' }),
  { sharedBetweenInstances: false },
);
describeSessionStoreContract('cookie store without a cache', () =>
  createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([SECRET]), purpose: 'session:app', cacheSize: 0 }),
  { sharedBetweenInstances: false },
);

describe('createCookieSessionStore', () => {
  it('puts the whole session in one sealed cookie value under the size limit', async () => {
    const store = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([SECRET]), purpose: 'session:app' });
    const value = await store.create(sampleSession(), now);
    expect(value.startsWith('v1.')).toBe(true);
    expect(value.length).toBeLessThanOrEqual(DEFAULT_MAX_COOKIE_BYTES);
  });

  it('does not open a cookie of another middleware', async () => {
    const sealer = createSealer([SECRET]);
    const app = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer, purpose: 'session:app' });
    const other = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer, purpose: 'session:other' });
    expect(await other.load(await app.create(sampleSession(), now), now)).toBeUndefined();
  });

  it('marks a session sealed with an old secret as stale, so the caller re-saves it', async () => {
    const before = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([OLD_SECRET]), purpose: 'session:app' });
    const after = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([SECRET, OLD_SECRET]), purpose: 'session:app' });
    const session = sampleSession();
    const loaded = await after.load(await before.create(session, now), now);
    expect(loaded?.stale).toBe(true);
    expect(loaded?.session).toEqual(session);
    const resaved = await after.load(await after.create(session, now), now);
    expect(resaved?.stale).toBe(false);
  });

  it('serves repeated loads of the same cookie from its cache', async () => {
    const sealer = countingSealer(createSealer([SECRET]));
    const store = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer, purpose: 'session:app' });
    const value = await store.create(sampleSession(), now);
    for (let i = 0; i < 5; i++) expect(await store.load(value, now)).toBeDefined();
    expect(sealer.opens()).toBe(0);
    const foreign = await createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([SECRET]), purpose: 'session:app' }).create(sampleSession(), now);
    await store.load(foreign, now);
    await store.load(foreign, now);
    expect(sealer.opens()).toBe(1);
  });

  it('when full, does not let cookies opened once each push out one that came back', async () => {
    const sealer = countingSealer(createSealer([SECRET]));
    const writer = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([SECRET]), purpose: 'p' });
    const store = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer, purpose: 'p', cacheSize: 2 });
    const kept = await writer.create(sampleSession(), now);
    await store.load(kept, now);
    await store.load(kept, now);
    // Seen once each: none of them may push the twice-seen cookie out.
    for (let i = 0; i < 3; i += 1) await store.load(await writer.create(sampleSession(), now), now);
    const before = sealer.opens();
    await store.load(kept, now);
    expect(sealer.opens()).toBe(before);
  });

  it('never serves a cached session for a different value that merely ends the same way', async () => {
    const store = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([SECRET]), purpose: 'p' });
    const value = await store.create(sampleSession(), now);
    expect(await store.load(value, now)).toBeDefined();
    const forged = 'v1.' + 'A'.repeat(40) + value.slice(-32);
    expect(await store.load(forged, now)).toBeUndefined();
    expect(await store.load(value.slice(0, 3) + 'B' + value.slice(4), now)).toBeUndefined();
  });

  it('keeps the cache bounded', async () => {
    const sealer = countingSealer(createSealer([SECRET]));
    const writer = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([SECRET]), purpose: 'p' });
    const store = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer, purpose: 'p', cacheSize: 2 });
    const values = [await writer.create(sampleSession(), now), await writer.create(sampleSession(), now), await writer.create(sampleSession(), now)];
    for (const value of values) await store.load(value, now);
    // Two fit; the third, seen once while the cache was full, was opened and not kept.
    await store.load(values[0] as string, now);
    await store.load(values[1] as string, now);
    expect(sealer.opens()).toBe(3);
    await store.load(values[2] as string, now);
    expect(sealer.opens()).toBe(4);
  });

  it('hands out frozen sessions, so a caller cannot change the cached copy', async () => {
    const store = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([SECRET]), purpose: 'p' });
    const loaded = await store.load(await store.create(sampleSession(), now), now);
    expect(() => {
      (loaded?.session as { subject: string }).subject = 'someone-else';
    }).toThrow(TypeError);
    expect(() => {
      (loaded?.session.idClaims as Record<string, unknown>).email = 'x';
    }).toThrow(TypeError);
    // Two levels down: an array inside the claims.
    expect(() => {
      ((loaded?.session.idClaims as Record<string, unknown>).groups as string[]).push('admin');
    }).toThrow(TypeError);
  });

  it('is not affected when the caller changes the session after saving it', async () => {
    const store = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([SECRET]), purpose: 'p' });
    const session = sampleSession();
    const value = await store.create(session, now);
    session.subject = 'changed';
    expect((await store.load(value, now))?.session.subject).toBe('user-1');
  });

  it('drops the ID token first when the session does not fit', async () => {
    const store = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([SECRET]), purpose: 'p', maxCookieBytes: 900 });
    const randomToken = randomBytes(1500).toString('base64url');
    const loaded = await store.load(await store.create(sampleSession({ idToken: randomToken }), now), now);
    expect(loaded).toBeDefined();
    expect(loaded?.session.idToken).toBeUndefined();
    expect(loaded?.session.refreshToken).toBe('refresh-token-value');
  });

  it('fails loudly with OFA_SESSION_TOO_LARGE when even without the ID token it does not fit', async () => {
    const store = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([SECRET]), purpose: 'p', maxCookieBytes: 200 });
    const error = await store.create(sampleSession(), now).catch((e: unknown) => e);
    expect(isOfaError(error) && error.code).toBe('OFA_SESSION_TOO_LARGE');
    expect(String((error as Error).message)).not.toContain('refresh-token-value');
  });

  it('revocation wins over a cached entry until the revoked session would have expired', async () => {
    const store = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([SECRET]), purpose: 'p', maxRevoked: 2 });
    const session = sampleSession();
    const value = await store.create(session, now);
    await store.load(value, now);
    await store.revoke(session, now);
    expect(await store.load(value, now)).toBeUndefined();
    expect(await store.load(value, session.expiresAt + 1)).toBeUndefined();
  });

  it('bounds the revocation set, forgetting expired entries first', async () => {
    const store = createCookieSessionStore({ sessionLifetimeSeconds: 86_400, sealer: createSealer([SECRET]), purpose: 'p', maxRevoked: 2 });
    const kept = sampleSession({ expiresAt: now + 1000 });
    const keptValue = await store.create(kept, now);
    await store.revoke(kept, now);
    await store.revoke(sampleSession({ expiresAt: now - 1 }), now);
    await store.load('v1.AAAA', now);
    await store.revoke(sampleSession({ expiresAt: now + 1000 }), now);
    // The expired entry was dropped to make room; the live revocation still holds.
    expect(await store.load(keptValue, now)).toBeUndefined();
  });
});
