/**
 * Where a V8 .cpuprofile (node --cpu-prof) spent its time: self time per function and per
 * package, as shares of the busy time (idle excluded).
 *
 * Run alone: `npx tsx test/bench/support/cpu-profile-summary.ts FILE.cpuprofile [TOP]`.
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface SelfTime {
  readonly name: string;
  readonly where: string;
  readonly group: string;
  readonly micros: number;
}

/** node_modules/<package>, node's own modules, V8 pseudo-frames, or our code. */
function groupOf(url: string, functionName: string): string {
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node core';
  const modules = /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (modules?.[1] !== undefined) return modules[1];
  if (/\/(dist|src)\//.test(url)) return 'oidc-forward-auth';
  return 'other';
}

function shortWhere(url: string, line: number): string {
  if (url === '') return '';
  const trimmed = url.replace(/^file:\/\//, '').replace(/^.*\/node_modules\//, '').replace(/^.*\/(dist|src)\//, '$1/');
  return `${trimmed}:${line + 1}`;
}

export function selfTimes(profile: CpuProfile): { readonly functions: SelfTime[]; readonly busyMicros: number; readonly idleMicros: number } {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parentOf = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parentOf.set(child, node.id);
  /** A native frame (a socket or file write) says little alone: name the JavaScript that called it. */
  const caller = (id: number): string => {
    for (let parent = parentOf.get(id); parent !== undefined; parent = parentOf.get(parent)) {
      const frame = byId.get(parent)?.callFrame;
      if (frame !== undefined && frame.url !== '') return `← ${frame.functionName || '(anonymous)'} ${shortWhere(frame.url, frame.lineNumber)}`;
    }
    return '';
  };
  const micros = new Map<number, number>();
  profile.samples.forEach((id, index) => micros.set(id, (micros.get(id) ?? 0) + (profile.timeDeltas[index] ?? 0)));
  const merged = new Map<string, SelfTime>();
  let idleMicros = 0;
  let busyMicros = 0;
  for (const [id, time] of micros) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    if (frame.functionName === '(idle)') {
      idleMicros += time;
      continue;
    }
    busyMicros += time;
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName;
    const where = frame.url === '' && !frame.functionName.startsWith('(') ? caller(id) : shortWhere(frame.url, frame.lineNumber);
    const key = `${name}\0${where}`;
    const previous = merged.get(key);
    merged.set(key, { name, where, group: groupOf(frame.url, frame.functionName), micros: (previous?.micros ?? 0) + time });
  }
  return { functions: [...merged.values()].sort((a, b) => b.micros - a.micros), busyMicros, idleMicros };
}

export function formatProfileSummary(path: string, top = 25): string {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as CpuProfile;
  const { functions, busyMicros, idleMicros } = selfTimes(profile);
  const share = (value: number): string => `${((value / busyMicros) * 100).toFixed(1).padStart(5)}%`;
  const groups = new Map<string, number>();
  for (const fn of functions) groups.set(fn.group, (groups.get(fn.group) ?? 0) + fn.micros);
  const lines = [
    `${path}: busy ${(busyMicros / 1e6).toFixed(1)} s, idle ${(idleMicros / 1e6).toFixed(1)} s; shares of busy time`,
    '  by package:',
    ...[...groups.entries()].sort((a, b) => b[1] - a[1]).slice(0, 12).map(([group, time]) => `    ${share(time)}  ${group}`),
    `  top ${top} functions by self time:`,
    ...functions.slice(0, top).map((fn) => `    ${share(fn.micros)}  ${fn.name}  ${fn.where}`),
  ];
  return lines.join('\n');
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const [file, top] = process.argv.slice(2);
  if (file === undefined) throw new Error('usage: cpu-profile-summary.ts FILE.cpuprofile [TOP]');
  console.log(formatProfileSummary(file, top === undefined ? 25 : Number(top)));
}
