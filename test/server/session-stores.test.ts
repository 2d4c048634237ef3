/**
 * Session cookies are bound to what minted them: the middleware name, the issuer and the client
 * ID. A cookie from another deployment sharing the secret, or from before the issuer changed,
 * never opens.
 */
import { describe, expect, it } from 'vitest';
import { createRevocationHub } from '../../src/session/revocation-hub.js';
import { createSealer } from '../../src/session/seal.js';
import { createSessionStores } from '../../src/server/session-stores.js';
import { newSessionId, type Session } from '../../src/session/session.js';
import { createTestLogger } from '../support/log.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { TEST_SECRET } from '../support/service.js';

const now = 1_700_000_000;

function sampleSession(): Session {
  return {
    v: 1,
    id: newSessionId(),
    issuer: 'https://id.example',
    subject: 'alice',
    idClaims: { iss: 'https://id.example', sub: 'alice' },
    createdAt: now,
    renewedAt: now,
    expiresAt: now + 3600,
  };
}

describe('a session cookie', () => {
  it('opens for the middleware that minted it, and not for one with another issuer or client ID (same name, same secret)', async () => {
    const stores = createSessionStores({ sealer: createSealer([TEST_SECRET]), log: createTestLogger('info').log, revocations: createRevocationHub() });
    const minted = makeMiddlewareConfig({ name: 'app', issuer: 'https://id.example', clientID: 'app-client' });
    const value = await stores.storeFor(minted).create(sampleSession(), now);
    expect(await stores.storeFor(makeMiddlewareConfig({ ...minted })).load(value, now)).toBeDefined();
    for (const other of [
      makeMiddlewareConfig({ ...minted, issuer: 'https://new-id.example' }),
      makeMiddlewareConfig({ ...minted, clientID: 'other-client' }),
    ]) {
      expect(await stores.storeFor(other).load(value, now)).toBeUndefined();
    }
    await stores.close();
  });
});
