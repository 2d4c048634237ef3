/**
 * Reads the Prometheus text exposition format (version 0.0.4) as a scrape returns it, so tests
 * assert on values rather than on lines.
 */
import { request } from 'undici';

export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /\s*([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?/y;

function unescapeLabelValue(raw: string): string {
  return raw.replace(/\\(.)/g, (_match, character: string) => (character === 'n' ? '\n' : character));
}

function parseLabels(raw: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < raw.length) {
    const at = LABEL.lastIndex;
    const match = LABEL.exec(raw);
    if (match === null || match.index !== at) throw new Error(`unreadable labels in: ${line}`);
    labels[match[1] as string] = unescapeLabelValue(match[2] as string);
  }
  return labels;
}

export function parsePrometheusText(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (match === null) throw new Error(`not a sample line: ${line}`);
    const value = match[3] === '+Inf' ? Infinity : match[3] === '-Inf' ? -Infinity : Number(match[3]);
    samples.push({ name: match[1] as string, labels: parseLabels(match[2] ?? '', line), value });
  }
  return samples;
}

/** The value of the one sample named `name` whose labels are exactly `labels`; 0 when there is none (a counter not yet incremented). */
export function valueOf(samples: readonly Sample[], name: string, labels: Readonly<Record<string, string>> = {}): number {
  const wanted = Object.entries(labels);
  const found = samples.filter(
    (sample) =>
      sample.name === name &&
      Object.keys(sample.labels).length === wanted.length &&
      wanted.every(([key, value]) => sample.labels[key] === value),
  );
  if (found.length > 1) throw new Error(`several samples of ${name} match ${JSON.stringify(labels)}`);
  return found[0]?.value ?? 0;
}

export interface Scrape {
  readonly status: number;
  readonly contentType: string | undefined;
  readonly text: string;
  readonly samples: Sample[];
}

export async function scrape(url: string): Promise<Scrape> {
  const response = await request(url);
  const text = await response.body.text();
  const contentType = response.headers['content-type'];
  return {
    status: response.statusCode,
    contentType: typeof contentType === 'string' ? contentType : undefined,
    text,
    samples: response.statusCode === 200 ? parsePrometheusText(text) : [],
  };
}
