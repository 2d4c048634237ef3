import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createInClusterKubernetesSecretReader,
  createKubernetesSecretReader,
  type KubernetesFetch,
} from '../../src/config/index.js';
import { isOfaError } from '../../src/errors.js';
import { startMockKubeApiServer, type MockKubeApiServer } from '../support/mock-kube-apiserver.js';

const TOKEN = 'service-account-token-value';

describe('createKubernetesSecretReader', () => {
  let api: MockKubeApiServer;

  beforeEach(async () => {
    api = await startMockKubeApiServer({
      secrets: [{ namespace: 'whoami', name: 'my-secret', stringData: { clientId: 'my-oidc-client-name', clientSecret: 'mysecret' } }],
      serviceAccounts: [{ token: TOKEN, namespace: 'auth', name: 'oidc-forward-auth', canReadSecretsIn: ['whoami'] }],
    });
  });

  afterEach(async () => {
    await api.close();
  });

  it('reads a secret with the bearer token and returns its data decoded from base64', async () => {
    const reader = createKubernetesSecretReader({ baseUrl: api.url, token: TOKEN });
    await expect(reader.readSecret('whoami', 'my-secret')).resolves.toEqual({
      clientId: 'my-oidc-client-name',
      clientSecret: 'mysecret',
    });
    expect(api.requests).toEqual([
      { method: 'GET', path: '/api/v1/namespaces/whoami/secrets/my-secret', authorization: `Bearer ${TOKEN}` },
    ]);
  });

  it('reports a missing secret with the API Status message and code', async () => {
    const reader = createKubernetesSecretReader({ baseUrl: api.url, token: TOKEN });
    const error = await reader.readSecret('whoami', 'nope').catch((caught: unknown) => caught);
    expect(isOfaError(error) && error.code).toBe('OFA_SECRET_UNRESOLVED');
    expect((error as Error).message).toBe('secret "nope" in namespace "whoami": secrets "nope" not found (HTTP 404 NotFound)');
  });

  it('reports a namespace the service account may not read as forbidden', async () => {
    const reader = createKubernetesSecretReader({ baseUrl: api.url, token: TOKEN });
    await expect(reader.readSecret('kube-system', 'my-secret')).rejects.toThrow(
      /secrets "my-secret" is forbidden: User "system:serviceaccount:auth:oidc-forward-auth" cannot get resource "secrets".*\(HTTP 403 Forbidden\)$/,
    );
  });

  it('reports a rejected token without repeating it', async () => {
    const reader = createKubernetesSecretReader({ baseUrl: api.url, token: 'stale-token' });
    const error = (await reader.readSecret('whoami', 'my-secret').catch((caught: unknown) => caught)) as Error;
    expect(error.message).toContain('Unauthorized (HTTP 401 Unauthorized)');
    expect(error.message).not.toContain('stale-token');
  });

  it('reports an unreachable API server by its address', async () => {
    await api.close();
    const reader = createKubernetesSecretReader({ baseUrl: api.url, token: TOKEN });
    await expect(reader.readSecret('whoami', 'my-secret')).rejects.toThrow(`the Kubernetes API at ${api.url} is not reachable`);
    // Reopened so afterEach has a server to close.
    api = await startMockKubeApiServer({ secrets: [], serviceAccounts: [] });
  });
});

describe('createInClusterKubernetesSecretReader', () => {
  const files: Record<string, string> = {
    '/sa/token': `${TOKEN}\n`,
    '/sa/namespace': 'whoami',
    '/sa/ca.crt': '-----BEGIN CERTIFICATE-----\n…\n-----END CERTIFICATE-----\n',
  };
  const readFile = async (path: string): Promise<string> => {
    const content = files[path];
    if (content === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return content;
  };

  it('talks to https://KUBERNETES_SERVICE_HOST:PORT with the mounted token and knows the pod namespace', async () => {
    const seen: { url: string; authorization: string | undefined }[] = [];
    const fetch: KubernetesFetch = async (url, init) => {
      seen.push({ url, authorization: init.headers['authorization'] });
      return { status: 200, json: async () => ({ kind: 'Secret', data: { a: Buffer.from('b').toString('base64') } }) };
    };
    const reader = await createInClusterKubernetesSecretReader({
      env: { KUBERNETES_SERVICE_HOST: 'fd00::1', KUBERNETES_SERVICE_PORT: '6443' },
      readFile,
      fetch,
      serviceAccountDir: '/sa',
    });
    expect(reader.defaultNamespace).toBe('whoami');
    await expect(reader.readSecret('whoami', 'x')).resolves.toEqual({ a: 'b' });
    expect(seen).toEqual([{ url: 'https://[fd00::1]:6443/api/v1/namespaces/whoami/secrets/x', authorization: `Bearer ${TOKEN}` }]);
  });

  it('refuses to start outside a pod', async () => {
    await expect(createInClusterKubernetesSecretReader({ env: {}, readFile })).rejects.toThrow(
      'not running in Kubernetes (KUBERNETES_SERVICE_HOST is not set)',
    );
  });

  it('says which service account file is missing', async () => {
    await expect(
      createInClusterKubernetesSecretReader({ env: { KUBERNETES_SERVICE_HOST: '10.0.0.1' }, readFile, serviceAccountDir: '/elsewhere' }),
    ).rejects.toThrow('the service account token cannot be read from /elsewhere');
  });
});
