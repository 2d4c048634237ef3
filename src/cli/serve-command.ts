import cluster from 'node:cluster';
import { AggregatorRegistry } from 'prom-client';
import type { Logger } from 'pino';
import { loadConfig } from '../config/index.js';
import type { Config } from '../config/types.js';
import { createTelemetry } from '../observability/telemetry.js';
import { startTracing } from '../observability/tracing.js';
import { buildApp } from '../server/app.js';
import { createRevocationHub } from '../session/revocation-hub.js';
import { startMetricsListener, type MetricsListener } from '../server/metrics-listener.js';
import { runClusterPrimary } from './cluster-primary.js';
import { CONFIG_ENV, parseConfigArguments, reportProblems } from './config-argument.js';
import { createConfigReloader } from './config-reloader.js';
import type { CliIo } from './io.js';
import { boundHeapGrowth } from './heap-growth.js';
import { createLogger, flushLog } from './logger.js';
import { startRevocationRelay } from './revocation-relay.js';
import { createWorkerRevocationLink } from './worker-revocations.js';

/** Time given to in-flight requests after SIGTERM before the process exits anyway. */
const SHUTDOWN_GRACE_MS = 10_000;

export async function runServeCommand(argv: readonly string[], io: CliIo): Promise<number> {
  const parsed = parseConfigArguments(argv, io.env);
  if ('help' in parsed || 'error' in parsed || parsed.config === undefined) {
    if ('error' in parsed) io.stderr(`${parsed.error}\n`);
    io.stderr(`usage: oidc-forward-auth serve --config FILE (or set ${CONFIG_ENV})\n`);
    return 'help' in parsed ? 0 : 2;
  }
  const path = parsed.config;
  const load = (readFile?: (file: string) => Promise<string>) => loadConfig(path, { env: io.env, ...(readFile === undefined ? {} : { readFile }) });
  const loaded = await load();
  if (!loaded.ok) {
    reportProblems(path, loaded.problems, io);
    return 1;
  }
  const { config } = loaded;
  boundHeapGrowth();
  const processLog = createLogger(config.server.logLevel);
  // Each worker's lines say which worker wrote them.
  const log = cluster.isWorker ? processLog.child({ worker: cluster.worker?.id, pid: process.pid }) : processLog;
  const workers = config.server.workers ?? 1;
  if (workers > 1 && cluster.isPrimary) return servePrimary(config, workers, log);
  if (cluster.isPrimary) for (const warning of config.warnings) log.warn(warning);

  const telemetry = createTelemetry({ tracing: await startTracing(io.env, log), processMetrics: true });
  if (cluster.isWorker) {
    // A worker's metrics reach the scrape through the primary's aggregation; prom-client answers
    // the primary's requests only once an AggregatorRegistry exists in the worker too.
    AggregatorRegistry.setRegistries(telemetry.registry);
    new AggregatorRegistry();
  }
  // A worker's logouts reach every other worker through the primary, and it takes the ones in
  // force before it serves: whichever worker the next connection lands on refuses the cookie.
  const revocationLink = cluster.isWorker ? createWorkerRevocationLink() : undefined;
  const revocations = createRevocationHub({ share: revocationLink });
  const app = buildApp(config, { log, telemetry, revocations });
  let metricsListener: MetricsListener | undefined;
  try {
    await revocationLink?.connect(revocations);
    await app.fastify.listen({ host: config.server.listen.host, port: config.server.listen.port });
    if (config.server.metricsListen !== undefined && cluster.isPrimary) {
      metricsListener = await startMetricsListener(config.server.metricsListen, telemetry, log);
    }
  } catch (error) {
    log.error({ code: (error as NodeJS.ErrnoException).code }, 'cannot listen');
    await app.fastify.close();
    await app.stop();
    await flushLog(log);
    return 1;
  }
  log.info({ middlewares: Object.keys(config.middlewares) }, 'oidc-forward-auth is serving');

  const reloader = createConfigReloader({
    path,
    files: loaded.files,
    load,
    apply: (next) => app.reload(next),
    log,
    onResult: (result) => telemetry.recordConfigReload(result),
  });
  const onHangup = (): void => void reloader.reload('SIGHUP');
  process.on('SIGHUP', onHangup);

  return new Promise<number>((resolve) => {
    let stopping = false;
    // A script's background job starts with SIGINT ignored by its shell; Node listens anyway, and
    // both signals mean the same here: finish what is in flight, then exit.
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'shutting down: finishing in-flight requests');
      reloader.close();
      process.off('SIGHUP', onHangup);
      const force = setTimeout(() => resolve(1), SHUTDOWN_GRACE_MS);
      force.unref();
      app.fastify
        .close()
        .then(() => app.stop())
        .then(() => metricsListener?.close())
        .then(() => telemetry.shutdown())
        .then(() => revocationLink?.close())
        .then(() => flushLog(log))
        .then(
          () => resolve(0),
          () => resolve(1),
        );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}

/**
 * `server.workers` above 1: this process only supervises. The workers load the same file (so
 * they hold the same secrets and serve the same address) and each reload on their own; the
 * metrics of all of them are served, summed, on `metricsListen`. It also relays the workers'
 * revocations to one another and keeps them for workers that start later.
 */
async function servePrimary(config: Config, workers: number, log: Logger): Promise<number> {
  for (const warning of config.warnings) log.warn(warning);
  const aggregator = new AggregatorRegistry();
  const relay = startRevocationRelay({ log });
  let metricsListener: MetricsListener | undefined;
  return runClusterPrimary({
    workers,
    log,
    onStarted: async () => {
      if (config.server.metricsListen === undefined) return;
      metricsListener = await startMetricsListener(
        config.server.metricsListen,
        { scrape: async () => ({ contentType: aggregator.contentType, body: await aggregator.clusterMetrics() }) },
        log,
      );
    },
    onStopped: async () => {
      relay.close();
      await metricsListener?.close();
      await flushLog(log);
    },
  });
}
