import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A mock of the Kubernetes API server, only the part a pod uses to read a Secret, written from the
 * API reference (https://kubernetes.io/docs/reference/kubernetes-api/config-and-storage-resources/secret-v1/
 * and the API concepts page on Status responses):
 *
 * - `GET /api/v1/namespaces/{namespace}/secrets/{name}` with `Authorization: Bearer <token>` answers
 *   200 with a `Secret` object whose `data` values are base64 (`stringData` is write-only and is
 *   merged into `data` by the server, as here);
 * - no or an unknown token answers 401 with a `Status` whose reason is `Unauthorized`;
 * - a token whose service account may not get secrets in that namespace answers 403 `Forbidden`
 *   with the same message text RBAC produces;
 * - a missing secret answers 404 `NotFound`; other methods on the resource answer 405 `MethodNotAllowed`.
 *
 * Plain HTTP on 127.0.0.1: the TLS part of the real API is the client's fetch, not this contract.
 */
export interface MockSecret {
  readonly namespace: string;
  readonly name: string;
  /** Like a manifest's stringData: plain values, base64-encoded in answers. */
  readonly stringData: Readonly<Record<string, string>>;
}

export interface MockServiceAccount {
  readonly token: string;
  readonly namespace: string;
  readonly name: string;
  /** Namespaces whose secrets this account may get (RBAC). */
  readonly canReadSecretsIn: readonly string[];
}

export interface MockKubeApiServer {
  readonly url: string;
  /** Every request received, for assertions on paths and headers. */
  readonly requests: readonly { readonly method: string; readonly path: string; readonly authorization: string | undefined }[];
  readonly close: () => Promise<void>;
}

export async function startMockKubeApiServer(options: {
  readonly secrets: readonly MockSecret[];
  readonly serviceAccounts: readonly MockServiceAccount[];
}): Promise<MockKubeApiServer> {
  const requests: { method: string; path: string; authorization: string | undefined }[] = [];

  const handle = (request: IncomingMessage, response: ServerResponse): void => {
    const method = request.method ?? 'GET';
    const path = new URL(request.url ?? '/', 'http://mock').pathname;
    const authorization = request.headers.authorization;
    requests.push({ method, path, authorization });

    const token = /^Bearer (.+)$/.exec(authorization ?? '')?.[1];
    const account = options.serviceAccounts.find((candidate) => candidate.token === token);
    if (account === undefined) {
      sendStatus(response, 401, 'Unauthorized', 'Unauthorized');
      return;
    }
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(path);
    if (match === null) {
      sendStatus(response, 404, 'NotFound', 'the server could not find the requested resource');
      return;
    }
    const namespace = decodeURIComponent(match[1] ?? '');
    const name = decodeURIComponent(match[2] ?? '');
    const details = { name, kind: 'secrets' };
    if (method !== 'GET') {
      sendStatus(response, 405, 'MethodNotAllowed', `the server does not allow this method on the requested resource`, details);
      return;
    }
    if (!account.canReadSecretsIn.includes(namespace)) {
      sendStatus(
        response,
        403,
        'Forbidden',
        `secrets "${name}" is forbidden: User "system:serviceaccount:${account.namespace}:${account.name}" ` +
          `cannot get resource "secrets" in API group "" in the namespace "${namespace}"`,
        details,
      );
      return;
    }
    const secret = options.secrets.find((candidate) => candidate.namespace === namespace && candidate.name === name);
    if (secret === undefined) {
      sendStatus(response, 404, 'NotFound', `secrets "${name}" not found`, details);
      return;
    }
    sendJson(response, 200, {
      kind: 'Secret',
      apiVersion: 'v1',
      metadata: {
        name,
        namespace,
        uid: '6f1b7c1e-0d3c-4b8e-9a51-3b0c1f2d4e5a',
        resourceVersion: '4711',
        creationTimestamp: '2024-01-01T00:00:00Z',
      },
      data: Object.fromEntries(
        Object.entries(secret.stringData).map(([key, value]) => [key, Buffer.from(value, 'utf8').toString('base64')]),
      ),
      type: 'Opaque',
    });
  };

  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}

function sendStatus(
  response: ServerResponse,
  code: number,
  reason: string,
  message: string,
  details?: { name: string; kind: string },
): void {
  sendJson(response, code, {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message,
    reason,
    ...(details === undefined ? {} : { details }),
    code,
  });
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  response.end(text);
}
