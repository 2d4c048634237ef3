import { LineCounter, parseAllDocuments } from 'yaml';
import { checkKnownKeys, describeType, isRawObject, type ProblemSink, type RawObject } from './field-reader.js';
import type { MiddlewareSource } from './middleware-config.js';

/**
 * Splits a configuration text into the `server` section and the middlewares it defines, whether
 * written in our own format (`server:` / `middlewares:`) or as Traefik `Middleware` manifests,
 * in any mix of YAML documents, or as JSON.
 */
export interface ConfigSources {
  readonly server: RawObject | undefined;
  readonly middlewares: readonly MiddlewareSource[];
}

const MIDDLEWARE_API_VERSIONS = ['traefik.io/v1alpha1', 'traefik.containo.us/v1alpha1'];
// Middleware names appear in the auth URL (/auth/NAME), so they must survive a URL path unescaped;
// "." and ".." would be folded away by path normalisation.
const MIDDLEWARE_NAME = /^[A-Za-z0-9._-]+$/;

export function collectSources(text: string, sink: ProblemSink): ConfigSources {
  let server: { raw: RawObject; document: number } | undefined;
  const middlewares: MiddlewareSource[] = [];
  const origins = new Map<string, string>();

  const addMiddleware = (name: string, namespace: string | undefined, options: RawObject, origin: string): void => {
    const path = `middlewares.${name}`;
    if (!MIDDLEWARE_NAME.test(name) || name === '.' || name === '..') {
      sink.error(path, 'the name must be letters, digits, ".", "_" or "-" (it appears in the URL /auth/NAME)');
      return;
    }
    const earlier = origins.get(name);
    if (earlier !== undefined) {
      sink.error(path, `is defined more than once (${earlier} and ${origin})`);
      return;
    }
    origins.set(name, origin);
    middlewares.push({ name, namespace, path, options });
  };

  const readDocument = (value: unknown, document: number): void => {
    const label = `document ${document}`;
    if (value === null || value === undefined) return;
    if (!isRawObject(value)) {
      sink.error(label, `must be a mapping (got ${describeType(value)})`);
      return;
    }
    if ('kind' in value || 'apiVersion' in value) {
      readManifest(value, label, sink, addMiddleware);
      return;
    }
    checkKnownKeys(value, '', ['server', 'middlewares'], sink);
    const rawServer = value['server'];
    if (rawServer !== undefined && rawServer !== null) {
      if (!isRawObject(rawServer)) sink.error('server', `must be a mapping (got ${describeType(rawServer)})`);
      else if (server !== undefined) sink.error('server', `is given twice (document ${server.document} and ${label})`);
      else server = { raw: rawServer, document };
    }
    const rawMiddlewares = value['middlewares'];
    if (rawMiddlewares === undefined || rawMiddlewares === null) return;
    if (!isRawObject(rawMiddlewares)) {
      sink.error('middlewares', `must be a mapping of names to options (got ${describeType(rawMiddlewares)})`);
      return;
    }
    for (const [name, options] of Object.entries(rawMiddlewares)) {
      if (!isRawObject(options)) sink.error(`middlewares.${name}`, `must be a mapping of options (got ${describeType(options)})`);
      else addMiddleware(name, undefined, options, label);
    }
  };

  parseDocuments(text, sink).forEach((value, index) => readDocument(value, index + 1));
  return { server: server?.raw, middlewares };
}

function parseDocuments(text: string, sink: ProblemSink): unknown[] {
  // JSON first: it is valid YAML too, but JSON.parse is stricter about what JSON means.
  if (/^\s*[{[]/.test(text)) {
    try {
      return [JSON.parse(text) as unknown];
    } catch {
      // Not JSON after all (a YAML flow mapping, or broken); YAML reports where it breaks.
    }
  }
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, prettyErrors: false });
  if (!Array.isArray(documents)) return [];
  const values: unknown[] = [];
  documents.forEach((document, index) => {
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        const { line, col } = lineCounter.linePos(error.pos[0]);
        sink.error(`document ${index + 1}`, `line ${line}, column ${col}: ${error.message}`);
      }
      values.push(undefined);
      return;
    }
    try {
      values.push(document.toJS({ maxAliasCount: 100 }));
    } catch (error) {
      sink.error(`document ${index + 1}`, error instanceof Error ? error.message : String(error));
      values.push(undefined);
    }
  });
  return values;
}

function readManifest(
  manifest: RawObject,
  label: string,
  sink: ProblemSink,
  addMiddleware: (name: string, namespace: string | undefined, options: RawObject, origin: string) => void,
): void {
  const kind = typeof manifest['kind'] === 'string' ? manifest['kind'] : undefined;
  const metadata = isRawObject(manifest['metadata']) ? manifest['metadata'] : {};
  const name = typeof metadata['name'] === 'string' ? metadata['name'] : undefined;
  const namespace = typeof metadata['namespace'] === 'string' && metadata['namespace'] !== '' ? metadata['namespace'] : undefined;
  const apiVersion = manifest['apiVersion'];
  const described = `${kind ?? 'manifest'}${name === undefined ? '' : ` "${name}"`}`;

  // `kubectl get -o yaml` wraps several objects in a List.
  if (kind === 'List' && Array.isArray(manifest['items'])) {
    manifest['items'].forEach((item: unknown, index) => {
      if (isRawObject(item)) readManifest(item, `${label} item ${index + 1}`, sink, addMiddleware);
    });
    return;
  }
  if (kind !== 'Middleware') {
    sink.warn(label, `ignoring ${described}: only Traefik Middleware manifests configure this service`);
    return;
  }
  if (typeof apiVersion !== 'string' || !MIDDLEWARE_API_VERSIONS.includes(apiVersion)) {
    sink.warn(label, `ignoring ${described}: apiVersion must be ${MIDDLEWARE_API_VERSIONS.join(' or ')}`);
    return;
  }
  if (name === undefined || name === '') {
    sink.error(`${label} (Middleware)`, 'metadata.name is required');
    return;
  }
  const spec = isRawObject(manifest['spec']) ? manifest['spec'] : {};
  const plugin = isRawObject(spec['plugin']) ? spec['plugin'] : {};
  const oidc = plugin['oidc'];
  if (oidc === undefined || oidc === null) {
    sink.warn(label, `ignoring ${described}: it has no spec.plugin.oidc`);
    return;
  }
  if (!isRawObject(oidc)) {
    sink.error(`middlewares.${name}`, `spec.plugin.oidc must be a mapping (got ${describeType(oidc)})`);
    return;
  }
  addMiddleware(name, namespace, oidc, namespace === undefined ? label : `${label}, namespace ${namespace}`);
}
