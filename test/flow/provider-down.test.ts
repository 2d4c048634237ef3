import { afterAll, describe, expect, it } from 'vitest';
import { createCookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import { startTestProvider, TEST_APP_ORIGIN, type DevProvider } from '../support/op.js';
import { findFreePort } from '../support/scripted-server.js';
import { startService, type TestService } from '../support/service.js';

const APP = TEST_APP_ORIGIN;

describe('a provider that is down when the service starts', () => {
  let late: DevProvider | undefined;
  let healthy: DevProvider | undefined;
  let service: TestService | undefined;

  afterAll(async () => {
    await service?.stop();
    await late?.stop();
    await healthy?.stop();
  });

  it('makes only its own middleware answer 503 with Retry-After, until it comes up', async () => {
    const port = await findFreePort();
    healthy = await startTestProvider();
    service = await startService({
      awaitProviders: false,
      middlewares: [
        { name: 'late', issuer: `http://127.0.0.1:${port}`, clientConfig: { timeoutSeconds: 1, maxRetries: 0 } },
        { name: 'healthy', issuer: healthy.issuer },
      ],
    });
    const lateRuntime = service.app.middlewares.get('late');
    await service.app.middlewares.get('healthy')?.provider.ready();

    const down = await forwardAuth(service.authAddress('late'), { url: `${APP}/`, headers: NAVIGATION_HEADERS }, createCookieJar());
    expect(down.status).toBe(503);
    expect(down.headers['retry-after']).toMatch(/^\d+$/);
    const ready = await fetch(`${service.origin}/readyz`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { middlewares: Record<string, { status: string }> };
    expect(body.middlewares.late?.status).not.toBe('ready');
    expect(body.middlewares.healthy?.status).toBe('ready');
    expect((await fetch(`${service.origin}/healthz`)).status).toBe(200);

    // The other middleware is unaffected.
    const other = await browserLogin({ authAddress: service.authAddress('healthy'), url: `${APP}/`, user: 'alice' });
    expect(other.final.status).toBe(200);

    late = await startTestProvider({ port });
    await lateRuntime?.provider.discover();
    await lateRuntime?.provider.ready();
    const up = await browserLogin({ authAddress: service.authAddress('late'), url: `${APP}/`, user: 'alice' });
    expect(up.final.status).toBe(200);
    expect((await fetch(`${service.origin}/readyz`)).status).toBe(200);
  });
});
