/** The soak: is the service's memory flat under steady signed-in load? */
import { logSize, readFrom } from './log-files.js';
import { readTree, sampleUsage } from './proc-stats.js';
import { countMatches, countStatuses, type RunSettings } from './run-case.js';
import type { ReadySuite } from './set-up-suite.js';
import { runWrk } from './wrk.js';

/**
 * The signed-in case alone for `seconds`, printing every 10 s the req/s nginx logged and the
 * service's RSS and CPU; at the end RSS growth from the first sample, its peak, and the statuses.
 */
export async function soak(ready: ReadySuite, settings: RunSettings, seconds: number, say: (line: string) => void): Promise<void> {
  const c = ready.cases.find((candidate) => candidate.definition.id === 'signed-in');
  if (c === undefined || c.backend === undefined) throw new Error('the soak needs the signed-in case');
  const backend = c.backend;
  const rssMb = (): number => readTree(backend.pid).rssBytes / 2 ** 20;
  say(`soak: signed-in for ${seconds} s; service RSS before load ${rssMb().toFixed(1)} MB`);
  const usage = sampleUsage(backend.pid);
  let offset = logSize(c.nginx.accessLog);
  let lastCpu = readTree(backend.pid).cpuSeconds;
  let lastTick = Date.now();
  const started = Date.now();
  const samples: { second: number; rss: number }[] = [];
  const statuses: Record<string, number> = {};
  const readAccessLog = (): string => {
    const text = readFrom(c.nginx.accessLog, offset);
    offset += Buffer.byteLength(text);
    for (const [status, count] of Object.entries(countStatuses(text))) statuses[status] = (statuses[status] ?? 0) + count;
    return text;
  };
  const ticker = setInterval(() => {
    const now = Date.now();
    const text = readAccessLog();
    const cpu = readTree(backend.pid).cpuSeconds;
    const rss = rssMb();
    const second = Math.round((now - started) / 1000);
    samples.push({ second, rss });
    say(
      `  t=${String(second).padStart(4)} s  ${Math.round(countMatches(text, /\n/g) / ((now - lastTick) / 1000)).toLocaleString('en-US').padStart(7)} req/s` +
        `  service RSS ${rss.toFixed(1)} MB  CPU ${(((cpu - lastCpu) / ((now - lastTick) / 1000)) * 100).toFixed(0)}%`,
    );
    lastCpu = cpu;
    lastTick = now;
    backend.service?.takeLogCounts();
  }, 10_000);
  try {
    const wrk = await runWrk({ url: c.url, script: c.script, scriptArgs: c.scriptArgs, connections: settings.connections, durationSeconds: seconds, cpus: settings.clientCpus });
    const total = usage.stop();
    readAccessLog();
    const first = samples[0];
    const end = total.endRssBytes / 2 ** 20;
    say(`soak done: ${Math.round(wrk.requestsPerSecond).toLocaleString('en-US')} req/s, p50 ${wrk.latencyMs.p50.toFixed(2)} ms, p99 ${wrk.latencyMs.p99.toFixed(2)} ms, socket errors/timeouts ${wrk.errors.connect + wrk.errors.read + wrk.errors.write + wrk.errors.timeout}`);
    say(`statuses nginx logged: ${Object.entries(statuses).map(([status, count]) => `${status}×${count}`).join(', ')} (expected ${c.expectedStatus}; 499 = in flight at the end)`);
    if (first !== undefined) {
      say(
        `service RSS: ${first.rss.toFixed(1)} MB at t=${first.second} s, ${end.toFixed(1)} MB at the end ` +
          `(${(((end - first.rss) / first.rss) * 100).toFixed(1)}% growth; target ≤ 10%), peak ${(total.peakRssBytes / 2 ** 20).toFixed(1)} MB (target ≤ 150)`,
      );
    }
  } finally {
    clearInterval(ticker);
  }
}
