import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createProviderClient, type ProviderState } from '../../src/oidc/discovery.js';
import { createProviderFetch } from '../../src/oidc/http.js';
import { createTestLogger, type TestLogger } from '../support/log.js';
import { makeMiddlewareConfig, type MiddlewareOverrides } from '../support/middleware-config.js';
import { startTestProvider, type DevProvider } from '../support/op.js';
import { createTestPki, type TestPki } from '../support/tls.js';

let pki: TestPki;
beforeAll(async () => {
  pki = await createTestPki();
});
afterAll(async () => {
  await pki.cleanup();
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function httpsProvider(requestClientCertificate = false): Promise<DevProvider> {
  const provider = await startTestProvider({
    https: { key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, requestCert: requestClientCertificate },
  });
  cleanups.push(() => provider.stop());
  return provider;
}

/** One discovery attempt against `issuer` with the given clientConfig.tls. */
async function discoverWith(issuer: string, tls: NonNullable<MiddlewareOverrides['clientConfig']>['tls']): Promise<{ state: ProviderState; logs: TestLogger }> {
  const middleware = makeMiddlewareConfig({ issuer, clientConfig: { maxRetries: 0, tls } });
  const logs = createTestLogger();
  const fetch = createProviderFetch(middleware.clientConfig, logs.log);
  const providerClient = createProviderClient(middleware, { fetch, log: logs.log, retryDelayMs: () => 60_000 });
  cleanups.push(() => fetch.close());
  cleanups.push(() => providerClient.stop());
  return { state: await providerClient.discover(), logs };
}

describe('TLS to the identity provider', () => {
  it('trusts a provider certified by the private CA given in clientConfig.tls.ca', async () => {
    const provider = await httpsProvider();
    expect(provider.issuer).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const { state, logs } = await discoverWith(provider.issuer, { ca: pki.ca });
    expect(state.status).toBe('ready');
    expect(logs.warnings()).toEqual([]);
  });

  it('refuses that provider without the CA, and says why', async () => {
    const provider = await httpsProvider();
    const { state } = await discoverWith(provider.issuer, {});
    expect(state.status).toBe('failed');
    expect(state.lastError).toContain('OFA_PROVIDER_UNAVAILABLE');
    expect(state.lastError).toContain('TLS verification failed');
  });

  it('accepts it with insecureSkipVerify, logging one warning', async () => {
    const provider = await httpsProvider();
    const { state, logs } = await discoverWith(provider.issuer, { insecureSkipVerify: true });
    expect(state.status).toBe('ready');
    const warnings = logs.warnings();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]?.msg).toContain('insecureSkipVerify');
  });

  it('presents the client certificate to a provider that requires one', async () => {
    const provider = await httpsProvider(true);
    const { state } = await discoverWith(provider.issuer, { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey });
    expect(state.status).toBe('ready');
  });

  it('is turned away by that provider without a client certificate', async () => {
    const provider = await httpsProvider(true);
    const { state } = await discoverWith(provider.issuer, { ca: pki.ca });
    expect(state.status).toBe('failed');
    expect(state.lastError).toContain('OFA_PROVIDER_UNAVAILABLE');
  });
});
