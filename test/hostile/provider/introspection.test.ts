/**
 * Issue 17 items 11, 12 and 19: a provider whose introspection endpoint the test scripts (answers
 * held, connections dropped, `active` that is not a boolean, answers without `aud`). A stand-in
 * where oidc-provider cannot misbehave on cue; the service in front of it is the real one.
 */
import type { ServerResponse } from 'node:http';
import { randomBytes } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { BearerTokensConfig } from '../../../src/config/types.js';
import { MAX_CONCURRENT_INTROSPECTIONS } from '../../../src/oidc/introspection.js';
import { createCookieJar } from '../../support/cookie-jar.js';
import { forwardAuth, type ForwardAuthResult } from '../../support/forward-auth-client.js';
import { discoveryDocument, sendJson, startScriptedServer, type RecordedRequest, type ScriptedServer } from '../../support/scripted-server.js';
import { startService, type TestService } from '../../support/service.js';

const API = 'https://api.example.test';
const CLIENT_ID = 'forward-auth';

type IntrospectionScript = (request: RecordedRequest, res: ServerResponse) => void;

function bearerTokens(overrides: Partial<NonNullable<BearerTokensConfig['introspection']>> = {}): BearerTokensConfig {
  return { audiences: [API], allowPlainJwt: false, introspection: { cacheSeconds: 30, ...overrides }, passToApplication: false };
}

describe('introspection against a provider that misbehaves', () => {
  let provider: ScriptedServer;
  let service: TestService;
  let script: IntrospectionScript = (_request, res) => sendJson(res, 200, { active: false });

  beforeAll(async () => {
    let issuer = '';
    provider = await startScriptedServer((request, res) => {
      const path = request.url.split('?')[0];
      if (path === '/.well-known/openid-configuration') return sendJson(res, 200, discoveryDocument(issuer, { introspection_endpoint: `${issuer}/introspect` }));
      if (path === '/jwks') return sendJson(res, 200, { keys: [] });
      if (path === '/introspect') return script(request, res);
      return sendJson(res, 404, { error: 'not_found' });
    });
    issuer = provider.url;
    service = await startService({
      middlewares: [
        { name: 'api', issuer, clientSecret: 'client-secret-value-0123456789', forwardHeaders: { 'X-Subject': 'sub' }, bearerTokens: bearerTokens() },
        {
          name: 'listed',
          issuer,
          clientSecret: 'client-secret-value-0123456789',
          forwardHeaders: { 'X-Subject': 'sub' },
          bearerTokens: bearerTokens({ clientsWithoutAudience: ['cli-tool'] }),
        },
      ],
    });
  });
  afterEach(() => {
    script = (_request, res) => sendJson(res, 200, { active: false });
  });
  afterAll(async () => {
    await service?.stop();
    await provider?.stop();
  });

  const introspections = (): number => provider.requests.filter((request) => request.url.startsWith('/introspect')).length;
  const newToken = (): string => randomBytes(24).toString('base64url');
  function call(token: string, middleware = 'api'): Promise<ForwardAuthResult> {
    return forwardAuth(
      service.authAddress(middleware),
      { url: `${API}/items`, headers: { accept: 'application/json', authorization: `Bearer ${token}` } },
      createCookieJar(),
      { authResponseHeaders: ['X-Subject'] },
    );
  }

  it('answers 502 OFA_PROVIDER_RESPONSE without Retry-After when `active` is not a boolean, and lets nobody in', async () => {
    for (const active of ['true', 1, null, { yes: true }]) {
      script = (_request, res) => sendJson(res, 200, { active, sub: 'alice', aud: API, client_id: CLIENT_ID });
      const result = await call(newToken());
      expect(result.status).toBe(502);
      expect(result.headers['retry-after']).toBeUndefined();
      expect(JSON.parse(result.body)).toMatchObject({ error: 'OFA_PROVIDER_RESPONSE' });
      expect(result.forwardedHeaders['x-subject']).toBeUndefined();
    }
  });

  it('refuses an active token whose answer names no audience unless its client is listed in clientsWithoutAudience', async () => {
    script = (_request, res) => sendJson(res, 200, { active: true, sub: 'alice', client_id: 'cli-tool', token_type: 'Bearer' });
    expect((await call(newToken())).status).toBe(401);
    const listed = await call(newToken(), 'listed');
    expect(listed.status).toBe(200);
    expect(listed.forwardedHeaders['x-subject']).toBe('alice');
    // Another client's token, or one that names no client, stays refused where some client is listed.
    script = (_request, res) => sendJson(res, 200, { active: true, sub: 'alice', client_id: 'someone-else' });
    expect((await call(newToken(), 'listed')).status).toBe(401);
    script = (_request, res) => sendJson(res, 200, { active: true, sub: 'alice', aud: [] });
    expect((await call(newToken(), 'listed')).status).toBe(401);
    // An audience, when there is one, decides alone.
    script = (_request, res) => sendJson(res, 200, { active: true, sub: 'alice', aud: API, client_id: 'someone-else' });
    expect((await call(newToken())).status).toBe(200);
  });

  it('asks once, without retries, when the provider drops the connection', async () => {
    script = (_request, res) => res.socket?.destroy();
    const before = introspections();
    const result = await call(newToken());
    expect(result.status).toBe(503);
    expect(introspections() - before).toBe(1);
  });

  it(`holds at most ${MAX_CONCURRENT_INTROSPECTIONS} calls open at the provider: the next new token gets 503 without a call`, async () => {
    const held: { res: ServerResponse; request: RecordedRequest }[] = [];
    script = (request, res) => void held.push({ request, res });
    const before = introspections();
    const first = Array.from({ length: MAX_CONCURRENT_INTROSPECTIONS }, () => call(newToken()));
    while (held.length < MAX_CONCURRENT_INTROSPECTIONS) await new Promise((resolve) => setTimeout(resolve, 10));

    const over = await call(newToken());
    expect(over.status).toBe(503);
    expect(over.headers['retry-after']).toBeDefined();
    expect(JSON.parse(over.body)).toMatchObject({ error: 'OFA_INTROSPECTION_BUSY' });
    expect(introspections() - before).toBe(MAX_CONCURRENT_INTROSPECTIONS);

    for (const { res } of held) sendJson(res, 200, { active: true, sub: 'alice', aud: API });
    expect((await Promise.all(first)).map((result) => result.status)).toEqual(Array(MAX_CONCURRENT_INTROSPECTIONS).fill(200));
    // Once the calls are answered, new tokens are asked about again.
    script = (_request, res) => sendJson(res, 200, { active: true, sub: 'alice', aud: API });
    expect((await call(newToken())).status).toBe(200);
  });
});
