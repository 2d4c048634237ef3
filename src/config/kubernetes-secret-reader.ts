import { Agent, fetch as undiciFetch } from 'undici';
import { OfaError } from '../errors.js';

/**
 * Reads Secrets from the Kubernetes API the way a pod does: bearer token of its service account,
 * cluster CA, `GET /api/v1/namespaces/{namespace}/secrets/{name}`. Values come back decoded.
 * Failures are OfaError('OFA_SECRET_UNRESOLVED') whose message carries the API's Status message
 * (names only), never the token or a secret value.
 */
export interface KubernetesSecretReader {
  /** The pod's own namespace, used for references of middlewares that do not name one. */
  readonly defaultNamespace: string | undefined;
  readonly readSecret: (namespace: string, name: string) => Promise<Readonly<Record<string, string>>>;
}

/** The part of fetch the reader uses, so tests and callers can route requests. */
export type KubernetesFetch = (
  url: string,
  init: { readonly method: 'GET'; readonly headers: Readonly<Record<string, string>>; readonly signal: AbortSignal },
) => Promise<{ readonly status: number; readonly json: () => Promise<unknown> }>;

export interface KubernetesSecretReaderOptions {
  /** e.g. https://10.96.0.1:443 */
  readonly baseUrl: string;
  readonly token: string;
  /** PEM bundle that signs the API server's certificate. */
  readonly ca?: string | undefined;
  readonly namespace?: string | undefined;
  readonly fetch?: KubernetesFetch | undefined;
  readonly timeoutMs?: number | undefined;
}

const DEFAULT_TIMEOUT_MS = 10_000;

export function createKubernetesSecretReader(options: KubernetesSecretReaderOptions): KubernetesSecretReader {
  const fetchSecret = options.fetch ?? createTlsFetch(options.ca);
  const baseUrl = options.baseUrl.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;

  const readSecret = async (namespace: string, name: string): Promise<Readonly<Record<string, string>>> => {
    const where = `secret "${name}" in namespace "${namespace}"`;
    const url = `${baseUrl}/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`;
    let response: Awaited<ReturnType<KubernetesFetch>>;
    try {
      response = await fetchSecret(url, {
        method: 'GET',
        headers: { authorization: `Bearer ${options.token}`, accept: 'application/json' },
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new OfaError('OFA_SECRET_UNRESOLVED', `${where}: the Kubernetes API at ${baseUrl} is not reachable`, { cause: error });
    }
    const body: unknown = await response.json().catch(() => undefined);
    if (response.status !== 200) {
      throw new OfaError('OFA_SECRET_UNRESOLVED', `${where}: ${describeStatus(response.status, body)}`);
    }
    if (!isRecord(body) || body['kind'] !== 'Secret') {
      throw new OfaError('OFA_SECRET_UNRESOLVED', `${where}: the Kubernetes API did not answer with a Secret`);
    }
    const data = body['data'];
    const decoded: Record<string, string> = {};
    if (isRecord(data)) {
      for (const [key, value] of Object.entries(data)) {
        if (typeof value === 'string') decoded[key] = Buffer.from(value, 'base64').toString('utf8');
      }
    }
    return decoded;
  };

  return { defaultNamespace: options.namespace, readSecret };
}

export interface InClusterOptions {
  readonly env: NodeJS.ProcessEnv;
  readonly readFile: (path: string) => Promise<string>;
  readonly fetch?: KubernetesFetch | undefined;
  readonly serviceAccountDir?: string | undefined;
}

export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** The reader a pod gets from its mounted service account; throws (OFA_SECRET_UNRESOLVED) outside a pod. */
export async function createInClusterKubernetesSecretReader(options: InClusterOptions): Promise<KubernetesSecretReader> {
  const host = options.env['KUBERNETES_SERVICE_HOST'];
  const port = options.env['KUBERNETES_SERVICE_PORT'] ?? '443';
  if (host === undefined || host === '') {
    throw new OfaError('OFA_SECRET_UNRESOLVED', 'not running in Kubernetes (KUBERNETES_SERVICE_HOST is not set)');
  }
  const dir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const read = async (file: string, required: boolean): Promise<string | undefined> => {
    try {
      return (await options.readFile(`${dir}/${file}`)).trim();
    } catch (error) {
      if (!required) return undefined;
      throw new OfaError('OFA_SECRET_UNRESOLVED', `the service account ${file} cannot be read from ${dir}`, { cause: error });
    }
  };
  const [token, ca, namespace] = await Promise.all([read('token', true), read('ca.crt', false), read('namespace', false)]);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return createKubernetesSecretReader({
    baseUrl: `https://${hostPart}:${port}`,
    token: token ?? '',
    ca,
    namespace,
    fetch: options.fetch,
  });
}

function createTlsFetch(ca: string | undefined): KubernetesFetch {
  const dispatcher = ca === undefined ? undefined : new Agent({ connect: { ca } });
  return (url, init) => undiciFetch(url, { ...init, headers: { ...init.headers }, dispatcher });
}

function describeStatus(status: number, body: unknown): string {
  // The API answers errors with a Status object: { kind: "Status", message, reason, code }.
  if (isRecord(body) && body['kind'] === 'Status') {
    const message = typeof body['message'] === 'string' ? body['message'] : 'request failed';
    const reason = typeof body['reason'] === 'string' ? ` ${body['reason']}` : '';
    return `${message} (HTTP ${status}${reason})`;
  }
  return `the Kubernetes API answered HTTP ${status}`;
}

function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
