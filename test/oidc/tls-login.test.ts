/**
 * A whole login against a provider served over HTTPS by a private CA (issue 5): discovery, the
 * browser's trip to the provider, the code exchange and the JWKS all go over TLS configured by
 * clientConfig.tls, including mutual TLS, and with the PEMs given by reference in a config file.
 */
import type { IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import { Agent } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createKubernetesSecretReader, loadConfig } from '../../src/config/index.js';
import { buildApp } from '../../src/server/app.js';
import { createCookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import { createTestLogger } from '../support/log.js';
import { startMockKubeApiServer } from '../support/mock-kube-apiserver.js';
import type { MiddlewareOverrides } from '../support/middleware-config.js';
import { startTestProvider, TEST_APP_ORIGIN, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type DevProvider } from '../support/op.js';
import { startService, TEST_SECRET, type TestService } from '../support/service.js';
import { createTestPki, type TestPki } from '../support/tls.js';

const APP = TEST_APP_ORIGIN;
const PAGE = `${APP}/private?x=1`;
const SESSION_COOKIE = 'test-session';
const CLIENT_CN = 'forward-auth client';

let pki: TestPki;
/** The browser trusts the private CA and, for providers that ask, shows the client certificate too. */
let browserDispatcher: Agent;

beforeAll(async () => {
  pki = await createTestPki();
  browserDispatcher = new Agent({ connect: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey } });
});
afterAll(async () => {
  await browserDispatcher?.close();
  await pki?.cleanup();
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface HttpsProvider {
  readonly op: DevProvider;
  /** Path and client certificate CN of every request the provider received. */
  readonly requests: { readonly path: string; readonly peer: string | undefined }[];
}

async function httpsProvider(requireClientCertificate = false): Promise<HttpsProvider> {
  const op = await startTestProvider({
    https: { key: pki.serverKey, cert: pki.serverCert, ca: pki.ca, requestCert: requireClientCertificate },
  });
  cleanups.push(() => op.stop());
  const requests: { path: string; peer: string | undefined }[] = [];
  op.server.on('request', (request: IncomingMessage) => {
    const socket = request.socket as TLSSocket;
    const subject = socket.getPeerCertificate().subject as { CN?: string } | undefined;
    requests.push({ path: (request.url ?? '/').split('?')[0] ?? '/', peer: subject?.CN });
  });
  return { op, requests };
}

async function serviceFor(op: DevProvider, tls: NonNullable<MiddlewareOverrides['clientConfig']>['tls'], awaitProviders = true): Promise<TestService> {
  const service = await startService({
    middlewares: [{ name: 'test', issuer: op.issuer, forwardHeaders: { 'X-Forwarded-User': 'email' }, clientConfig: { maxRetries: 0, tls } }],
    awaitProviders,
  });
  cleanups.push(() => service.stop());
  return service;
}

function loginAt(service: TestService): ReturnType<typeof browserLogin> {
  return browserLogin({
    authAddress: service.authAddress(),
    url: PAGE,
    user: 'alice',
    addAuthCookiesToResponse: [SESSION_COOKIE],
    authResponseHeaders: ['X-Forwarded-User'],
    login: { dispatcher: browserDispatcher },
  });
}

describe('a login at a provider on HTTPS with a private CA', () => {
  it('completes when clientConfig.tls.ca trusts that CA', async () => {
    const { op, requests } = await httpsProvider();
    expect(op.issuer).toMatch(/^https:\/\//);
    const service = await serviceFor(op, { ca: pki.ca });

    const login = await loginAt(service);

    expect(login.authorizationUrl.startsWith(`${op.issuer}/auth?`)).toBe(true);
    expect(login.callback.location).toBe(PAGE);
    expect(login.final.status).toBe(200);
    expect(login.jar.get(SESSION_COOKIE)).toBeDefined();
    expect(requests.map((request) => request.path)).toContain('/token');
    expect(service.logger.warnings()).toEqual([]);
  });

  it('is refused without the CA: discovery fails, the page gets 503 and no login starts', async () => {
    const { op, requests } = await httpsProvider();
    const service = await serviceFor(op, {}, false);
    const [runtime] = [...service.app.middlewares.values()];
    expect((await runtime?.provider.discover())?.status).toBe('failed');

    const jar = createCookieJar();
    const result = await forwardAuth(service.authAddress(), { url: PAGE, headers: NAVIGATION_HEADERS }, jar);

    expect(result.status).toBe(503);
    expect(result.location).toBeUndefined();
    expect(jar.all()).toEqual([]);
    expect(requests).toEqual([]);
    expect(service.logger.text()).toContain('TLS verification failed');
  });

  it('completes with insecureSkipVerify, with a warning in the log', async () => {
    const { op } = await httpsProvider();
    const service = await serviceFor(op, { insecureSkipVerify: true });

    const login = await loginAt(service);

    expect(login.final.status).toBe(200);
    const warnings = service.logger.warnings().map((record) => record.msg ?? '');
    expect(warnings.some((message) => message.includes('insecureSkipVerify'))).toBe(true);
  });
});

describe('a login at a provider that requires a client certificate (mutual TLS)', () => {
  it('completes with cert and key, presenting the certificate to the token endpoint too', async () => {
    const { op, requests } = await httpsProvider(true);
    const service = await serviceFor(op, { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey });

    const login = await loginAt(service);

    expect(login.final.status).toBe(200);
    expect(login.final.forwardedHeaders['x-forwarded-user']).toBe('alice@example.com');
    const token = requests.filter((request) => request.path === '/token');
    expect(token).toHaveLength(1);
    expect(token[0]?.peer).toBe(CLIENT_CN);
    expect(requests.find((request) => request.path === '/.well-known/openid-configuration')?.peer).toBe(CLIENT_CN);
  });

  it('cannot even discover the provider without them, so no login starts', async () => {
    const { op, requests } = await httpsProvider(true);
    const service = await serviceFor(op, { ca: pki.ca }, false);
    const [runtime] = [...service.app.middlewares.values()];
    expect((await runtime?.provider.discover())?.status).toBe('failed');

    const jar = createCookieJar();
    const result = await forwardAuth(service.authAddress(), { url: PAGE, headers: NAVIGATION_HEADERS }, jar);

    expect(result.status).toBe(503);
    expect(jar.all()).toEqual([]);
    expect(requests).toEqual([]);
  });
});

describe('TLS material given by reference in the configuration file', () => {
  const SA_TOKEN = 'service-account-token-for-tls-test';

  /** Each of ca, cert and key by a different kind of reference, in turn. */
  const layouts = [
    { ca: 'file', cert: 'env', key: 'kube' },
    { ca: 'kube', cert: 'file', key: 'env' },
    { ca: 'env', cert: 'kube', key: 'file' },
  ] as const;

  for (const layout of layouts) {
    it(`loads ca by ${layout.ca}, cert by ${layout.cert}, key by ${layout.key} and completes a mutual-TLS login`, async () => {
      const { op, requests } = await httpsProvider(true);
      const dir = await mkdtemp(join(tmpdir(), 'ofa-tls-config-'));
      cleanups.push(() => rm(dir, { recursive: true, force: true }));
      const pems = { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey };
      const env: NodeJS.ProcessEnv = { OFA_TEST_SESSION_SECRET: TEST_SECRET, OFA_TEST_CLIENT_SECRET: TEST_CLIENT_SECRET };
      const kubeData: Record<string, string> = {};
      const references: Record<string, string> = {};
      for (const field of ['ca', 'cert', 'key'] as const) {
        const kind = layout[field];
        if (kind === 'file') {
          await writeFile(join(dir, `provider-${field}.pem`), pems[field]);
          // Relative: read from the config file's directory.
          references[field] = `file:provider-${field}.pem`;
        } else if (kind === 'env') {
          env[`OFA_TEST_TLS_${field.toUpperCase()}`] = pems[field];
          references[field] = `env:OFA_TEST_TLS_${field.toUpperCase()}`;
        } else {
          kubeData[`tls.${field}`] = pems[field];
          references[field] = `urn:k8s:secret:provider-tls:tls.${field}`;
        }
      }
      const api = await startMockKubeApiServer({
        secrets: [{ namespace: 'auth', name: 'provider-tls', stringData: kubeData }],
        serviceAccounts: [{ token: SA_TOKEN, namespace: 'auth', name: 'oidc-forward-auth', canReadSecretsIn: ['auth'] }],
      });
      cleanups.push(() => api.close());
      const configPath = join(dir, 'config.yaml');
      await writeFile(
        configPath,
        `server:
  listen: 127.0.0.1:4181
  secrets: [ "env:OFA_TEST_SESSION_SECRET" ]
  trustedProxies: [ 127.0.0.1/32 ]
  logLevel: debug
middlewares:
  test:
    issuer: ${op.issuer}
    clientID: ${TEST_CLIENT_ID}
    clientSecret: env:OFA_TEST_CLIENT_SECRET
    redirectUrl: /callback
    forwardHeaders:
      X-Forwarded-User: email
    clientConfig:
      maxRetries: 0
      tls:
        ca: ${references.ca}
        cert: ${references.cert}
        key: ${references.key}
`,
      );

      const loaded = await loadConfig(configPath, {
        env,
        kube: createKubernetesSecretReader({ baseUrl: api.url, token: SA_TOKEN, namespace: 'auth' }),
      });
      if (!loaded.ok) throw new Error(`config rejected: ${loaded.problems.join('; ')}`);
      // A file: reference loses one trailing line break, which PEM does not mind.
      const tls = loaded.config.middlewares.test?.clientConfig.tls;
      expect([tls?.ca, tls?.cert, tls?.key].map((pem) => pem?.trimEnd())).toEqual([pems.ca, pems.cert, pems.key].map((pem) => pem.trimEnd()));
      expect(api.requests.length).toBeGreaterThan(0);

      const logs = createTestLogger('debug');
      const app = buildApp(loaded.config, { log: logs.log });
      // Port 0 rather than the file's listen address: tests never take a fixed port.
      await app.fastify.listen({ host: '127.0.0.1', port: 0 });
      cleanups.push(async () => {
        await app.fastify.close();
        await app.stop();
      });
      await Promise.all([...app.middlewares.values()].map((runtime) => runtime.provider.ready()));
      const { port } = app.fastify.server.address() as AddressInfo;

      const login = await browserLogin({
        authAddress: `http://127.0.0.1:${port}/auth/test`,
        url: PAGE,
        user: 'bob',
        addAuthCookiesToResponse: [SESSION_COOKIE],
        authResponseHeaders: ['X-Forwarded-User'],
        login: { dispatcher: browserDispatcher },
      });

      expect(login.final.status).toBe(200);
      expect(login.final.forwardedHeaders['x-forwarded-user']).toBe('bob@example.com');
      expect(requests.find((request) => request.path === '/token')?.peer).toBe(CLIENT_CN);
      const logText = logs.text();
      expect(logText).not.toContain('PRIVATE KEY');
      expect(logText).not.toContain(TEST_CLIENT_SECRET);
    });
  }
});
