/**
 * Issue 17 item 13: client_secret_jwt with clientAuthSigningAlg HS384 or HS512 signs under the
 * alg its header names. The assertion is taken from the request a real oidc-provider receives and
 * verified with that alg alone, so a header that names HS384 over an HS256 MAC fails. (The dev
 * provider enables only HS256 for client assertions, as oidc-provider does by default, so these
 * sign-ins end at its refusal; what is checked is what we sent.)
 */
import type { IncomingMessage } from 'node:http';
import { decodeProtectedHeader, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserLogin } from '../support/forward-auth-client.js';
import { startTestProvider, TEST_APP_ORIGIN, TEST_CLIENT, TEST_CLIENT_SECRET, type DevClient, type DevProvider } from '../support/op.js';
import { startService, type TestService } from '../support/service.js';

describe('client_secret_jwt under the alg configured', () => {
  let op: DevProvider;
  let service: TestService;
  const assertions: string[] = [];

  beforeAll(async () => {
    op = await startTestProvider({ clients: [{ ...TEST_CLIENT, token_endpoint_auth_method: 'client_secret_jwt' } as DevClient] });
    op.server.prependListener('request', (request: IncomingMessage) => {
      if (!(request.url ?? '').startsWith('/token')) return;
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const assertion = new URLSearchParams(Buffer.concat(chunks).toString('utf8')).get('client_assertion');
        if (assertion !== null) assertions.push(assertion);
      });
    });
    service = await startService({
      middlewares: ['HS256', 'HS384', 'HS512'].map((alg) => ({
        name: alg.toLowerCase(),
        issuer: op.issuer,
        clientAuthMethod: 'client_secret_jwt' as const,
        clientAuthSigningAlg: alg,
        clientConfig: { maxRetries: 0 },
      })),
    });
  });
  afterAll(async () => {
    await service?.stop();
    await op?.stop();
  });

  async function assertionSentFor(middleware: string): Promise<{ assertion: string; status: number }> {
    const before = assertions.length;
    const result = await browserLogin({ authAddress: service.authAddress(middleware), url: `${TEST_APP_ORIGIN}/private` }).then(
      (login) => login.final.status,
      () => 0,
    );
    // The token request is answered after its body ends, so the assertion is in by now.
    expect(assertions.length).toBe(before + 1);
    return { assertion: assertions.at(-1) ?? '', status: result };
  }

  for (const alg of ['HS384', 'HS512']) {
    it(`signs with ${alg} when ${alg} is configured, with the claims of RFC 7523`, async () => {
      const { assertion } = await assertionSentFor(alg.toLowerCase());
      expect(decodeProtectedHeader(assertion).alg).toBe(alg);
      const { payload } = await jwtVerify(assertion, new TextEncoder().encode(TEST_CLIENT_SECRET), { algorithms: [alg], issuer: TEST_CLIENT.client_id, audience: op.issuer });
      expect(payload.sub).toBe(TEST_CLIENT.client_id);
      expect(typeof payload.jti === 'string' && payload.jti.length >= 32).toBe(true);
      expect((payload.exp ?? 0) - (payload.iat ?? 0)).toBe(60);
    });
  }

  it('still signs in with HS256, which the provider accepts', async () => {
    const { assertion, status } = await assertionSentFor('hs256');
    expect(status).toBe(200);
    await jwtVerify(assertion, new TextEncoder().encode(TEST_CLIENT_SECRET), { algorithms: ['HS256'] });
  });
});
