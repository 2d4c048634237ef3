import { loadConfig } from '../config/index.js';
import { buildApp } from '../server/app.js';
import { CONFIG_ENV, parseConfigArguments, reportProblems } from './config-argument.js';
import { createConfigReloader } from './config-reloader.js';
import type { CliIo } from './io.js';
import { createLogger, flushLog } from './logger.js';

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
  const load = () => loadConfig(path, { env: io.env });
  const loaded = await load();
  if (!loaded.ok) {
    reportProblems(path, loaded.problems, io);
    return 1;
  }
  const { config } = loaded;
  const log = createLogger(config.server.logLevel);
  for (const warning of config.warnings) log.warn(warning);
  const app = buildApp(config, { log });
  await app.fastify.listen({ host: config.server.listen.host, port: config.server.listen.port });
  log.info({ middlewares: Object.keys(config.middlewares) }, 'oidc-forward-auth is serving');

  const reloader = createConfigReloader({ path, files: loaded.files, load, apply: (next) => app.reload(next), log });
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
