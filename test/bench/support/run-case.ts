/** Running one case under wrk and reading what it cost from /proc and the logs. */
import { truncateSync } from 'node:fs';
import { logSize, readFrom } from './log-files.js';
import type { CpuList } from './processes.js';
import { measureCpu, sampleUsage, type CpuLoad, type Usage } from './proc-stats.js';
import type { ReadyCase } from './ready-case.js';
import type { CaseRun } from './results-table.js';
import type { ReadySuite } from './set-up-suite.js';
import { runWrk, type WrkResult } from './wrk.js';

/** Time for the last log lines of a case to come out (a buffered log flushes on a timer). */
const LOG_SETTLE_MS = 300;

/** Status counts of nginx's combined-format lines: `"GET /path HTTP/1.1" 200 612 ...`. */
export function countStatuses(accessLog: string): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const match of accessLog.matchAll(/" (\d{3}) \d+ "/g)) {
    const status = match[1] as string;
    counts[status] = (counts[status] ?? 0) + 1;
  }
  return counts;
}

export const countMatches = (text: string, pattern: RegExp): number => text.match(pattern)?.length ?? 0;

export interface RunSettings {
  readonly connections: number;
  /** wrk's CPUs; undefined: unpinned. */
  readonly clientCpus: CpuList | undefined;
  /** The one CPU the servers are pinned to, whose load is measured; undefined: unpinned. */
  readonly serverCpu: number | undefined;
}

/**
 * One wrk run of one case, with what it cost: the backend's and nginx's CPU and RSS over the run,
 * the statuses nginx logged, error lines, and the service's log lines.
 */
export async function runCase(c: ReadyCase, settings: RunSettings, durationSeconds: number, repetition: number): Promise<CaseRun> {
  const accessOffset = logSize(c.nginx.accessLog);
  const errorOffset = logSize(c.nginx.errorLog);
  const service = c.backend?.service;
  const backend = c.backend === undefined ? undefined : sampleUsage(c.backend.pid);
  // Apache with mod_auth_openidc is front and backend at once: its tree is counted once, as the backend.
  const nginx = c.backend?.pid === c.nginx.masterPid ? undefined : sampleUsage(c.nginx.masterPid);
  const serverCore = settings.serverCpu === undefined ? undefined : measureCpu(settings.serverCpu);
  let wrk: WrkResult;
  let backendUsage: Usage | undefined;
  let nginxUsage: Usage | undefined;
  let serverCpuLoad: CpuLoad | undefined;
  try {
    wrk = await runWrk({
      url: c.url,
      script: c.script,
      scriptArgs: c.scriptArgs,
      connections: settings.connections,
      durationSeconds,
      cpus: settings.clientCpus,
    });
  } finally {
    backendUsage = backend?.stop();
    nginxUsage = nginx?.stop();
    serverCpuLoad = serverCore?.stop();
  }
  // Time for the last log lines of the case to come out (a buffered log flushes on a timer).
  await new Promise((resolve) => setTimeout(resolve, LOG_SETTLE_MS));

  const statuses = c.statusesFromAccessLog ? countStatuses(readFrom(c.nginx.accessLog, accessOffset)) : {};
  // nginx logs 499 for the requests in flight when wrk stops at the deadline; a timeout mid-run is counted by wrk.
  const unexpected = Object.entries(statuses)
    .filter(([status]) => Number(status) !== c.expectedStatus && status !== '499')
    .reduce((sum, [, count]) => sum + count, 0);
  const { connect, read, write, timeout, status } = wrk.errors;
  const errors = unexpected + connect + read + write + timeout + (c.statusesFromAccessLog ? 0 : status);
  const nginxErrorLines = countMatches(readFrom(c.nginx.errorLog, errorOffset), /\[(?:\w+:)?(error|crit|alert|emerg)\]/g);
  const logCounts = service?.takeLogCounts();
  // nginx opened its log in append mode, so it can be emptied between cases.
  truncateSync(c.nginx.accessLog, 0);
  const decided = Object.entries(statuses).reduce((sum, [code, count]) => sum + (code === '499' ? 0 : count), 0);
  return {
    caseId: c.definition.id,
    repetition,
    wrk,
    statuses,
    errors,
    nginxErrorLines,
    serviceErrorLines: logCounts?.errorLines ?? 0,
    service: service?.name,
    serviceLogLines: logCounts?.lines,
    decisions: service === undefined ? undefined : decided,
    backend: backendUsage,
    nginxCpuPercent: nginxUsage?.cpuPercent,
    serverCpu: serverCpuLoad,
  };
}

/** Waits for late log lines, then takes them: what each service wrote that no case has counted yet. */
export async function settleLogs(ready: ReadySuite): Promise<Map<string, number>> {
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return new Map(ready.services.map((service) => [service.name, service.takeLogCounts().lines]));
}
