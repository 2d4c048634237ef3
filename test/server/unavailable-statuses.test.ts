/**
 * The status of an answer that says a dependency could not answer comes from the error table, as
 * the README's table of codes says: 503 when the provider or the store cannot be reached, 504 when
 * the provider did not answer in time, 502 when it sent something we cannot use; always with
 * Retry-After. (The writer used to turn all three into 503.) Through nginx the status stays 503:
 * auth_request passes on only 2xx, 401 and 403, and the recipe restores a 503 alone.
 *
 * The provider is a scripted stand-in (its pushed authorization endpoint must stall or answer
 * garbage on cue, which oidc-provider cannot do); the service in front of it is the real one.
 */
import type { ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar } from '../support/cookie-jar.js';
import { forwardAuth, NAVIGATION_HEADERS, type ForwardAuthResult } from '../support/forward-auth-client.js';
import { discoveryDocument, sendJson, startScriptedServer, type RecordedRequest, type ScriptedServer } from '../support/scripted-server.js';
import { startService, type TestService } from '../support/service.js';

const PAGE = 'https://app.example.test/private';

type ParScript = (request: RecordedRequest, res: ServerResponse) => void;

/** The connection stays open until the test stops the provider. */
const stall: ParScript = () => undefined;
const garbage: ParScript = (_request, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('not json');
};

describe('a login start whose pushed authorization request fails for now', () => {
  let provider: ScriptedServer;
  let service: TestService;
  let script: ParScript = stall;

  beforeAll(async () => {
    let issuer = '';
    provider = await startScriptedServer((request, res) => {
      const path = request.url.split('?')[0];
      if (path === '/.well-known/openid-configuration') {
        return sendJson(res, 200, discoveryDocument(issuer, { pushed_authorization_request_endpoint: `${issuer}/par` }));
      }
      if (path === '/par') return script(request, res);
      return sendJson(res, 404, { error: 'not_found' });
    });
    issuer = provider.url;
    service = await startService({
      middlewares: [
        {
          name: 'test',
          issuer,
          clientSecret: 'client-secret-value-0123456789',
          pushedAuthorizationRequests: true,
          clientConfig: { timeoutSeconds: 0.5, maxRetries: 0 },
        },
      ],
    });
  });
  afterAll(async () => {
    await service?.stop();
    await provider?.stop();
  });

  function startLogin(headers: Record<string, string> = {}): Promise<ForwardAuthResult> {
    return forwardAuth(service.authAddress('test'), { url: PAGE, headers: { ...NAVIGATION_HEADERS, accept: 'application/json', ...headers } }, createCookieJar());
  }

  it('answers 504 OFA_PROVIDER_TIMEOUT with Retry-After when the provider does not answer in time', async () => {
    script = stall;
    const result = await startLogin();
    expect(result.status).toBe(504);
    expect(result.headers['retry-after']).toMatch(/^\d+$/);
    expect(JSON.parse(result.body)).toEqual({ error: 'OFA_PROVIDER_TIMEOUT', message: 'The identity provider did not answer in time.' });
    expect(result.authSetCookies).toEqual([]);
  });

  it('answers 502 OFA_PROVIDER_RESPONSE with Retry-After when the provider sends an answer we cannot use', async () => {
    script = garbage;
    const result = await startLogin();
    expect(result.status).toBe(502);
    expect(result.headers['retry-after']).toMatch(/^\d+$/);
    expect(JSON.parse(result.body)).toEqual({ error: 'OFA_PROVIDER_RESPONSE', message: 'The identity provider sent an answer we cannot use.' });
    expect(result.authSetCookies).toEqual([]);
  });

  it('answers nginx 503 with Retry-After and the exact code, which its recipe restores', async () => {
    script = stall;
    const result = await startLogin({ 'X-Forward-Auth-Proxy': 'nginx' });
    expect(result.status).toBe(503);
    expect(result.headers['retry-after']).toMatch(/^\d+$/);
    expect(result.headers['x-auth-error']).toBe('OFA_PROVIDER_TIMEOUT');
    expect(result.body).toBe('');
  });
});
