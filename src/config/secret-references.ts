import { dirname, isAbsolute, resolve } from 'node:path';
import { isOfaError } from '../errors.js';
import type { ProblemSink } from './field-reader.js';
import type { KubernetesSecretReader } from './kubernetes-secret-reader.js';

/**
 * Secret-bearing options may hold the value itself or point at it: `env:VAR`, `file:PATH` or
 * `urn:k8s:secret:NAME:KEY`. References are resolved once at load; problems name the option and
 * the reference, never the value.
 */
export type SecretReference =
  | { readonly kind: 'literal' }
  | { readonly kind: 'env'; readonly variable: string }
  | { readonly kind: 'file'; readonly path: string }
  | { readonly kind: 'k8s'; readonly name: string; readonly key: string };

const K8S_PREFIX = 'urn:k8s:secret:';
// Secret names are DNS subdomains; data keys are limited to these characters by the API server.
const K8S_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const K8S_KEY = /^[-._a-zA-Z0-9]+$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function parseSecretReference(raw: string): SecretReference | { readonly kind: 'invalid'; readonly reason: string } {
  if (raw.startsWith('env:')) {
    const variable = raw.slice('env:'.length);
    return ENV_NAME.test(variable)
      ? { kind: 'env', variable }
      : { kind: 'invalid', reason: `"${raw}" is not a valid env: reference (env:VARIABLE_NAME)` };
  }
  if (raw.startsWith('file:')) {
    const path = raw.slice('file:'.length);
    return path === '' ? { kind: 'invalid', reason: 'file: reference needs a path (file:/path/to/secret)' } : { kind: 'file', path };
  }
  if (raw.startsWith(K8S_PREFIX)) {
    const parts = raw.slice(K8S_PREFIX.length).split(':');
    const [name, key] = parts;
    if (parts.length === 2 && name !== undefined && key !== undefined && K8S_NAME.test(name) && K8S_KEY.test(key)) {
      return { kind: 'k8s', name, key };
    }
    return { kind: 'invalid', reason: `"${raw}" is not a valid reference (urn:k8s:secret:NAME:KEY)` };
  }
  return { kind: 'literal' };
}

export function isSecretReference(raw: string): boolean {
  return parseSecretReference(raw).kind !== 'literal';
}

export interface PendingSecret {
  readonly path: string;
  readonly raw: string;
  /** Namespace of the middleware (from its manifest) for urn:k8s:secret; the pod's when undefined. */
  readonly namespace: string | undefined;
  readonly assign: (value: string) => void;
}

export interface SecretResolverDeps {
  readonly env: NodeJS.ProcessEnv;
  readonly readFile: (path: string) => Promise<string>;
  /** Relative file: paths are read from here (the configuration file's directory). */
  readonly sourceName: string;
  /** Called at most once, and only when some option holds a urn:k8s:secret reference. */
  readonly kube: () => Promise<KubernetesSecretReader>;
}

/** Resolves every pending secret, reporting each failure; returns option path → reference for masking. */
export async function resolveSecrets(
  pending: readonly PendingSecret[],
  deps: SecretResolverDeps,
  sink: ProblemSink,
): Promise<ReadonlyMap<string, string>> {
  const references = new Map<string, string>();
  let kube: Promise<KubernetesSecretReader> | undefined;
  const secrets = new Map<string, Promise<Readonly<Record<string, string>>>>();

  const readKubernetes = async (namespace: string | undefined, name: string): Promise<Readonly<Record<string, string>>> => {
    kube ??= deps.kube();
    const reader = await kube;
    const effective = namespace ?? reader.defaultNamespace;
    if (effective === undefined) {
      throw new Error('no namespace to read it from (set metadata.namespace or run inside a pod)');
    }
    const cacheKey = `${effective}/${name}`;
    let secret = secrets.get(cacheKey);
    if (secret === undefined) {
      secret = reader.readSecret(effective, name);
      secrets.set(cacheKey, secret);
    }
    return secret;
  };

  const filePath = (path: string): string => (isAbsolute(path) ? path : resolve(dirname(deps.sourceName), path));

  // Each item reports into its own list so problems come out in option order, not in the order
  // the reads happen to finish.
  const resolveOne = async (item: PendingSecret, sink: ProblemSink): Promise<void> => {
    const reference = parseSecretReference(item.raw);
    if (reference.kind === 'literal') {
      item.assign(item.raw);
      return;
    }
    if (reference.kind === 'invalid') {
      sink.error(item.path, reference.reason);
      return;
    }
    references.set(item.path, item.raw);
    let value: string | undefined;
    try {
      value = await readReference(reference, item, sink);
    } catch (error) {
      // A relative path is read from the configuration file's directory: say where that led.
      const tried = reference.kind === 'file' && !isAbsolute(reference.path) ? ` (read as ${filePath(reference.path)})` : '';
      sink.error(item.path, `${item.raw} could not be read${tried}: ${describeFailure(error)}`);
      return;
    }
    if (value === undefined) return;
    if (value === '') sink.error(item.path, `${item.raw} is empty`);
    else item.assign(value);
  };

  const readReference = async (
    reference: Exclude<SecretReference, { kind: 'literal' }>,
    item: PendingSecret,
    sink: ProblemSink,
  ): Promise<string | undefined> => {
    switch (reference.kind) {
      case 'env': {
        const value = deps.env[reference.variable];
        if (value === undefined) sink.error(item.path, `${item.raw} is not set`);
        return value;
      }
      case 'file':
        return withoutFinalLineBreak(await deps.readFile(filePath(reference.path)));
      case 'k8s': {
        const data = await readKubernetes(item.namespace, reference.name);
        const value = data[reference.key];
        if (value === undefined) {
          const keys = Object.keys(data);
          sink.error(
            item.path,
            `${item.raw}: secret "${reference.name}" has no key "${reference.key}"` +
              (keys.length === 0 ? ' (it is empty)' : ` (it has ${keys.map((key) => `"${key}"`).join(', ')})`),
          );
        }
        return value === undefined ? undefined : withoutFinalLineBreak(value);
      }
    }
  };

  const reports = pending.map(() => ({ errors: [] as [string, string][] }));
  await Promise.all(
    pending.map((item, index) => {
      const errors = reports[index]?.errors ?? [];
      return resolveOne(item, { error: (path, message) => errors.push([path, message]), warn: sink.warn });
    }),
  );
  for (const { errors } of reports) for (const [path, message] of errors) sink.error(path, message);
  return references;
}

// `echo value > file` and `kubectl create secret --from-file` leave a line break nobody means.
function withoutFinalLineBreak(value: string): string {
  return value.replace(/\r?\n$/, '');
}

// File-system errors are reduced to their code: their messages would repeat the path, not the value,
// but a code is what a reader acts on.
function describeFailure(error: unknown): string {
  if (isOfaError(error)) return error.message;
  if (error instanceof Error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'no such file';
    if (code === 'EACCES') return 'permission denied';
    if (code === 'EISDIR') return 'is a directory';
    return code ?? error.message;
  }
  return String(error);
}
