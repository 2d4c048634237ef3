/**
 * What a process tree costs while a case runs, read from /proc: resident memory (VmRSS, summed
 * over the tree, sampled) and CPU time (utime + stime, summed over the tree) as a share of one core.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { processTree } from './processes.js';

const CLOCK_TICKS_PER_SECOND = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface TreeReading {
  readonly cpuSeconds: number;
  readonly rssBytes: number;
}

function readProcess(pid: number): TreeReading {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // Fields 14 and 15 of stat (utime, stime); `fields` starts at field 3.
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const rssKb = Number(/^VmRSS:\s*(\d+)\s*kB/m.exec(status)?.[1] ?? 0);
    return { cpuSeconds: ticks / CLOCK_TICKS_PER_SECOND, rssBytes: rssKb * 1024 };
  } catch {
    return { cpuSeconds: 0, rssBytes: 0 };
  }
}

export function readTree(rootPid: number): TreeReading {
  let cpuSeconds = 0;
  let rssBytes = 0;
  for (const pid of processTree(rootPid)) {
    const reading = readProcess(pid);
    cpuSeconds += reading.cpuSeconds;
    rssBytes += reading.rssBytes;
  }
  return { cpuSeconds, rssBytes };
}

export interface Usage {
  /** Highest summed VmRSS seen, bytes. */
  readonly peakRssBytes: number;
  /** The last sample's summed VmRSS, bytes. */
  readonly endRssBytes: number;
  /** CPU time over wall time, in % of one core (above 100 for a tree using several cores). */
  readonly cpuPercent: number;
}

export interface UsageSampler {
  /** The reading so far, without stopping. */
  peek(): Usage;
  stop(): Usage;
}

/** Samples the tree under `rootPid` every `intervalMs` until stop(). */
export function sampleUsage(rootPid: number, intervalMs = 250): UsageSampler {
  const started = process.hrtime.bigint();
  const first = readTree(rootPid);
  let peak = first.rssBytes;
  let last = first;
  const sample = (): void => {
    last = readTree(rootPid);
    peak = Math.max(peak, last.rssBytes);
  };
  const timer = setInterval(sample, intervalMs);
  const usage = (): Usage => {
    const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    return {
      peakRssBytes: peak,
      endRssBytes: last.rssBytes,
      cpuPercent: wallSeconds > 0 ? ((last.cpuSeconds - first.cpuSeconds) / wallSeconds) * 100 : 0,
    };
  };
  return {
    peek() {
      sample();
      return usage();
    },
    stop() {
      clearInterval(timer);
      sample();
      return usage();
    },
  };
}

interface CpuTimes {
  readonly busy: number;
  readonly steal: number;
  readonly total: number;
}

/** One CPU's line of /proc/stat: user nice system idle iowait irq softirq steal …, in ticks. */
function readCpuTimes(cpu: number): CpuTimes | undefined {
  const line = readFileSync('/proc/stat', 'latin1').split('\n').find((candidate) => candidate.startsWith(`cpu${cpu} `));
  if (line === undefined) return undefined;
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  return { busy: user + nice + system + irq + softirq, steal, total: user + nice + system + idle + iowait + irq + softirq + steal };
}

export interface CpuLoad {
  /** Share of the CPU's time spent running anything (ours or not), %. */
  readonly busyPercent: number;
  /** Share taken by the hypervisor, %. */
  readonly stealPercent: number;
}

/**
 * How busy one CPU was between start and stop: near 100% on the servers' CPU means that core was
 * the bottleneck; well below means the servers waited for something else.
 */
export function measureCpu(cpu: number): { stop(): CpuLoad | undefined } {
  const first = readCpuTimes(cpu);
  return {
    stop() {
      const last = readCpuTimes(cpu);
      if (first === undefined || last === undefined || last.total === first.total) return undefined;
      const total = last.total - first.total;
      return { busyPercent: ((last.busy - first.busy) / total) * 100, stealPercent: ((last.steal - first.steal) / total) * 100 };
    },
  };
}
