/**
 * An https issuer keeps every endpoint the service calls, or sends the browser to, on https: a
 * discovery document that downgrades one of them to http (where anyone on the path reads and
 * changes tokens, keys and codes) is refused, with the reason in /readyz and the log.
 */
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { assertDiscoveryDocument, createProviderClient } from '../../src/oidc/discovery.js';
import { createProviderFetch } from '../../src/oidc/http.js';
import { isOfaError } from '../../src/errors.js';
import { createTestLogger } from '../support/log.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { discoveryDocument } from '../support/scripted-server.js';
import { createTestPki, type TestPki } from '../support/tls.js';

const ISSUER = 'https://id.example.com/realms/main';
const ENDPOINTS = ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint', 'end_session_endpoint'] as const;

function httpsDocument(issuer: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return discoveryDocument(issuer, {
    userinfo_endpoint: `${issuer}/userinfo`,
    end_session_endpoint: `${issuer}/logout`,
    ...extra,
  });
}

function refusal(document: unknown, issuer = ISSUER): string {
  try {
    assertDiscoveryDocument(document, issuer);
  } catch (error) {
    if (isOfaError(error)) return `${error.code}: ${error.message}`;
    throw error;
  }
  return 'accepted';
}

describe('assertDiscoveryDocument with an https issuer', () => {
  it('accepts a document whose endpoints are all https', () => {
    expect(refusal(httpsDocument(ISSUER))).toBe('accepted');
  });

  it.each(ENDPOINTS)('refuses an http %s, naming it', (name) => {
    const downgraded = `http://id.example.com/realms/main/${name}`;
    expect(refusal(httpsDocument(ISSUER, { [name]: downgraded }))).toBe(
      `OFA_PROVIDER_RESPONSE: discovery document of an https issuer names a non-https ${name} (${downgraded})`,
    );
  });

  it('refuses an optional endpoint that is not a URL at all', () => {
    expect(refusal(httpsDocument(ISSUER, { userinfo_endpoint: 'userinfo' }))).toBe('OFA_PROVIDER_RESPONSE: discovery document has no valid userinfo_endpoint');
  });

  it('ignores endpoints the service never uses, and optional ones that are absent', () => {
    const document = { ...discoveryDocument(ISSUER), registration_endpoint: 'http://id.example.com/register', revocation_endpoint: 'http://id.example.com/revoke', introspection_endpoint: 'http://id.example.com/introspect' };
    expect(refusal(document)).toBe('accepted');
  });

  it('still lets an http issuer (a loopback provider, on purpose) use http endpoints', () => {
    const issuer = 'http://127.0.0.1:9000';
    expect(refusal(httpsDocument(issuer), issuer)).toBe('accepted');
  });
});

describe('discovery of an https provider that downgrades an endpoint', () => {
  let pki: TestPki;
  let server: Server;
  let issuer = '';
  let document: (issuer: string) => Record<string, unknown> = httpsDocument;
  const cleanups: (() => Promise<void> | void)[] = [];

  beforeAll(async () => {
    pki = await createTestPki();
    server = createServer({ key: pki.serverKey, cert: pki.serverCert }, (req, res) => {
      if (req.url === '/.well-known/openid-configuration') res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(document(issuer)));
      else res.writeHead(404).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await pki.cleanup();
  });

  async function discover() {
    const middleware = makeMiddlewareConfig({ issuer, clientConfig: { maxRetries: 0, tls: { ca: pki.ca } } });
    const logs = createTestLogger();
    const fetch = createProviderFetch(middleware.clientConfig, logs.log);
    const providerClient = createProviderClient(middleware, { fetch, log: logs.log, retryDelayMs: () => 60_000 });
    cleanups.push(() => fetch.close());
    cleanups.push(() => providerClient.stop());
    return { state: await providerClient.discover(), logs, providerClient };
  }

  it('becomes ready when every endpoint is https', async () => {
    document = httpsDocument;
    expect((await discover()).state.status).toBe('ready');
  });

  it('fails with the reason in its state and one warning in the log when jwks_uri is http', async () => {
    document = (iss) => httpsDocument(iss, { jwks_uri: `${iss.replace('https:', 'http:')}/jwks` });
    const { state, logs, providerClient } = await discover();
    expect(state.status).toBe('failed');
    expect(state.lastError).toBe(`OFA_PROVIDER_RESPONSE: discovery document of an https issuer names a non-https jwks_uri (${issuer.replace('https:', 'http:')}/jwks)`);
    expect(providerClient.current()).toBeUndefined();
    expect(logs.warnings().map((record) => [record.msg, record['reason']])).toEqual([['identity provider discovery failed', state.lastError]]);
  });
});
