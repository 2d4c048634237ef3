/** Medians, ranges and the printed table of a benchmark run. */
import type { ReadyCase } from './ready-case.js';
import type { WrkResult } from './wrk.js';
import type { CpuLoad, Usage } from './proc-stats.js';

/** One measured run of one case. */
export interface CaseRun {
  readonly caseId: string;
  readonly repetition: number;
  readonly wrk: WrkResult;
  /** Statuses nginx logged for the case's requests (recipe cases). */
  readonly statuses: Readonly<Record<string, number>>;
  /** Unexpected statuses + socket errors + timeouts. */
  readonly errors: number;
  /** New error-level lines in nginx's error.log. */
  readonly nginxErrorLines: number;
  /** New log lines of the service at level error or worse. */
  readonly serviceErrorLines: number;
  /** The service behind the case; undefined for the floor and static. */
  readonly service: string | undefined;
  /** Log lines of the service since the previous case ended (a late line counts in the next case). */
  readonly serviceLogLines: number | undefined;
  /** Requests nginx logged as answered (not 499) for a service case: each made one decision. */
  readonly decisions: number | undefined;
  readonly backend: Usage | undefined;
  /** undefined where no nginx stands in front (Apache with mod_auth_openidc). */
  readonly nginxCpuPercent: number | undefined;
  /** How busy the servers' CPU was (anything running on it); undefined when unpinned. */
  readonly serverCpu: CpuLoad | undefined;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

export interface CaseSummary {
  readonly id: string;
  readonly title: string;
  readonly runs: number;
  readonly rps: { readonly median: number; readonly min: number; readonly max: number };
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly errors: number;
  readonly peakRssMb: number | undefined;
  readonly backendCpuPercent: number | undefined;
  readonly nginxCpuPercent: number | undefined;
  readonly serverCpuBusyPercent: number | undefined;
  readonly ratio: number | undefined;
  readonly compareTo: string | undefined;
  readonly target: number | undefined;
  /** A peer's case: the target for our signed-in req/s over this case's. */
  readonly peerTarget: number | undefined;
}

export function summarize(cases: readonly ReadyCase[], runs: readonly CaseRun[]): CaseSummary[] {
  const medians = new Map<string, number>();
  for (const c of cases) {
    medians.set(c.definition.id, median(runs.filter((run) => run.caseId === c.definition.id).map((run) => run.wrk.requestsPerSecond)));
  }
  return cases.map((c) => {
    const own = runs.filter((run) => run.caseId === c.definition.id);
    const rps = own.map((run) => run.wrk.requestsPerSecond);
    const compareTo = c.definition.compareTo ?? (c.definition.id === 'floor' || c.definition.request === 'static' ? undefined : 'floor');
    const base = compareTo === undefined ? undefined : medians.get(compareTo);
    const usages = own.flatMap((run) => (run.backend === undefined ? [] : [run.backend]));
    return {
      id: c.definition.id,
      title: c.definition.title,
      runs: own.length,
      rps: { median: median(rps), min: Math.min(...rps), max: Math.max(...rps) },
      p50Ms: median(own.map((run) => run.wrk.latencyMs.p50)),
      p99Ms: median(own.map((run) => run.wrk.latencyMs.p99)),
      errors: own.reduce((sum, run) => sum + run.errors, 0),
      peakRssMb: usages.length === 0 ? undefined : Math.max(...usages.map((usage) => usage.peakRssBytes)) / 2 ** 20,
      backendCpuPercent: usages.length === 0 ? undefined : median(usages.map((usage) => usage.cpuPercent)),
      nginxCpuPercent: own.some((run) => run.nginxCpuPercent === undefined) ? undefined : median(own.map((run) => run.nginxCpuPercent ?? 0)),
      serverCpuBusyPercent: own.every((run) => run.serverCpu !== undefined) ? median(own.map((run) => run.serverCpu?.busyPercent ?? 0)) : undefined,
      ratio: base === undefined ? undefined : (medians.get(c.definition.id) as number) / base,
      compareTo,
      target: c.definition.target,
      peerTarget: c.definition.peerTarget,
    };
  });
}

const thousands = (value: number): string => Math.round(value).toLocaleString('en-US');
const ms = (value: number): string => (value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2));

export function formatTable(summaries: readonly CaseSummary[]): string {
  const header = ['case', 'req/s median', '(min–max)', 'ratio', 'target', 'p50 ms', 'p99 ms', 'errors', 'backend RSS peak', 'backend CPU', 'backend CPU/req', 'nginx CPU', 'CPU 0 busy'];
  const rows = summaries.map((s) => [
    s.title,
    thousands(s.rps.median),
    `(${thousands(s.rps.min)}–${thousands(s.rps.max)})`,
    s.ratio === undefined ? '—' : `${s.ratio.toFixed(2)}×${s.compareTo === 'floor' ? '' : ` ${s.compareTo}`}`,
    s.target === undefined || s.ratio === undefined ? '' : `≥${s.target.toFixed(2)} ${s.ratio >= s.target ? 'met' : 'MISSED'}`,
    ms(s.p50Ms),
    ms(s.p99Ms),
    String(s.errors),
    s.peakRssMb === undefined ? '—' : `${s.peakRssMb.toFixed(0)} MB`,
    s.backendCpuPercent === undefined ? '—' : `${s.backendCpuPercent.toFixed(0)}%`,
    // Its CPU over its throughput: what one request cost the process behind auth_request.
    s.backendCpuPercent === undefined || !(s.rps.median > 0) ? '—' : `${Math.round((s.backendCpuPercent / 100 / s.rps.median) * 1e6)} µs`,
    s.nginxCpuPercent === undefined ? '—' : `${s.nginxCpuPercent.toFixed(0)}%`,
    s.serverCpuBusyPercent === undefined ? '—' : `${s.serverCpuBusyPercent.toFixed(0)}%`,
  ]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] as string).length)));
  const numeric = new Set([1, 5, 6, 7, 8, 9, 10, 11, 12]);
  const line = (cells: readonly string[]): string =>
    `| ${cells.map((cell, column) => (numeric.has(column) ? cell.padStart(widths[column] as number) : cell.padEnd(widths[column] as number))).join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (numeric.has(column) ? `${'-'.repeat(width + 1)}:` : `${'-'.repeat(width + 2)}`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}

/** The issue's memory target for the service, in every case (1,000 middlewares and 100,000 sessions included). */
export const SERVICE_RSS_TARGET_MB = 150;

/** The service's peak RSS against its target, over the cases our service answered. */
export function formatRssTarget(summaries: readonly CaseSummary[], cases: readonly ReadyCase[]): string[] {
  const ours = summaries.filter((s) => s.peakRssMb !== undefined && cases.find((c) => c.definition.id === s.id)?.backend?.label.startsWith('service ') === true);
  if (ours.length === 0) return [];
  const over = ours.filter((s) => (s.peakRssMb as number) > SERVICE_RSS_TARGET_MB);
  const highest = ours.reduce((top, s) => ((s.peakRssMb as number) > (top.peakRssMb as number) ? s : top));
  return [
    over.length === 0
      ? `service RSS peak ≤ ${SERVICE_RSS_TARGET_MB} MB: met in every case (highest ${(highest.peakRssMb as number).toFixed(0)} MB, ${highest.title})`
      : `service RSS peak ≤ ${SERVICE_RSS_TARGET_MB} MB: MISSED in ${over.map((s) => `${s.title} (${(s.peakRssMb as number).toFixed(0)} MB)`).join(', ')}`,
  ];
}

/** Ours against each peer on the same core: our signed-in median req/s over the peer's. */
export function formatPeerTargets(summaries: readonly CaseSummary[]): string[] {
  const ours = summaries.find((s) => s.id === 'signed-in');
  return summaries.flatMap((peer) => {
    if (peer.peerTarget === undefined) return [];
    if (ours === undefined) return [`${peer.title}: target signed-in ≥ ${peer.peerTarget.toFixed(2)}× its req/s (the signed-in case did not run)`];
    const ratio = ours.rps.median / peer.rps.median;
    return [`signed-in ÷ ${peer.title}: ${ratio.toFixed(2)}× (${thousands(ours.rps.median)} ÷ ${thousands(peer.rps.median)} req/s), target ≥ ${peer.peerTarget.toFixed(2)}× ${ratio >= peer.peerTarget ? 'met' : 'MISSED'}`];
  });
}

/** Per-case details worth a look: unexpected statuses, socket errors, error lines. */
export function formatProblems(runs: readonly CaseRun[], cases: readonly ReadyCase[]): string[] {
  const lines: string[] = [];
  for (const run of runs) {
    const c = cases.find((candidate) => candidate.definition.id === run.caseId);
    // 499: requests in flight when wrk stopped at its deadline (nginx logs them as closed by the client).
    const unexpected = Object.entries(run.statuses).filter(([status]) => Number(status) !== c?.expectedStatus && status !== '499');
    const { connect, read, write, timeout, status } = run.wrk.errors;
    const parts: string[] = [];
    if (unexpected.length > 0) parts.push(`statuses ${unexpected.map(([code, count]) => `${code}×${count}`).join(', ')}`);
    if (c !== undefined && !c.statusesFromAccessLog && status > 0) parts.push(`wrk: ${status} answers ≥ 400`);
    if (connect + read + write > 0) parts.push(`sockets: connect ${connect}, read ${read}, write ${write}`);
    if (timeout > 0) parts.push(`timeouts ${timeout}`);
    if (run.nginxErrorLines > 0) parts.push(`nginx error.log: ${run.nginxErrorLines} lines`);
    if (run.serviceErrorLines > 0) parts.push(`service log: ${run.serviceErrorLines} error lines`);
    if (run.serverCpu !== undefined && run.serverCpu.stealPercent >= 5) parts.push(`the hypervisor took ${run.serverCpu.stealPercent.toFixed(0)}% of the servers' CPU (steal)`);
    if (parts.length > 0) lines.push(`  ${run.caseId} (repetition ${run.repetition}): ${parts.join('; ')}`);
  }
  return lines;
}

/**
 * One access line per decision: over the whole run (a line written after its case ended is
 * counted with the next one), each service must have written at least one line per request
 * nginx saw answered. `leftover`: lines no case counted, per service.
 */
export function formatLogCheck(runs: readonly CaseRun[], leftover: ReadonlyMap<string, number>): string[] {
  const totals = new Map<string, { lines: number; decisions: number }>();
  for (const run of runs) {
    if (run.service === undefined) continue;
    const total = totals.get(run.service) ?? { lines: leftover.get(run.service) ?? 0, decisions: 0 };
    totals.set(run.service, { lines: total.lines + (run.serviceLogLines ?? 0), decisions: total.decisions + (run.decisions ?? 0) });
  }
  return [...totals].map(
    ([service, { lines, decisions }]) =>
      `service ${service} log: ${lines.toLocaleString('en-US')} lines for ${decisions.toLocaleString('en-US')} decisions nginx saw answered` +
      (lines >= decisions ? ' (none lost)' : ` — ${(decisions - lines).toLocaleString('en-US')} LOST`),
  );
}
