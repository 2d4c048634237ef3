/**
 * The manifests in deploy/kubernetes, checked the way a cluster would take them and against each
 * other.
 *
 * Every YAML document is validated with the Kubernetes API schemas of `kubernetes-models`; a kind
 * without a model fails, so a new file cannot slip past. `validate()` ignores fields the schema
 * does not know (a misspelt `readOnlyRootFileSystem` would pass and harden nothing), so the same
 * documents are also type-checked against the models' TypeScript interfaces, whose excess-property
 * check names every unknown field. The ServiceMonitor has no model here (no
 * @kubernetes-models/prometheus-operator package): its required fields are checked, and that it
 * finds the Service and the metrics port.
 *
 * Then what can break between objects: selectors and pod labels, named ports, probe paths, the
 * hardening the `restricted` Pod Security Standard asks for, the drain time, and the ConfigMap's
 * configuration loaded by the service's own loader with the environment the pod gets and its
 * urn:k8s:secret references read through a mock API server, each read checked against the Role.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Namespace, type INamespace } from 'kubernetes-models/v1/Namespace';
import { ConfigMap, type IConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Service, type IService } from 'kubernetes-models/v1/Service';
import { ServiceAccount, type IServiceAccount } from 'kubernetes-models/v1/ServiceAccount';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Deployment, type IDeployment } from 'kubernetes-models/apps/v1/Deployment';
import { Role, type IRole } from 'kubernetes-models/rbac.authorization.k8s.io/v1/Role';
import { RoleBinding, type IRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding';
import { PodDisruptionBudget, type IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import type { IIoK8sApiCoreV1Container as Container } from 'kubernetes-models/v1/Container';
import type { IIoK8sApiCoreV1PodSpec as PodSpec } from 'kubernetes-models/v1/PodSpec';
import type { IIoK8sApimachineryPkgApisMetaV1LabelSelector as LabelSelector } from '@kubernetes-models/apimachinery/apis/meta/v1/LabelSelector';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { createKubernetesSecretReader, loadConfigFromText, type LoadConfigResult } from '../../src/config/index.js';
import { startMockKubeApiServer, type MockKubeApiServer } from '../support/mock-kube-apiserver.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const MANIFEST_DIR = join(REPO, 'deploy/kubernetes');
/** How long the service drains after SIGTERM (SHUTDOWN_GRACE_MS in src/cli/serve-command.ts). */
const SERVICE_DRAIN_SECONDS = 10;

interface ManifestDocument {
  /** file.yaml#N, for messages */
  readonly origin: string;
  readonly value: Readonly<Record<string, unknown>>;
}

type ModelClass = new (data: never) => { validate(): void };

interface ModelEntry {
  readonly model: ModelClass;
  /** Where the model's interface lives, for the unknown-field check. */
  readonly typeModule: string;
  readonly typeName: string;
}

const MODELS: ReadonlyMap<string, ModelEntry> = new Map<string, ModelEntry>([
  ['v1/Namespace', { model: Namespace, typeModule: 'kubernetes-models/v1/Namespace', typeName: 'INamespace' }],
  ['v1/ServiceAccount', { model: ServiceAccount, typeModule: 'kubernetes-models/v1/ServiceAccount', typeName: 'IServiceAccount' }],
  ['v1/ConfigMap', { model: ConfigMap, typeModule: 'kubernetes-models/v1/ConfigMap', typeName: 'IConfigMap' }],
  ['v1/Secret', { model: Secret, typeModule: 'kubernetes-models/v1/Secret', typeName: 'ISecret' }],
  ['v1/Service', { model: Service, typeModule: 'kubernetes-models/v1/Service', typeName: 'IService' }],
  ['apps/v1/Deployment', { model: Deployment, typeModule: 'kubernetes-models/apps/v1/Deployment', typeName: 'IDeployment' }],
  ['rbac.authorization.k8s.io/v1/Role', { model: Role, typeModule: 'kubernetes-models/rbac.authorization.k8s.io/v1/Role', typeName: 'IRole' }],
  [
    'rbac.authorization.k8s.io/v1/RoleBinding',
    { model: RoleBinding, typeModule: 'kubernetes-models/rbac.authorization.k8s.io/v1/RoleBinding', typeName: 'IRoleBinding' },
  ],
  [
    'policy/v1/PodDisruptionBudget',
    { model: PodDisruptionBudget, typeModule: 'kubernetes-models/policy/v1/PodDisruptionBudget', typeName: 'IPodDisruptionBudget' },
  ],
]);
/** No model package is installed for it; checkServiceMonitor looks at it instead. */
const SERVICE_MONITOR = 'monitoring.coreos.com/v1/ServiceMonitor';

function typeKey(value: Readonly<Record<string, unknown>>): string {
  return `${String(value['apiVersion'])}/${String(value['kind'])}`;
}

function readManifestDocuments(): ManifestDocument[] {
  const files = readdirSync(MANIFEST_DIR, { recursive: true, encoding: 'utf8' })
    .filter((file) => /\.ya?ml$/.test(file))
    .sort();
  const documents: ManifestDocument[] = [];
  for (const file of files) {
    parseAllDocuments(readFileSync(join(MANIFEST_DIR, file), 'utf8')).forEach((document, index) => {
      const origin = `${file}#${index + 1}`;
      if (document.errors.length > 0) throw new Error(`${origin}: ${document.errors.map((error) => error.message).join('; ')}`);
      const value: unknown = document.toJS();
      if (value === null || value === undefined) return;
      if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${origin}: not a mapping`);
      documents.push({ origin, value: value as Record<string, unknown> });
    });
  }
  return documents;
}

/** The schema problem of one document, or undefined when its model accepts it. */
function schemaProblem(document: ManifestDocument): string | undefined {
  const key = typeKey(document.value);
  if (key === SERVICE_MONITOR) return checkServiceMonitor(document.value);
  const entry = MODELS.get(key);
  if (entry === undefined) return `${document.origin}: no model for ${key}: add one to MODELS so it is validated`;
  try {
    new entry.model(document.value as never).validate();
    return undefined;
  } catch (error) {
    return `${document.origin}: ${error instanceof Error ? error.message : String(error)}`;
  }
}

const TYPE_CHECK_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  skipLibCheck: true,
  target: ts.ScriptTarget.ES2022,
  lib: ['lib.es2023.d.ts'],
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  types: [],
};
/** The models' declaration files, parsed once for every check. */
const declarationFiles = new Map<string, ts.SourceFile>();

/**
 * Fields the models' interfaces do not have, found by the TypeScript compiler: each document
 * becomes an object literal typed with its model's interface, in a file that exists only in memory.
 */
function unknownFields(documents: readonly ManifestDocument[]): string[] {
  const fileName = join(REPO, 'test/deploy/__manifests_as_typescript__.ts');
  const lines: string[] = [];
  const origins: { readonly line: number; readonly origin: string }[] = [];
  const imported = new Set<string>();
  const typed = documents.flatMap((document) => {
    const entry = MODELS.get(typeKey(document.value));
    return entry === undefined ? [] : [{ document, entry }];
  });
  for (const { entry } of typed) {
    if (imported.has(entry.typeName)) continue;
    imported.add(entry.typeName);
    lines.push(`import type { ${entry.typeName} } from '${entry.typeModule}';`);
  }
  typed.forEach(({ document, entry }, index) => {
    origins.push({ line: lines.length, origin: document.origin });
    // One line per document, so a diagnostic's line tells whose it is.
    lines.push(`export const document${index}: ${entry.typeName} = ${JSON.stringify(document.value)};`);
  });
  const source = lines.join('\n');
  const host = ts.createCompilerHost(TYPE_CHECK_OPTIONS);
  const fileExists = host.fileExists.bind(host);
  host.getSourceFile = (name, language) => {
    if (name === fileName) return ts.createSourceFile(name, source, language);
    let file = declarationFiles.get(name);
    if (file === undefined) {
      const text = ts.sys.readFile(name);
      if (text === undefined) return undefined;
      file = ts.createSourceFile(name, text, language);
      declarationFiles.set(name, file);
    }
    return file;
  };
  host.fileExists = (name) => name === fileName || fileExists(name);
  const program = ts.createProgram([fileName], TYPE_CHECK_OPTIONS, host);
  const sourceFile = program.getSourceFile(fileName);
  return ts.getPreEmitDiagnostics(program, sourceFile).map((diagnostic) => {
    const line = diagnostic.file !== undefined && diagnostic.start !== undefined ? diagnostic.file.getLineAndCharacterOfPosition(diagnostic.start).line : -1;
    const origin = origins.filter((candidate) => candidate.line <= line).at(-1)?.origin ?? 'manifests';
    return `${origin}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`;
  });
}

const PROMETHEUS_DURATION = /^(0|(([0-9]+)y)?(([0-9]+)w)?(([0-9]+)d)?(([0-9]+)h)?(([0-9]+)m)?(([0-9]+)s)?(([0-9]+)ms)?)$/;

/** The fields the Prometheus Operator requires of a ServiceMonitor, and the shapes of those we use. */
function checkServiceMonitor(value: Readonly<Record<string, unknown>>): string | undefined {
  const problems: string[] = [];
  const metadata = asRecord(value['metadata']);
  if (typeof metadata?.['name'] !== 'string' || metadata['name'] === '') problems.push('metadata.name is required');
  const spec = asRecord(value['spec']);
  const selector = asRecord(spec?.['selector']);
  if (selector === undefined) problems.push('spec.selector is required');
  else if (!isStringMap(selector['matchLabels'])) problems.push('spec.selector.matchLabels must map strings to strings');
  const namespaceSelector = asRecord(spec?.['namespaceSelector']);
  if (namespaceSelector !== undefined && !isStringList(namespaceSelector['matchNames'])) {
    problems.push('spec.namespaceSelector.matchNames must be a list of strings');
  }
  const endpoints = spec?.['endpoints'];
  if (!Array.isArray(endpoints) || endpoints.length === 0) problems.push('spec.endpoints must be a non-empty list');
  else {
    endpoints.forEach((raw: unknown, index) => {
      const endpoint = asRecord(raw);
      if (typeof endpoint?.['port'] !== 'string') problems.push(`spec.endpoints[${index}].port must name a Service port`);
      if (endpoint?.['path'] !== undefined && (typeof endpoint['path'] !== 'string' || !endpoint['path'].startsWith('/'))) {
        problems.push(`spec.endpoints[${index}].path must be an absolute path`);
      }
      const interval = endpoint?.['interval'];
      if (interval !== undefined && (typeof interval !== 'string' || !PROMETHEUS_DURATION.test(interval))) {
        problems.push(`spec.endpoints[${index}].interval must be a Prometheus duration`);
      }
    });
  }
  return problems.length === 0 ? undefined : `ServiceMonitor: ${problems.join('; ')}`;
}

function asRecord(value: unknown): Readonly<Record<string, unknown>> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
}

function isStringMap(value: unknown): value is Readonly<Record<string, string>> {
  const record = asRecord(value);
  return record !== undefined && Object.values(record).every((entry) => typeof entry === 'string');
}

function isStringList(value: unknown): value is readonly string[] {
  return Array.isArray(value) && value.every((entry) => typeof entry === 'string');
}

/** matchLabels only: none of these selectors uses matchExpressions, and one that does fails here. */
function selects(selector: LabelSelector | undefined, labels: Readonly<Record<string, string>> | undefined): boolean {
  if (selector === undefined || selector.matchExpressions !== undefined) return false;
  return hasLabels(labels, selector.matchLabels);
}

/** A Service selector, or a selector's matchLabels: every pair (at least one) must be on the object. */
function hasLabels(labels: Readonly<Record<string, string>> | undefined, wanted: Readonly<Record<string, string>> | undefined): boolean {
  const entries = Object.entries(wanted ?? {});
  return labels !== undefined && entries.length > 0 && entries.every(([key, value]) => labels[key] === value);
}

/** The final stage's ENV lines of the image the Deployment runs: part of the pod's environment. */
function imageEnvironment(): Record<string, string> {
  const dockerfile = readFileSync(join(REPO, 'deploy/Dockerfile'), 'utf8');
  const finalStage = dockerfile.slice([...dockerfile.matchAll(/^FROM\s/gm)].at(-1)?.index ?? 0);
  const environment: Record<string, string> = {};
  for (const match of finalStage.matchAll(/^ENV\s+([A-Za-z_][A-Za-z0-9_]*)=(\S+)\s*$/gm)) {
    environment[match[1] ?? ''] = match[2] ?? '';
  }
  return environment;
}

/** Name → keys of the Secrets the README tells the operator to create. */
function secretsCreatedByReadme(): Map<string, Set<string>> {
  const text = readFileSync(join(MANIFEST_DIR, 'README.md'), 'utf8').replace(/\\\n\s*/g, ' ');
  const created = new Map<string, Set<string>>();
  for (const command of text.matchAll(/kubectl\b[^\n]*?\bcreate secret generic ([a-z0-9.-]+)([^\n]*)/g)) {
    const keys = new Set([...(command[2] ?? '').matchAll(/--from-(?:literal|file)=([-._a-zA-Z0-9]+)=/g)].map((match) => match[1] ?? ''));
    created.set(command[1] ?? '', keys);
  }
  return created;
}

function only<T>(documents: readonly ManifestDocument[], key: string): T {
  const matching = documents.filter((document) => typeKey(document.value) === key);
  if (matching.length !== 1) throw new Error(`expected exactly one ${key}, found ${matching.length}`);
  return matching[0]?.value as T;
}

function containerPort(container: Container, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return container.ports?.some((candidate) => candidate.containerPort === port) ? port : undefined;
  return container.ports?.find((candidate) => candidate.name === port)?.containerPort;
}

const documents = readManifestDocuments();
const namespace = only<INamespace>(documents, 'v1/Namespace');
const serviceAccount = only<IServiceAccount>(documents, 'v1/ServiceAccount');
const role = only<IRole>(documents, 'rbac.authorization.k8s.io/v1/Role');
const roleBinding = only<IRoleBinding>(documents, 'rbac.authorization.k8s.io/v1/RoleBinding');
const configMap = only<IConfigMap>(documents, 'v1/ConfigMap');
const deployment = only<IDeployment>(documents, 'apps/v1/Deployment');
const service = only<IService>(documents, 'v1/Service');
const disruptionBudget = only<IPodDisruptionBudget>(documents, 'policy/v1/PodDisruptionBudget');
const serviceMonitor = only<Readonly<Record<string, unknown>>>(documents, SERVICE_MONITOR);

const podTemplate = deployment.spec?.template;
const podLabels = podTemplate?.metadata?.labels;
const podSpec: PodSpec = podTemplate?.spec ?? { containers: [] };
const container: Container = podSpec.containers[0] ?? { name: 'missing' };

describe('the Kubernetes manifests against the API schemas', () => {
  it('has a model (or the ServiceMonitor check) for every document, and each accepts its document', () => {
    expect(documents.length).toBeGreaterThan(0);
    expect(documents.map(schemaProblem).filter((problem) => problem !== undefined)).toEqual([]);
  });

  it('uses no field the API does not know', () => {
    expect(unknownFields(documents)).toEqual([]);
  });

  it('holds the objects a production install needs, in one namespace', () => {
    expect(new Set(documents.map((document) => typeKey(document.value)))).toEqual(
      new Set([...MODELS.keys(), SERVICE_MONITOR].filter((key) => key !== 'v1/Secret')),
    );
    const name = namespace.metadata?.name;
    const namespaced = documents.filter((document) => typeKey(document.value) !== 'v1/Namespace');
    expect(namespaced.map((document) => [document.origin, asRecord(document.value['metadata'])?.['namespace']])).toEqual(
      namespaced.map((document) => [document.origin, name]),
    );
  });

  it('fails a document its model rejects, a kind without a model, and an unknown field', () => {
    const broken = structuredClone(deployment) as unknown as Record<string, Record<string, unknown>>;
    (broken['spec'] ?? {})['replicas'] = 'two';
    expect(schemaProblem({ origin: 'mutated#1', value: broken })).toMatch(/^mutated#1: .*replicas must be integer/);

    expect(schemaProblem({ origin: 'crd#1', value: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } } })).toBe(
      'crd#1: no model for example.com/v1/Widget: add one to MODELS so it is validated',
    );

    const misspelt = structuredClone(deployment);
    const misspeltContainer = misspelt.spec?.template.spec?.containers[0] as unknown as Record<string, unknown>;
    misspeltContainer['securityContext'] = { readOnlyRootFileSystem: true };
    expect(schemaProblem({ origin: 'misspelt#1', value: misspelt as unknown as Record<string, unknown> })).toBeUndefined();
    expect(unknownFields([{ origin: 'misspelt#1', value: misspelt as unknown as Record<string, unknown> }])).toEqual([
      expect.stringMatching(/^misspelt#1: .*'"?readOnlyRootFileSystem"?' does not exist in type/),
    ]);

    const monitor = structuredClone(serviceMonitor) as Record<string, Record<string, unknown>>;
    (monitor['spec'] ?? {})['endpoints'] = [{ path: 'metrics', interval: 'soon' }];
    expect(schemaProblem({ origin: 'monitor#1', value: monitor })).toBe(
      'ServiceMonitor: spec.endpoints[0].port must name a Service port; spec.endpoints[0].path must be an absolute path; ' +
        'spec.endpoints[0].interval must be a Prometheus duration',
    );
  });
});

describe('the Kubernetes objects fit together', () => {
  it('selects the pods it runs: Deployment, Service, PodDisruptionBudget and spread constraints', () => {
    expect(selects(deployment.spec?.selector, podLabels)).toBe(true);
    expect(hasLabels(podLabels, service.spec?.selector)).toBe(true);
    expect(selects(disruptionBudget.spec?.selector, podLabels)).toBe(true);
    const constraints = podSpec.topologySpreadConstraints ?? [];
    expect(constraints.map((constraint) => constraint.topologyKey)).toContain('kubernetes.io/hostname');
    expect(constraints.every((constraint) => selects(constraint.labelSelector, podLabels))).toBe(true);
  });

  it('runs two replicas or more, of which the budget keeps one while nodes drain', () => {
    expect(deployment.spec?.replicas).toBeGreaterThanOrEqual(2);
    expect(disruptionBudget.spec?.minAvailable).toBe(1);
    expect(deployment.spec?.strategy?.rollingUpdate?.maxUnavailable).toBe(0);
  });

  it('routes the Service ports and the probes to ports the container has, probing /healthz and /readyz', () => {
    for (const port of service.spec?.ports ?? []) {
      expect(containerPort(container, port.targetPort ?? port.port), `Service port ${port.name}`).toBeDefined();
    }
    expect(container.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(containerPort(container, container.livenessProbe?.httpGet?.port)).toBeDefined();
    expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(containerPort(container, container.readinessProbe?.httpGet?.port)).toBeDefined();
  });

  it('is hardened as the restricted Pod Security Standard asks, with requests and limits', () => {
    const pod = podSpec.securityContext;
    const own = container.securityContext;
    expect(pod?.runAsNonRoot ?? own?.runAsNonRoot).toBe(true);
    expect(own?.runAsUser ?? pod?.runAsUser).toBeGreaterThan(0);
    expect((own?.seccompProfile ?? pod?.seccompProfile)?.type).toBe('RuntimeDefault');
    expect(own?.allowPrivilegeEscalation).toBe(false);
    expect(own?.readOnlyRootFilesystem).toBe(true);
    expect(own?.privileged ?? false).toBe(false);
    expect(own?.capabilities?.drop).toEqual(['ALL']);
    expect(own?.capabilities?.add ?? []).toEqual([]);
    expect([podSpec.hostNetwork, podSpec.hostPID, podSpec.hostIPC].some((value) => value === true)).toBe(false);
    expect((podSpec.volumes ?? []).filter((volume) => volume.hostPath !== undefined)).toEqual([]);
    expect(namespace.metadata?.labels?.['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const kind of ['requests', 'limits'] as const) {
      expect(Object.keys(container.resources?.[kind] ?? {}).sort(), kind).toEqual(['cpu', 'memory']);
    }
  });

  it('gives the pod time for preStop and the service’s 10 s drain before it is killed', () => {
    const preStopSeconds = container.lifecycle?.preStop?.sleep?.seconds ?? 0;
    expect(preStopSeconds).toBeGreaterThan(0);
    expect(podSpec.terminationGracePeriodSeconds).toBeGreaterThan(preStopSeconds + SERVICE_DRAIN_SECONDS);
  });

  it('runs the image of this version, reading its configuration from the mounted ConfigMap directory', () => {
    const version = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string }).version;
    expect(container.image).toMatch(new RegExp(`:${version.replaceAll('.', '\\.')}$`));
    const args = container.args ?? [];
    expect(args[0]).toBe('serve');
    const configPath = args[args.indexOf('--config') + 1] ?? '';
    const mount = container.volumeMounts?.find((candidate) => candidate.mountPath === posix.dirname(configPath));
    // subPath mounts never see ConfigMap updates, so the reload on file change would not happen.
    expect(mount?.subPath).toBeUndefined();
    const volume = podSpec.volumes?.find((candidate) => candidate.name === mount?.name);
    expect(volume?.configMap?.name).toBe(configMap.metadata?.name);
    expect(Object.keys(configMap.data ?? {})).toContain(posix.basename(configPath));
  });

  it('lets Prometheus find the metrics port by annotation and by ServiceMonitor', () => {
    const annotations = podTemplate?.metadata?.annotations ?? {};
    expect(annotations['prometheus.io/scrape']).toBe('true');
    expect(annotations['prometheus.io/path']).toBe('/metrics');
    expect(containerPort(container, 'metrics')).toBe(Number(annotations['prometheus.io/port']));

    const spec = asRecord(serviceMonitor['spec']);
    expect(selects(asRecord(spec?.['selector']) as LabelSelector, service.metadata?.labels)).toBe(true);
    expect(asRecord(spec?.['namespaceSelector'])?.['matchNames']).toEqual([service.metadata?.namespace]);
    const endpoints = (spec?.['endpoints'] ?? []) as readonly Readonly<Record<string, unknown>>[];
    expect(endpoints.length).toBeGreaterThan(0);
    for (const endpoint of endpoints) {
      const servicePort = service.spec?.ports?.find((port) => port.name === endpoint['port']);
      expect(servicePort, `ServiceMonitor port ${String(endpoint['port'])}`).toBeDefined();
      expect(containerPort(container, servicePort?.targetPort)).toBe(containerPort(container, 'metrics'));
      expect(endpoint['path'] ?? '/metrics').toBe('/metrics');
    }
  });

  it('binds the Role to the service account the pods run as, which mounts its token only there', () => {
    expect(podSpec.serviceAccountName).toBe(serviceAccount.metadata?.name);
    expect(roleBinding.roleRef).toEqual({ apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: role.metadata?.name });
    expect(roleBinding.subjects).toEqual([
      { kind: 'ServiceAccount', name: serviceAccount.metadata?.name, namespace: serviceAccount.metadata?.namespace },
    ]);
    expect(serviceAccount.automountServiceAccountToken).toBe(false);
  });
});

describe('the ConfigMap configuration, loaded as the pod loads it', () => {
  const podNamespace = deployment.metadata?.namespace ?? '';
  const configPath = (container.args ?? [])[(container.args ?? []).indexOf('--config') + 1] ?? '';
  const configText = configMap.data?.[posix.basename(configPath)] ?? '';
  const created = secretsCreatedByReadme();
  let kubeApi: MockKubeApiServer;
  let loaded: LoadConfigResult;

  beforeAll(async () => {
    kubeApi = await startMockKubeApiServer({
      secrets: [...created].map(([name, keys]) => ({
        namespace: podNamespace,
        name,
        // Stand-ins long enough for server.secrets; the real values are the operator's.
        stringData: Object.fromEntries([...keys].map((key) => [key, `${name}/${key}`.padEnd(48, '.')])),
      })),
      serviceAccounts: [
        { token: 'pod-token', namespace: podNamespace, name: podSpec.serviceAccountName ?? '', canReadSecretsIn: [podNamespace] },
      ],
    });
    const environment: Record<string, string> = { ...imageEnvironment() };
    for (const variable of container.env ?? []) {
      const reference = variable.valueFrom?.secretKeyRef;
      environment[variable.name] = reference === undefined ? (variable.value ?? '') : `${reference.name}/${reference.key}`.padEnd(48, '.');
    }
    loaded = await loadConfigFromText(configText, configPath, {
      env: environment,
      kube: createKubernetesSecretReader({ baseUrl: kubeApi.url, token: 'pod-token', namespace: podNamespace }),
    });
  });

  afterAll(async () => {
    await kubeApi.close();
  });

  it('passes the service’s own validation with the pod’s environment and Secrets', () => {
    expect(loaded.ok ? [] : loaded.problems).toEqual([]);
  });

  it('reads only Secrets the Role names, and the Role names no other', () => {
    const rules = role.rules ?? [];
    expect(rules).toHaveLength(1);
    expect(rules[0]?.apiGroups).toEqual(['']);
    expect(rules[0]?.resources).toEqual(['secrets']);
    expect(rules[0]?.verbs).toEqual(['get']);
    const allowed = new Set(rules[0]?.resourceNames ?? []);

    const read = new Set<string>();
    for (const request of kubeApi.requests) {
      const match = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(request.path);
      expect(request.method).toBe('GET');
      expect(match?.[1]).toBe(role.metadata?.namespace);
      read.add(decodeURIComponent(match?.[2] ?? ''));
    }
    const referenced = new Set([...configText.matchAll(/urn:k8s:secret:([^:\s]+):/g)].map((match) => match[1] ?? ''));
    expect(referenced.size).toBeGreaterThan(0);
    expect(read).toEqual(referenced);
    expect(allowed).toEqual(referenced);
    expect(podSpec.automountServiceAccountToken).toBe(true);
  });

  it('names only Secrets and keys the README has the operator create', () => {
    const needed = [
      ...[...configText.matchAll(/urn:k8s:secret:([^:\s]+):([^\s]+)/g)].map((match) => [match[1], match[2]]),
      ...(container.env ?? []).flatMap((variable) => {
        const reference = variable.valueFrom?.secretKeyRef;
        return reference === undefined ? [] : [[reference.name, reference.key]];
      }),
    ];
    expect(needed.length).toBeGreaterThan(1);
    for (const [name, key] of needed) expect(created.get(name ?? '')?.has(key ?? ''), `${name}:${key}`).toBe(true);
  });

  it('listens on every interface at the container port the Service and probes use', () => {
    if (!loaded.ok) throw new Error('the configuration did not load');
    const { listen } = loaded.config.server;
    expect(['0.0.0.0', '::']).toContain(listen.host);
    expect(listen.port).toBe(containerPort(container, 'http'));
  });

  it('serves metrics on every interface at the port Prometheus is told about', () => {
    if (!loaded.ok) throw new Error('the configuration did not load');
    const metrics = loaded.config.server.metricsListen;
    expect(['0.0.0.0', '::']).toContain(metrics?.host);
    expect(metrics?.port).toBe(containerPort(container, 'metrics'));
  });

  it('keeps sessions in Redis, as replicas must share them (a cookie store remembers revocations per replica)', () => {
    if (!loaded.ok) throw new Error('the configuration did not load');
    const middlewares = Object.values(loaded.config.middlewares);
    expect(middlewares.length).toBeGreaterThan(0);
    for (const middleware of middlewares) expect(middleware.session.store?.redis.endpoints.length, middleware.name).toBeGreaterThan(0);
  });
});
