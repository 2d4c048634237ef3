import { readFile as readFileFromDisk } from 'node:fs/promises';
import { deepFreeze } from './deep-freeze.js';
import { collectSources } from './documents.js';
import { createProblemSink, withoutRequiredOfSuggested, type ProblemSink } from './field-reader.js';
import { createInClusterKubernetesSecretReader, type KubernetesSecretReader } from './kubernetes-secret-reader.js';
import { rememberReferences } from './mask-config.js';
import { readMiddlewareConfig } from './middleware-config.js';
import { resolveSecrets, type PendingSecret } from './secret-references.js';
import { checkServerSecrets, readServerConfig } from './server-config.js';
import type { Config, MiddlewareConfig, ServerConfig } from './types.js';

export interface LoadConfigDeps {
  readonly env?: NodeJS.ProcessEnv;
  readonly readFile?: (path: string) => Promise<string>;
  /** Reads urn:k8s:secret references; by default the pod's service account is used. */
  readonly kube?: KubernetesSecretReader;
}

export type LoadConfigResult =
  | {
      readonly ok: true;
      readonly config: Config;
      /** Every file read for it: the configuration and the files its references named (a reload watches them). */
      readonly files: readonly string[];
    }
  | { readonly ok: false; readonly problems: string[] };

const readUtf8 = (path: string): Promise<string> => readFileFromDisk(path, 'utf8');

/** Reads, checks and resolves a configuration file; either every problem or a deep-frozen Config. */
export async function loadConfig(path: string, deps: LoadConfigDeps = {}): Promise<LoadConfigResult> {
  const readFile = deps.readFile ?? readUtf8;
  let text: string;
  try {
    text = await readFile(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException | undefined)?.code;
    const reason = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? String(error));
    return { ok: false, problems: [`cannot read the configuration file: ${reason}`] };
  }
  const loaded = await loadConfigFromText(text, path, deps);
  return loaded.ok ? { ...loaded, files: [path, ...loaded.files] } : loaded;
}

/** Like loadConfig for text already in hand; `sourceName` anchors relative file: references. */
export async function loadConfigFromText(
  text: string,
  sourceName: string,
  deps: LoadConfigDeps = {},
): Promise<LoadConfigResult> {
  const env = deps.env ?? process.env;
  const files: string[] = [];
  const readAnyFile = deps.readFile ?? readUtf8;
  const readFile = (file: string): Promise<string> => {
    files.push(file);
    return readAnyFile(file);
  };
  const sink = createProblemSink();
  const pending: PendingSecret[] = [];

  const sources = collectSources(text, sink);
  const server = readServerConfig(sources.server, sink, pending, env);
  // No prototype: a lookup by a name taken from a URL (/auth/constructor) must find nothing.
  const middlewares: Record<string, MiddlewareConfig> = Object.create(null) as Record<string, MiddlewareConfig>;
  for (const source of sources.middlewares) middlewares[source.name] = readMiddlewareConfig(source, sink, pending);
  if (sources.middlewares.length === 0 && sink.problems.length === 0) {
    sink.error('middlewares', 'at least one middleware is required');
  }

  const references = await resolveSecrets(
    pending,
    {
      env,
      readFile,
      sourceName,
      kube: async () => deps.kube ?? createInClusterKubernetesSecretReader({ env, readFile }),
    },
    sink,
  );
  checkServerSecrets(server, sink);
  warnAboutWorkers(server, middlewares, sink);

  if (sink.problems.length > 0) return { ok: false, problems: withoutRequiredOfSuggested(sink.problems) };
  const config: Config = deepFreeze({ server, middlewares, warnings: [...sink.warnings] });
  rememberReferences(config, references);
  return { ok: true, config, files };
}

/** What several workers change for the rest of the configuration. */
function warnAboutWorkers(server: ServerConfig, middlewares: Readonly<Record<string, MiddlewareConfig>>, sink: ProblemSink): void {
  if ((server.workers ?? 1) <= 1) return;
  if (server.metricsListen === undefined) {
    sink.warn(
      'server.workers',
      '/metrics on server.listen shows only the worker that answers the scrape; set server.metricsListen to serve all workers\' metrics, summed',
    );
  }
  for (const middleware of Object.values(middlewares)) {
    if (middleware.session.store === undefined && middleware.session.refresh) {
      sink.warn(
        `middlewares.${middleware.name}.session`,
        `with server.workers above 1 and sessions in cookies, two workers can refresh one session at the same moment, and a provider that detects refresh-token reuse then ends it; use session.store.redis (its refresh lock spans workers)`,
      );
    }
  }
}
