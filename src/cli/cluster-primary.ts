import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** Time the workers get to finish in-flight requests after SIGTERM, a little over their own grace. */
const STOP_GRACE_MS = 12_000;
/** A worker that dies is started again after this, doubling while it keeps dying, up to the cap. */
const RESTART_DELAY_MS = 500;
const RESTART_DELAY_CAP_MS = 30_000;
/** A worker that lived this long resets the backoff. */
const HEALTHY_AFTER_MS = 10_000;

export interface ClusterPrimaryOptions {
  readonly workers: number;
  readonly log: Logger;
  /** Called once all workers are up (the aggregated metrics listener starts here). */
  readonly onStarted?: () => Promise<void> | void;
  /** Called after the workers stopped. */
  readonly onStopped?: () => Promise<void> | void;
}

/**
 * `server.workers: N`: this process forks N workers that each run the service on the shared
 * listen address (node:cluster hands them connections in turn) and does nothing on the request
 * path itself. It passes SIGHUP on (each worker reloads), stops them all on SIGTERM or SIGINT,
 * and starts a worker again when one dies.
 */
export function runClusterPrimary(options: ClusterPrimaryOptions): Promise<number> {
  const { log } = options;
  let stopping = false;
  let restartDelay = RESTART_DELAY_MS;
  const startedAt = new Map<Worker, number>();

  const fork = (): Worker => {
    const worker = cluster.fork();
    startedAt.set(worker, Date.now());
    return worker;
  };

  return new Promise<number>((resolve) => {
    cluster.on('exit', (worker, code, signal) => {
      const lived = Date.now() - (startedAt.get(worker) ?? Date.now());
      startedAt.delete(worker);
      // Exit status 0 is a worker stopping on a signal of its own (Ctrl-C reaches the whole group).
      if (stopping || (code === 0 && signal === null)) return;
      if (lived >= HEALTHY_AFTER_MS) restartDelay = RESTART_DELAY_MS;
      log.error({ worker: worker.id, code, signal, restartInMs: restartDelay }, 'a worker exited; starting another');
      setTimeout(() => {
        if (!stopping) fork();
      }, restartDelay).unref();
      restartDelay = Math.min(RESTART_DELAY_CAP_MS, restartDelay * 2);
    });

    let listening = 0;
    const onListening = (): void => {
      listening += 1;
      if (listening === options.workers) {
        cluster.off('listening', onListening);
        log.info({ workers: options.workers }, 'all workers are serving');
        Promise.resolve()
          .then(() => options.onStarted?.())
          .catch((error: unknown) => log.error({ code: (error as NodeJS.ErrnoException | undefined)?.code }, 'the metrics listener did not start'));
      }
    };
    cluster.on('listening', onListening);
    for (let index = 0; index < options.workers; index += 1) fork();

    process.on('SIGHUP', () => {
      for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill('SIGHUP');
    });
    const stop = (signal: NodeJS.Signals): void => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, 'stopping the workers');
      const workers = Object.values(cluster.workers ?? {}).filter((worker): worker is Worker => worker !== undefined);
      const force = setTimeout(() => {
        for (const worker of workers) worker.process.kill('SIGKILL');
      }, STOP_GRACE_MS);
      force.unref();
      const exits = workers.map((worker) => (worker.isDead() ? Promise.resolve() : new Promise<void>((done) => worker.once('exit', () => done()))));
      for (const worker of workers) worker.process.kill('SIGTERM');
      void Promise.all(exits)
        .then(() => options.onStopped?.())
        .then(
          () => resolve(0),
          () => resolve(1),
        );
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
}
