/**
 * The benchmark's processes: started pinned to one CPU, found with their children through /proc,
 * and stopped by PID in reverse order of start, also when the run is interrupted or fails.
 */
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { findBinary } from '../../deploy/binaries.js';

export function findTaskset(): string {
  return findBinary('taskset', ['/usr/bin', '/bin']);
}

/** CPUs as taskset and /proc write them: "0", "0-1", "0,2-3". */
export type CpuList = string;

/** "0-2,5" → "0,1,2,5", so two spellings of one set compare equal. */
function expandCpus(list: CpuList): string {
  const cpus = new Set<number>();
  for (const part of list.split(',')) {
    const [from, to = from] = part.trim().split('-').map(Number);
    if (from === undefined || to === undefined || !Number.isInteger(from) || !Number.isInteger(to)) throw new TypeError(`not a CPU list: ${list}`);
    for (let cpu = from; cpu <= to; cpu += 1) cpus.add(cpu);
  }
  return [...cpus].sort((a, b) => a - b).join(',');
}

/**
 * `command` run through `taskset -c CPUS` (taskset execs it, so the PID is the command's), or
 * unpinned when `cpus` is undefined.
 */
export function spawnPinned(cpus: CpuList | undefined, command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  if (cpus === undefined) return spawn(command, args, options);
  return spawn(findTaskset(), ['-c', cpus, command, ...args], options);
}

/** PID → parent PID of every process we may read, from /proc/PID/stat. */
function parentsByPid(): Map<number, number> {
  const parents = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1');
      // The command name sits in parentheses and may hold spaces or ")": fields follow the last ")".
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      parents.set(Number(entry), Number(fields[1]));
    } catch {
      // exited while we looked
    }
  }
  return parents;
}

/** `pid` and all its descendants that are alive now. */
export function processTree(pid: number): number[] {
  const parents = parentsByPid();
  if (!parents.has(pid)) return [];
  const tree = [pid];
  for (let i = 0; i < tree.length; i += 1) {
    for (const [child, parent] of parents) if (parent === tree[i]) tree.push(child);
  }
  return tree;
}

/**
 * Pins every thread of `pid` and of its descendants (nginx workers, cluster workers) to `cpus`,
 * and waits until at least `minMembers` processes are in the tree, all pinned: a child forked
 * while we pinned would otherwise keep the old affinity.
 */
export async function pinProcessTree(pid: number, cpus: CpuList, minMembers = 1): Promise<void> {
  const taskset = findTaskset();
  const wanted = expandCpus(cpus);
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const tree = processTree(pid);
    const unpinned = tree.filter((member) => allowedCpusOrUndefined(member) !== wanted);
    if (tree.length >= minMembers && unpinned.length === 0) return;
    for (const member of unpinned) {
      try {
        execFileSync(taskset, ['-a', '-p', '-c', cpus, String(member)], { stdio: 'ignore' });
      } catch {
        // exited while we pinned it; the next look decides
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`could not pin process ${pid} and ${minMembers - 1} children to CPUs ${cpus}`);
}

function allowedCpusOrUndefined(pid: number): string | undefined {
  try {
    return expandCpus(allowedCpus(pid));
  } catch {
    return undefined;
  }
}

/** The CPUs the process may run on, as /proc says (e.g. "0" or "0-1"). */
export function allowedCpus(pid: number): string {
  const status = readFileSync(`/proc/${pid}/status`, 'latin1');
  return /^Cpus_allowed_list:\s*(\S+)/m.exec(status)?.[1] ?? '?';
}

export function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}

export function exitOf(child: ChildProcess): Promise<void> {
  if (!isRunning(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** SIGTERM (or `signal`) by PID, SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
  if (!isRunning(child) || child.pid === undefined) return;
  const pid = child.pid;
  const exited = exitOf(child);
  process.kill(pid, signal);
  const timer = setTimeout(() => {
    if (isRunning(child)) process.kill(pid, 'SIGKILL');
  }, graceMs);
  await exited;
  clearTimeout(timer);
}

export interface Cleanup {
  /** Registers a stop step; steps run in reverse order of registration. */
  add(what: string, stop: () => Promise<void>): void;
  /** Runs every step once (later calls do nothing); a failing step is reported and the rest still run. */
  runAll(): Promise<void>;
}

export function createCleanup(report: (line: string) => void): Cleanup {
  const steps: { what: string; stop: () => Promise<void> }[] = [];
  let ran: Promise<void> | undefined;
  return {
    add(what, stop) {
      steps.push({ what, stop });
    },
    runAll() {
      ran ??= (async () => {
        for (const step of steps.reverse()) {
          try {
            await step.stop();
          } catch (error) {
            report(`stopping ${step.what} failed: ${String(error)}`);
          }
        }
      })();
      return ran;
    },
  };
}
