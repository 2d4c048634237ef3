import { newSessionId, type Session } from '../../src/session/session.js';

export const SECRET = 'current-secret-current-secret-000001';
export const OLD_SECRET = 'previous-secret-previous-secret-00002';

/** A typical session: a handful of claims, an ID token, a refresh token. */
export function sampleSession(overrides: Partial<Session> = {}): Session {
  return {
    v: 1,
    id: newSessionId(),
    issuer: 'https://idp.example',
    subject: 'user-1',
    providerSid: 'sid-1',
    idClaims: { sub: 'user-1', iss: 'https://idp.example', email: 'a@example.com', groups: ['admin', 'dev'] },
    idToken: 'eyJhbGciOiJSUzI1NiJ9.' + 'x'.repeat(600) + '.sig',
    refreshToken: 'refresh-token-value',
    accessTokenExpiresAt: 1_700_000_300,
    createdAt: 1_700_000_000,
    renewedAt: 1_700_000_000,
    expiresAt: 1_700_086_400,
    ...overrides,
  };
}
