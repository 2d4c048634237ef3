/**
 * Middlewares with the same provider and client settings share one provider client (one
 * discovery, one key set, one connection pool) and still count their own provider calls under
 * their own name; different client settings get a client of their own. Against a real provider.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTelemetry, type Telemetry } from '../../src/observability/telemetry.js';
import { scrape, valueOf, type Sample } from '../observability/prometheus-text.js';
import { browserLogin } from '../support/forward-auth-client.js';
import { startTestProvider, TEST_CLIENT, type DevProvider } from '../support/op.js';
import { startService, type TestService } from '../support/service.js';

const OTHER_CLIENT = { ...TEST_CLIENT, client_id: 'forward-auth-other' };

describe('provider clients shared between middlewares', () => {
  let op: DevProvider;
  let service: TestService;
  let telemetry: Telemetry;
  let samples: Sample[];
  const discoveries: string[] = [];

  beforeAll(async () => {
    op = await startTestProvider({ clients: [TEST_CLIENT, OTHER_CLIENT] });
    // Counted at the provider, not by us: what reaches it is what costs.
    op.server.on('request', (request: { url?: string }) => {
      if (request.url?.startsWith('/.well-known/openid-configuration') === true) discoveries.push(request.url);
    });
    telemetry = createTelemetry({});
    service = await startService({
      telemetry,
      middlewares: [
        { name: 'first', issuer: op.issuer },
        { name: 'second', issuer: op.issuer },
        { name: 'other', issuer: op.issuer, clientID: OTHER_CLIENT.client_id },
      ],
    });
    for (const name of ['first', 'second', 'second']) {
      const login = await browserLogin({ authAddress: service.authAddress(name), url: 'http://app.example.test/', user: 'alice' });
      expect(login.final.status).toBe(200);
    }
    samples = (await scrape(`${service.origin}/metrics`)).samples;
  });
  afterAll(async () => {
    await service?.stop();
    await op?.stop();
    await telemetry?.shutdown();
  });

  const calls = (middleware: string, endpoint: string): number =>
    valueOf(samples, 'ofa_provider_requests_total', { middleware, endpoint, result: 'ok' });

  it('discovers once for the two middlewares with the same settings, and once for the one with another client', () => {
    expect(discoveries).toHaveLength(2);
    expect(calls('first', 'discovery') + calls('second', 'discovery')).toBe(1);
    expect(calls('other', 'discovery')).toBe(1);
  });

  it('hands the same client to both views: one readiness, one key set', () => {
    const first = service.app.middlewares.get('first');
    const second = service.app.middlewares.get('second');
    expect(first?.providerKeys()).toBe(second?.providerKeys());
    expect(first?.provider.current()).not.toBe(second?.provider.current());
  });

  it('counts each middleware\'s token calls under its own name', () => {
    expect(calls('first', 'token')).toBe(1);
    expect(calls('second', 'token')).toBe(2);
    expect(calls('other', 'token')).toBe(0);
  });
});
