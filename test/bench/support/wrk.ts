/**
 * Runs wrk (one thread, pinned) with one of the Lua scripts in test/bench/wrk/ and returns what
 * its done() reported.
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findBinary } from '../../deploy/binaries.js';
import { spawnPinned, stopChild, type CpuList } from './processes.js';

export const WRK_SCRIPTS = join(dirname(fileURLToPath(import.meta.url)), '..', 'wrk');

export interface WrkResult {
  readonly requests: number;
  readonly durationSeconds: number;
  readonly requestsPerSecond: number;
  readonly errors: { readonly connect: number; readonly read: number; readonly write: number; readonly status: number; readonly timeout: number };
  readonly latencyMs: { readonly p50: number; readonly p90: number; readonly p99: number; readonly p999: number; readonly max: number; readonly mean: number };
}

export interface WrkRun {
  readonly url: string;
  /** A file name in test/bench/wrk/. */
  readonly script: string;
  readonly scriptArgs: readonly string[];
  readonly connections: number;
  readonly durationSeconds: number;
  readonly cpus: CpuList | undefined;
}

interface DoneLine {
  requests: number;
  durationMicros: number;
  errors: WrkResult['errors'];
  latencyMicros: Record<'p50' | 'p90' | 'p99' | 'p999' | 'max' | 'mean', number>;
}

export function findWrk(): string {
  return findBinary('wrk', ['/usr/bin', '/usr/local/bin']);
}

/** The running wrk, if any, so an interrupted run can stop it. */
let running: ReturnType<typeof spawnPinned> | undefined;

export async function stopRunningWrk(): Promise<void> {
  if (running !== undefined) await stopChild(running, 'SIGKILL');
}

export async function runWrk(run: WrkRun): Promise<WrkResult> {
  const args = [
    '-t1',
    `-c${run.connections}`,
    `-d${run.durationSeconds}s`,
    '--timeout',
    '5s',
    '-s',
    join(WRK_SCRIPTS, run.script),
    run.url,
    '--',
    ...run.scriptArgs,
  ];
  const child = spawnPinned(run.cpus, findWrk(), args, { stdio: ['ignore', 'pipe', 'pipe'] });
  running = child;
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve(exitCode));
  }).finally(() => {
    running = undefined;
  });
  const line = /^BENCH_RESULT (.*)$/m.exec(stdout)?.[1];
  if (code !== 0 || line === undefined) {
    throw new Error(`wrk exited with ${String(code)} and no result:\n${stdout}\n${stderr}`);
  }
  const done = JSON.parse(line) as DoneLine;
  const durationSeconds = done.durationMicros / 1e6;
  const ms = (micros: number): number => micros / 1000;
  return {
    requests: done.requests,
    durationSeconds,
    requestsPerSecond: done.requests / durationSeconds,
    errors: done.errors,
    latencyMs: {
      p50: ms(done.latencyMicros.p50),
      p90: ms(done.latencyMicros.p90),
      p99: ms(done.latencyMicros.p99),
      p999: ms(done.latencyMicros.p999),
      max: ms(done.latencyMicros.max),
      mean: ms(done.latencyMicros.mean),
    },
  };
}
