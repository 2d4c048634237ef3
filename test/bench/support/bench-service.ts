/**
 * The service as operators run it: `node dist/cli.js serve --config FILE`, a child process pinned
 * to a CPU. Its stdout (the JSON log, one access line per decision) goes where a deployment sends
 * it: a pipe read by someone else (a container runtime, journald) — here this process, which counts
 * the lines — or, with `file`, a file on disk. Ready once /readyz answers 200 (every middleware's
 * provider discovered, every session store connected).
 */
import { closeSync, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { readFrom } from './log-files.js';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { isRunning, spawnPinned, stopChild, type CpuList } from './processes.js';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const CLI_PATH = join(REPO_ROOT, 'dist', 'cli.js');
/** What the Docker image and the systemd unit put in NODE_OPTIONS (test/deploy/dockerfile.test.ts keeps the two alike). */
export const SHIPPED_NODE_FLAG = '--max-semi-space-size=8';

/** The options of one middleware, as in the YAML/JSON config file. */
export type MiddlewareOptions = Readonly<Record<string, unknown>>;

export type LogDestination = 'pipe' | 'file';

export interface ServiceSpec {
  /** Names the config and log files. */
  readonly name: string;
  readonly port: number;
  readonly secrets: readonly string[];
  readonly middlewares: Readonly<Record<string, MiddlewareOptions>>;
  /** Merged into `server` (e.g. `{ workers: 2 }`). */
  readonly server?: Readonly<Record<string, unknown>>;
}

export interface LogCounts {
  readonly lines: number;
  /** Lines at level error (50) or fatal (60). */
  readonly errorLines: number;
}

export interface BenchService {
  readonly name: string;
  readonly pid: number;
  readonly origin: string;
  /** From spawn to /readyz 200. */
  readonly readyMs: number;
  /** Log lines written since the previous call. */
  takeLogCounts(): LogCounts;
  stop(): Promise<void>;
}

export interface StartServiceOptions {
  readonly dir: string;
  readonly cpus: CpuList | undefined;
  readonly log: LogDestination;
  /** Passes --cpu-prof with this directory to node. */
  readonly cpuProfDir?: string;
  /** How long discovery of every middleware may take. */
  readonly readyWithinMs?: number;
}

export function writeServiceConfig(spec: ServiceSpec, dir: string): string {
  const config = {
    server: {
      listen: `127.0.0.1:${spec.port}`,
      secrets: spec.secrets,
      // nginx on this machine; only its X-Forwarded-* headers are believed.
      trustedProxies: ['127.0.0.1/32'],
      logLevel: 'info',
      ...spec.server,
    },
    middlewares: spec.middlewares,
  };
  const path = join(dir, `service-${spec.name}.json`);
  writeFileSync(path, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  return path;
}

const ERROR_LEVEL = /"level":(50|60)[,}]/g;

function countLines(text: string): LogCounts {
  let lines = 0;
  for (let at = text.indexOf('\n'); at >= 0; at = text.indexOf('\n', at + 1)) lines += 1;
  return { lines, errorLines: text.match(ERROR_LEVEL)?.length ?? 0 };
}

export async function startBenchService(spec: ServiceSpec, options: StartServiceOptions): Promise<BenchService> {
  if (!existsSync(CLI_PATH)) throw new Error(`${CLI_PATH} is missing: run \`npm run build\` (or pass --build)`);
  const configPath = writeServiceConfig(spec, options.dir);
  const logPath = join(options.dir, `service-${spec.name}.log`);
  const errPath = join(options.dir, `service-${spec.name}.stderr`);
  const out = options.log === 'file' ? openSync(logPath, 'a') : 'pipe';
  const err = openSync(errPath, 'a');
  // As the Docker image and the systemd unit run it (NODE_OPTIONS there): README, "Memory".
  const nodeArgs = [SHIPPED_NODE_FLAG, ...(options.cpuProfDir === undefined ? [] : ['--cpu-prof', '--cpu-prof-dir', options.cpuProfDir])];
  const started = Date.now();
  const child = spawnPinned(options.cpus, process.execPath, [...nodeArgs, CLI_PATH, 'serve', '--config', configPath], {
    stdio: ['ignore', out, err],
    cwd: REPO_ROOT,
  });
  if (typeof out === 'number') closeSync(out);
  closeSync(err);

  let piped = { lines: 0, errorLines: 0 };
  let fileOffset = 0;
  let partial = '';
  let lastLines = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
    const text = partial + chunk;
    const end = text.lastIndexOf('\n') + 1;
    partial = text.slice(end);
    const counts = countLines(text.slice(0, end));
    piped = { lines: piped.lines + counts.lines, errorLines: piped.errorLines + counts.errorLines };
    if (end > 0) lastLines = text.slice(Math.max(0, end - 4096), end);
  });
  const takeLogCounts = (): LogCounts => {
    if (options.log === 'pipe') {
      const counts = piped;
      piped = { lines: 0, errorLines: 0 };
      return counts;
    }
    // Read from where the last call stopped, never emptied: a truncation could drop a line written meanwhile.
    const text = readFrom(logPath, fileOffset);
    const end = text.lastIndexOf('\n') + 1;
    fileOffset += Buffer.byteLength(text.slice(0, end));
    return countLines(text.slice(0, end));
  };

  const failed = (why: string): Error =>
    new Error(`service ${spec.name} ${why}; its stderr:\n${tail(readText(errPath))}\nits log:\n${tail(options.log === 'file' ? readText(logPath) : lastLines)}`);
  const stop = (): Promise<void> => stopChild(child);
  try {
    await waitUntilReady(`http://127.0.0.1:${spec.port}`, () => isRunning(child), options.readyWithinMs ?? 60_000, failed);
  } catch (error) {
    await stop();
    throw error;
  }
  if (child.pid === undefined) throw failed('has no PID');
  return { name: spec.name, pid: child.pid, origin: `http://127.0.0.1:${spec.port}`, readyMs: Date.now() - started, takeLogCounts, stop };
}

async function waitUntilReady(origin: string, alive: () => boolean, withinMs: number, failed: (why: string) => Error): Promise<void> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    if (!alive()) throw failed('exited before it was ready');
    try {
      const answer = await request(`${origin}/readyz`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
      await answer.body.dump();
      if (answer.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw failed(`was not ready within ${withinMs / 1000} s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function tail(text: string, lines = 20): string {
  return text === '' ? '(none)' : text.trimEnd().split('\n').slice(-lines).join('\n');
}
