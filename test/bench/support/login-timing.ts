/**
 * One complete login, timed outside the wrk runs: the page load through nginx (302 to the
 * provider), the provider's login form, the callback through nginx, and the page loaded with the
 * new session. Wall time per login, and the CPU time the process behind auth_request spent on it
 * (/proc ticks are 10 ms, so it is the tree's CPU over all the logins, divided by their number).
 * The provider runs in this process, off the servers' CPU; its share of the wall time is the same
 * for every site.
 */
import { request } from 'undici';
import { signInThroughProxy } from './browser-login.js';
import { readTree } from './proc-stats.js';
import { median } from './results-table.js';
import type { LoginTarget } from './set-up-suite.js';

export interface LoginTiming {
  readonly title: string;
  readonly logins: number;
  readonly wallMs: { readonly median: number; readonly min: number; readonly max: number };
  readonly backendCpuMsPerLogin: number;
}

async function loginOnce(target: LoginTarget): Promise<void> {
  const cookie = await signInThroughProxy(target.pageUrl, 'alice');
  const page = await request(target.pageUrl, { headers: { accept: 'text/html', cookie } });
  await page.body.dump();
  if (page.statusCode !== 200) throw new Error(`${target.title}: the page after the login answered ${page.statusCode}`);
}

/** `count` logins one after the other, after one unmeasured login (first-use costs, connection pools). */
export async function timeLogins(target: LoginTarget, count: number): Promise<LoginTiming> {
  await loginOnce(target);
  const wall: number[] = [];
  const cpuBefore = readTree(target.backendPid).cpuSeconds;
  for (let i = 0; i < count; i += 1) {
    const started = process.hrtime.bigint();
    await loginOnce(target);
    wall.push(Number(process.hrtime.bigint() - started) / 1e6);
  }
  const cpuSeconds = readTree(target.backendPid).cpuSeconds - cpuBefore;
  return {
    title: target.title,
    logins: count,
    wallMs: { median: median(wall), min: Math.min(...wall), max: Math.max(...wall) },
    backendCpuMsPerLogin: (cpuSeconds * 1000) / count,
  };
}

export function formatLoginTable(timings: readonly LoginTiming[]): string {
  const rows = timings.map((t) => [
    t.title,
    `${t.wallMs.median.toFixed(1)} (${t.wallMs.min.toFixed(1)}–${t.wallMs.max.toFixed(1)})`,
    t.backendCpuMsPerLogin.toFixed(1),
    String(t.logins),
  ]);
  const header = ['one complete login', 'wall ms median (min–max)', 'backend CPU ms per login', 'logins'];
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] as string).length)));
  const line = (cells: readonly string[]): string => `| ${cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] as number) : cell.padStart(widths[column] as number))).join(' | ')} |`;
  const rule = `|${widths.map((width, column) => (column === 0 ? '-'.repeat(width + 2) : `${'-'.repeat(width + 1)}:`)).join('|')}|`;
  return [line(header), rule, ...rows.map(line)].join('\n');
}
