import * as client from 'openid-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { MiddlewareConfig } from '../../src/config/types.js';
import { createProviderClient, discoveryUrl, type ProviderClient } from '../../src/oidc/discovery.js';
import { createProviderFetch, type ProviderFetch } from '../../src/oidc/http.js';
import { createTestLogger } from '../support/log.js';
import { makeMiddlewareConfig, type MiddlewareOverrides } from '../support/middleware-config.js';
import {
  discoveryDocument,
  findFreePort,
  sendJson,
  startScriptedServer,
  type ScriptedHandler,
  type ScriptedServer,
} from '../support/scripted-server.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(handler: ScriptedHandler, port?: number): Promise<ScriptedServer> {
  const server = await startScriptedServer(handler, port);
  cleanups.push(() => server.stop());
  return server;
}

/** A provider at `issuerPath` under the server that answers discovery with `document(issuer)`. */
async function serveDiscovery(
  document: (issuer: string) => unknown = (issuer) => discoveryDocument(issuer),
  issuerPath = '',
): Promise<{ server: ScriptedServer; issuer: string }> {
  let issuer = '';
  const server = await serve((req, res) => {
    if (req.url.split('?')[0] === `${issuerPath}/.well-known/openid-configuration`) sendJson(res, 200, document(issuer));
    else res.writeHead(404).end();
  });
  issuer = `${server.url}${issuerPath}`;
  return { server, issuer };
}

function startClient(
  overrides: MiddlewareOverrides,
  retryDelayMs: (attempt: number) => number = () => 10,
): { providerClient: ProviderClient; fetch: ProviderFetch; middleware: MiddlewareConfig; logs: ReturnType<typeof createTestLogger> } {
  const middleware = makeMiddlewareConfig(overrides);
  const logs = createTestLogger();
  const fetch = createProviderFetch(middleware.clientConfig, logs.log, { retryDelayMs: () => 1 });
  const providerClient = createProviderClient(middleware, { fetch, log: logs.log, retryDelayMs });
  cleanups.push(() => fetch.close());
  cleanups.push(() => providerClient.stop());
  return { providerClient, fetch, middleware, logs };
}

/** Waits for the first discovery attempt to finish either way. */
async function settled(providerClient: ProviderClient): Promise<ReturnType<ProviderClient['state']>> {
  return providerClient.discover();
}

describe('discoveryUrl', () => {
  it('appends the well-known path to an issuer with a path, as OpenID Discovery says', () => {
    expect(discoveryUrl('https://id.example/realms/demo', {}).href).toBe('https://id.example/realms/demo/.well-known/openid-configuration');
  });

  it('drops a trailing slash of the issuer before appending', () => {
    expect(discoveryUrl('https://id.example/realms/demo/', {}).href).toBe('https://id.example/realms/demo/.well-known/openid-configuration');
  });

  it('adds discoveryParams as query parameters, encoded', () => {
    const url = discoveryUrl('https://id.example', { p: 'B2C_1_signin', 'odd key': 'a&b' });
    expect(url.searchParams.get('p')).toBe('B2C_1_signin');
    expect(url.searchParams.get('odd key')).toBe('a&b');
  });
});

describe('createProviderClient', () => {
  it('discovers the provider with discoveryParams in the query and becomes ready', async () => {
    const { server, issuer } = await serveDiscovery(undefined, '/tenant/v2.0');
    const { providerClient, fetch } = startClient({ issuer, discoveryParams: { p: 'B2C_1_signin', appid: '42' } });
    await providerClient.ready();
    expect(server.requests[0]?.url).toBe('/tenant/v2.0/.well-known/openid-configuration?p=B2C_1_signin&appid=42');
    expect(providerClient.state().status).toBe('ready');
    const configuration = providerClient.current();
    expect(configuration?.serverMetadata().token_endpoint).toBe(`${issuer}/token`);
    expect(configuration?.[client.customFetch]).toBe(fetch);
  });

  it('sends no query string when there are no discoveryParams', async () => {
    const { server, issuer } = await serveDiscovery();
    const { providerClient } = startClient({ issuer });
    await providerClient.ready();
    expect(server.requests[0]?.url).toBe('/.well-known/openid-configuration');
  });

  it('refuses a document naming another issuer, and never becomes ready', async () => {
    const { issuer } = await serveDiscovery(() => discoveryDocument('https://impostor.example'));
    const { providerClient } = startClient({ issuer }, () => 60_000);
    const state = await settled(providerClient);
    expect(state.status).toBe('failed');
    expect(state.lastError).toContain('OFA_DISCOVERY_ISSUER_MISMATCH');
    expect(state.lastError).toContain('https://impostor.example');
    expect(providerClient.current()).toBeUndefined();
  });

  it('compares issuers exactly: a trailing slash is a mismatch', async () => {
    const { issuer } = await serveDiscovery((iss) => discoveryDocument(`${iss}/`));
    const { providerClient } = startClient({ issuer }, () => 60_000);
    expect((await settled(providerClient)).lastError).toContain('OFA_DISCOVERY_ISSUER_MISMATCH');
  });

  it('refuses a document without a token endpoint', async () => {
    const { issuer } = await serveDiscovery((iss) => ({ ...discoveryDocument(iss), token_endpoint: undefined }));
    const { providerClient } = startClient({ issuer }, () => 60_000);
    expect((await settled(providerClient)).lastError).toContain('no valid token_endpoint');
  });

  it('refuses an answer that is not JSON', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
    });
    const { providerClient } = startClient({ issuer: server.url }, () => 60_000);
    const state = await settled(providerClient);
    expect(state.lastError).toContain('OFA_PROVIDER_RESPONSE');
    expect(state.lastError).not.toContain('<html>');
  });

  it('survives an oversized discovery document', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ issuer: 'x', padding: 'p'.repeat(2 * 1024 * 1024) }));
    });
    const { providerClient } = startClient({ issuer: server.url }, () => 60_000);
    const state = await settled(providerClient);
    expect(state.status).toBe('failed');
    expect(state.lastError).toContain('larger than 1048576 bytes');
  });

  it('rides out a provider answering 503 a few times', async () => {
    let issuer = '';
    const server = await serve((_req, res, index) => {
      if (index < 2) res.writeHead(503).end();
      else sendJson(res, 200, discoveryDocument(issuer));
    });
    issuer = server.url;
    const { providerClient } = startClient({ issuer, clientConfig: { maxRetries: 3 } });
    await providerClient.ready();
    expect(server.requests).toHaveLength(3);
  });

  it('goes from failed to ready when the provider starts after the service', async () => {
    const port = await findFreePort();
    const issuer = `http://127.0.0.1:${port}`;
    const { providerClient } = startClient({ issuer, clientConfig: { maxRetries: 0 } }, () => 60_000);
    expect(providerClient.state().status).toBe('pending');
    const down = await settled(providerClient);
    expect(down.status).toBe('failed');
    expect(down.lastError).toContain('OFA_PROVIDER_UNAVAILABLE');
    expect(providerClient.current()).toBeUndefined();

    await serve((_req, res) => sendJson(res, 200, discoveryDocument(issuer)), port);
    const up = await settled(providerClient);
    expect(up.status).toBe('ready');
    expect(up.lastError).toBeUndefined();
    await expect(providerClient.ready()).resolves.toBeUndefined();
  });

  it('keeps retrying in the background until the provider is up', async () => {
    const port = await findFreePort();
    const issuer = `http://127.0.0.1:${port}`;
    const attempts: number[] = [];
    let server: ScriptedServer | undefined;
    const { providerClient } = startClient({ issuer, clientConfig: { maxRetries: 0 } }, (attempt) => {
      attempts.push(attempt);
      if (attempt === 2) {
        void serve((_req, res) => sendJson(res, 200, discoveryDocument(issuer)), port).then((s) => {
          server = s;
        });
      }
      return 20;
    });
    await providerClient.ready();
    expect(attempts.slice(0, 2)).toEqual([1, 2]);
    expect(server?.requests.length).toBeGreaterThan(0);
  });

  it('logs a repeated failure once at warn level', async () => {
    const port = await findFreePort();
    const { providerClient, logs } = startClient({ issuer: `http://127.0.0.1:${port}`, clientConfig: { maxRetries: 0 } }, () => 60_000);
    await settled(providerClient);
    await settled(providerClient);
    await settled(providerClient);
    expect(logs.warnings().filter((r) => r.msg === 'identity provider discovery failed')).toHaveLength(1);
  });

  it('rejects ready() when stopped before the provider was found', async () => {
    const port = await findFreePort();
    const { providerClient } = startClient({ issuer: `http://127.0.0.1:${port}`, clientConfig: { maxRetries: 0 } }, () => 60_000);
    const ready = providerClient.ready();
    providerClient.stop();
    await expect(ready).rejects.toMatchObject({ code: 'OFA_PROVIDER_UNAVAILABLE' });
  });
});

describe('client authentication at the token endpoint', () => {
  async function tokenRequestWith(
    methods: string[] | undefined,
    clientSecret: string | undefined,
  ): Promise<{ authorization: string | undefined; body: URLSearchParams }> {
    let issuer = '';
    const server = await serve((req, res) => {
      if (req.url.startsWith('/.well-known/')) {
        sendJson(res, 200, discoveryDocument(issuer, methods === undefined ? {} : { token_endpoint_auth_methods_supported: methods }));
      } else {
        sendJson(res, 400, { error: 'unsupported_grant_type' });
      }
    });
    issuer = server.url;
    const { providerClient } = startClient({ issuer, clientSecret });
    await providerClient.ready();
    const configuration = providerClient.current();
    if (configuration === undefined) throw new Error('not ready');
    await client.clientCredentialsGrant(configuration).catch(() => undefined);
    const tokenRequest = server.requests.find((r) => r.url === '/token');
    if (tokenRequest === undefined) throw new Error('no token request');
    return { authorization: tokenRequest.headers.authorization, body: new URLSearchParams(tokenRequest.body) };
  }

  it('uses client_secret_basic when the provider lists no methods', async () => {
    const { authorization, body } = await tokenRequestWith(undefined, 's3cret');
    // RFC 6749 §2.3.1: id and secret are form-urlencoded before the base64.
    const [id, secret] = Buffer.from((authorization ?? '').replace(/^Basic /, ''), 'base64').toString().split(':');
    expect([decodeURIComponent(id ?? ''), decodeURIComponent(secret ?? '')]).toEqual(['forward-auth', 's3cret']);
    expect(body.has('client_secret')).toBe(false);
  });

  it('uses client_secret_basic when the provider lists both', async () => {
    const { authorization } = await tokenRequestWith(['client_secret_post', 'client_secret_basic'], 's3cret');
    expect(authorization).toMatch(/^Basic /);
  });

  it('uses client_secret_post when that is all the provider supports', async () => {
    const { authorization, body } = await tokenRequestWith(['client_secret_post', 'private_key_jwt'], 's3cret');
    expect(authorization).toBeUndefined();
    expect(body.get('client_id')).toBe('forward-auth');
    expect(body.get('client_secret')).toBe('s3cret');
  });

  it('sends only the client id for a public client', async () => {
    const { authorization, body } = await tokenRequestWith(['client_secret_basic', 'none'], undefined);
    expect(authorization).toBeUndefined();
    expect(body.get('client_id')).toBe('forward-auth');
    expect(body.has('client_secret')).toBe(false);
  });
});
