/**
 * The openAPIV3Schema of Traefik's CRDs (Middleware, IngressRoute, …) as the pinned Traefik module
 * ships them (docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml, in
 * the Go module cache that deploy/peers/build.sh fills), compiled with ajv. Unknown fields are
 * refused, as `kubectl apply` does with its default strict field validation, except where the
 * schema keeps them (x-kubernetes-preserve-unknown-fields).
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Ajv, type ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { peerVersion, type PeerName } from '../support/peers.js';

const CRD_FILE = 'docs/content/reference/dynamic-configuration/kubernetes-crd-definition-v1.yml';

type Schema = Record<string, unknown>;

function goModuleCache(): string {
  if (process.env.GOMODCACHE !== undefined && process.env.GOMODCACHE !== '') return process.env.GOMODCACHE;
  const result = spawnSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' });
  const fromGo = result.status === 0 ? result.stdout.trim() : '';
  return fromGo !== '' ? fromGo : join(homedir(), 'go', 'pkg', 'mod');
}

/** The CRD file of the Traefik module pinned for `peer` (e.g. …/traefik/v3@v3.6.25/docs/…). */
export function crdFile(peer: Extract<PeerName, 'traefik-v3' | 'traefik-v2'>): string {
  const major = peer === 'traefik-v3' ? 'v3' : 'v2';
  return join(goModuleCache(), 'github.com', 'traefik', 'traefik', `${major}@${peerVersion(peer)}`, CRD_FILE);
}

/** Every object with declared properties refuses others, unless the schema says to keep them. */
function strict(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(strict);
  if (typeof schema !== 'object' || schema === null) return schema;
  const copy: Schema = {};
  for (const [key, value] of Object.entries(schema)) copy[key] = key === 'properties' && typeof value === 'object' && value !== null
    ? Object.fromEntries(Object.entries(value).map(([name, property]) => [name, strict(property)]))
    : strict(value);
  if (copy.properties !== undefined && copy.additionalProperties === undefined && copy['x-kubernetes-preserve-unknown-fields'] !== true) {
    copy.additionalProperties = false;
  }
  return copy;
}

export interface CrdValidator {
  /** Problems of one manifest against its kind's schema (empty when valid). */
  problems(manifest: unknown): string[];
}

export function loadCrdValidator(peer: Extract<PeerName, 'traefik-v3' | 'traefik-v2'>): CrdValidator {
  const file = crdFile(peer);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    throw new Error(`${peer}: no CRD definitions at ${file}: run \`bash deploy/install-deps.sh\` (its Go build fills the module cache)`);
  }
  const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: false });
  const validators = new Map<string, ValidateFunction>();
  for (const document of parseAllDocuments(text)) {
    const crd = document.toJS() as { spec?: { group?: string; names?: { kind?: string }; versions?: { name: string; schema?: { openAPIV3Schema?: Schema } }[] } };
    for (const version of crd.spec?.versions ?? []) {
      const schema = version.schema?.openAPIV3Schema;
      if (schema === undefined || crd.spec?.names?.kind === undefined) continue;
      validators.set(`${crd.spec.group ?? ''}/${version.name} ${crd.spec.names.kind}`, ajv.compile(strict(schema) as Schema));
    }
  }
  return {
    problems(manifest) {
      const { apiVersion, kind } = manifest as { apiVersion?: string; kind?: string };
      const validate = validators.get(`${apiVersion ?? ''} ${kind ?? ''}`);
      if (validate === undefined) return [`${peer} has no CRD for ${apiVersion ?? '?'} ${kind ?? '?'}`];
      if (validate(manifest)) return [];
      return (validate.errors ?? []).map((error) => `${error.instancePath || '/'} ${error.message ?? ''} ${JSON.stringify(error.params)}`);
    },
  };
}
