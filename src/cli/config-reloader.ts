import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import type { LoadConfigResult } from '../config/index.js';
import type { Config } from '../config/types.js';
import type { ReloadSummary } from '../server/app.js';

export type ReloadTrigger = 'SIGHUP' | 'file change';
export type ReloadResult = 'success' | 'failure' | 'unchanged';

export interface ConfigReloaderOptions {
  /** The configuration file, as given on the command line (problems are prefixed with it). */
  readonly path: string;
  /** Files the serving configuration was read from (the file and its file: references). */
  readonly files: readonly string[];
  /** Loads the configuration, reading every file through `readFile` (so what it read is what gets fingerprinted). */
  readonly load: (readFile: (path: string) => Promise<string>) => Promise<LoadConfigResult>;
  readonly apply: (config: Config) => ReloadSummary;
  readonly log: Logger;
  readonly onResult?: (result: Exclude<ReloadResult, 'unchanged'>) => void;
  /** Quiet time after the last file event before reloading; editors and Kubernetes write in steps. */
  readonly settleMs?: number;
}

export interface ConfigReloader {
  /** Loads and applies the configuration now; a reload in progress runs once more afterwards. */
  reload(trigger: ReloadTrigger): Promise<ReloadResult>;
  close(): void;
}

const DEFAULT_SETTLE_MS = 300;

/**
 * Reloads the configuration on demand (SIGHUP) and when a file it was read from changes. The new
 * configuration is loaded and checked in full first: an invalid one is logged line by line as
 * `check` prints it and the old one keeps serving. Directories are watched rather than files, so
 * an editor's rename-into-place and a Kubernetes ConfigMap's symlink swap are both seen; a file
 * event whose files still read the same (a touch, an unrelated file) reloads nothing. The
 * fingerprint is of the bytes the load read, not of the files after it: a file written while it
 * was being loaded differs from it, so its event reloads again instead of being taken as seen.
 */
export function createConfigReloader(options: ConfigReloaderOptions): ConfigReloader {
  const { log } = options;
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  let files = options.files.map((file) => resolve(file));
  let fingerprint: Promise<string> = fingerprintOf(files);
  let watchers: FSWatcher[] = [];
  let settle: NodeJS.Timeout | undefined;
  let running: Promise<ReloadResult> | undefined;
  let again: ReloadTrigger | undefined;
  let closed = false;

  function watchFiles(): void {
    for (const watcher of watchers) watcher.close();
    watchers = [];
    const names = new Map<string, Set<string>>();
    for (const file of files) {
      const directory = dirname(file);
      const set = names.get(directory) ?? new Set<string>();
      set.add(basename(file));
      names.set(directory, set);
    }
    for (const directory of names.keys()) {
      try {
        const watcher = watch(directory, { persistent: false }, () => onFileEvent());
        watcher.on('error', (error: NodeJS.ErrnoException) => log.warn({ directory, code: error.code }, 'stopped watching a configuration directory'));
        watchers.push(watcher);
      } catch (error) {
        log.warn({ directory, code: (error as NodeJS.ErrnoException).code }, 'cannot watch a configuration directory; reload with SIGHUP');
      }
    }
  }

  function onFileEvent(): void {
    if (closed) return;
    if (settle !== undefined) clearTimeout(settle);
    settle = setTimeout(() => {
      settle = undefined;
      void reload('file change');
    }, settleMs);
    settle.unref();
  }

  async function runOnce(trigger: ReloadTrigger): Promise<ReloadResult> {
    const before = await fingerprint;
    const current = await fingerprintOf(files);
    if (trigger === 'file change' && current === before) return 'unchanged';

    const reads = new Map<string, FileState>();
    const loaded = await options.load(async (file) => {
      const bytes = await readFile(file).catch((error: unknown) => {
        reads.set(resolve(file), missing(error));
        throw error;
      });
      reads.set(resolve(file), bytes);
      return bytes.toString('utf8');
    });
    if (!loaded.ok) {
      for (const problem of loaded.problems) log.error({ trigger }, `${options.path}: ${problem}`);
      const count = loaded.problems.length;
      log.error({ trigger }, `${options.path}: invalid (${count} problem${count === 1 ? '' : 's'}); the previous configuration keeps serving`);
      // Remember what was seen, so the same broken files are not reported again on every event.
      fingerprint = fingerprintOf(files, reads);
      options.onResult?.('failure');
      return 'failure';
    }
    const summary = options.apply(loaded.config);
    files = loaded.files.map((file) => resolve(file));
    fingerprint = fingerprintOf(files, reads);
    watchFiles();
    for (const warning of loaded.config.warnings) log.warn(warning);
    for (const setting of summary.needRestart) log.warn({ setting }, `${setting} changed: it takes effect after a restart`);
    log.info(
      { trigger, added: summary.added, removed: summary.removed, changed: summary.changed },
      'configuration reloaded',
    );
    options.onResult?.('success');
    return 'success';
  }

  function reload(trigger: ReloadTrigger): Promise<ReloadResult> {
    if (closed) return Promise.resolve('unchanged');
    if (running !== undefined) {
      // One more pass after the current one sees whatever changed meanwhile.
      again = again === 'SIGHUP' ? again : trigger;
      return running;
    }
    running = runOnce(trigger)
      .catch((error: unknown) => {
        log.error({ trigger, code: (error as { code?: unknown } | undefined)?.code }, 'configuration reload failed');
        options.onResult?.('failure');
        return 'failure' as const;
      })
      .finally(() => {
        running = undefined;
        const next = again;
        again = undefined;
        if (next !== undefined) void reload(next);
      });
    return running;
  }

  watchFiles();
  return {
    reload,
    close() {
      closed = true;
      if (settle !== undefined) clearTimeout(settle);
      for (const watcher of watchers) watcher.close();
      watchers = [];
    },
  };
}

/** A file's bytes, or why it could not be read (a missing file counts as its own state). */
type FileState = Buffer | { readonly missing: string };

const missing = (error: unknown): FileState => ({ missing: (error as NodeJS.ErrnoException | undefined)?.code ?? '' });

/** A digest of the files' contents: as `read` holds them (what a load read), else as they are now. */
async function fingerprintOf(files: readonly string[], read: ReadonlyMap<string, FileState> = new Map()): Promise<string> {
  const hash = createHash('sha256');
  for (const file of files) {
    hash.update(file).update('\0');
    const state = read.get(file) ?? (await readFile(file).catch(missing));
    if (Buffer.isBuffer(state)) hash.update(state).update('\x01');
    else hash.update(`missing:${state.missing}`).update('\x02');
  }
  return hash.digest('hex');
}
