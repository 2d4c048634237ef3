/**
 * The revocations a cookie store keeps in memory, for what the store contract cannot show: two
 * subject-wide logouts arriving out of order, and a cutoff that lies before the revocation's
 * arrival (a delayed logout token, whose cutoff is its iat).
 */
import { describe, expect, it } from 'vitest';
import { createMemoryRevocations } from '../../src/session/memory-revocations.js';
import { sampleSession } from './fixtures.js';

const T = 1_700_000_000;
const LIFETIME = 3600;

describe('createMemoryRevocations, subject cutoffs', () => {
  it('keeps the later of two cutoffs when the earlier one arrives second', () => {
    const revocations = createMemoryRevocations({ sessionLifetimeSeconds: LIFETIME });
    const session = sampleSession({ createdAt: T + 8, createdAtMs: (T + 8) * 1000 + 250 });
    revocations.revokeSubject(session.issuer, session.subject, T + 10.5);
    revocations.revokeSubject(session.issuer, session.subject, T + 5);
    expect(revocations.isRevoked(session, T + 11)).toBe(true);
  });

  it('refuses a session renewed between a cutoff and its late arrival for as long as that session could live', () => {
    const revocations = createMemoryRevocations({ sessionLifetimeSeconds: LIFETIME });
    // A logout token issued at T − 300 s and delivered at T: the session was renewed just before.
    const renewedAt = T - 1;
    const session = sampleSession({ createdAt: T - 400, renewedAt, expiresAt: renewedAt + LIFETIME });
    revocations.revokeSubject(session.issuer, session.subject, T - 300);
    expect(revocations.isRevoked(session, session.expiresAt - 1)).toBe(true);
  });
});
