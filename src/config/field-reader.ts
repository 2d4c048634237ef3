import { findClosestKey } from './closest-key.js';

/**
 * Small typed readers over untrusted parsed YAML/JSON. Each reports what is wrong with the path
 * of the offending option and returns `undefined`, so one pass collects every problem.
 */
export interface ProblemSink {
  readonly error: (path: string, message: string) => void;
  readonly warn: (path: string, message: string) => void;
}

export function createProblemSink(): ProblemSink & { readonly problems: string[]; readonly warnings: string[] } {
  const problems: string[] = [];
  const warnings: string[] = [];
  return {
    problems,
    warnings,
    error: (path, message) => problems.push(path === '' ? message : `${path}: ${message}`),
    warn: (path, message) => warnings.push(path === '' ? message : `${path}: ${message}`),
  };
}

export type RawObject = Readonly<Record<string, unknown>>;

export function describeType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  return `a ${typeof value}`;
}

export function isRawObject(value: unknown): value is RawObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function joinPath(parent: string, key: string): string {
  return parent === '' ? key : `${parent}.${key}`;
}

/** Reports keys outside `known`, suggesting the closest one. */
export function checkKnownKeys(object: RawObject, path: string, known: readonly string[], sink: ProblemSink): void {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) continue;
    const closest = findClosestKey(key, known);
    sink.error(joinPath(path, key), closest === undefined ? 'unknown option' : `unknown option (did you mean "${closest}"?)`);
  }
}

const UNKNOWN_WITH_SUGGESTION = /^(.*?)[^.]+: unknown option \(did you mean "([^"]+)"\?\)$/;

/**
 * A mistyped required option would be reported twice: unknown under its typo, and missing under
 * its name. The "did you mean" line already says both, so the "is required" line is dropped.
 */
export function withoutRequiredOfSuggested(problems: readonly string[]): string[] {
  const suggested = new Set<string>();
  for (const problem of problems) {
    const match = UNKNOWN_WITH_SUGGESTION.exec(problem);
    if (match !== null) suggested.add(`${match[1] ?? ''}${match[2] ?? ''}: is required`);
  }
  if (suggested.size === 0) return [...problems];
  return problems.filter((problem) => ![...suggested].some((prefix) => problem.startsWith(prefix)));
}

/** A nested mapping of options; `null` (a bare `key:` in YAML) counts as absent. */
export function readObject(
  parent: RawObject,
  key: string,
  path: string,
  known: readonly string[],
  sink: ProblemSink,
): RawObject | undefined {
  const value = parent[key];
  const here = joinPath(path, key);
  if (value === undefined || value === null) return undefined;
  if (!isRawObject(value)) {
    sink.error(here, `must be a mapping (got ${describeType(value)})`);
    return undefined;
  }
  checkKnownKeys(value, here, known, sink);
  return value;
}

export function readString(parent: RawObject, key: string, path: string, sink: ProblemSink): string | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') {
    const hint = typeof value === 'number' || typeof value === 'boolean' ? '; quote it' : '';
    sink.error(joinPath(path, key), `must be a string (got ${describeType(value)}${hint})`);
    return undefined;
  }
  return value;
}

/** Like readString, but the spec's default "" means "not set". */
export function readOptionalString(parent: RawObject, key: string, path: string, sink: ProblemSink): string | undefined {
  const value = readString(parent, key, path, sink);
  return value === '' ? undefined : value;
}

export function readBoolean(parent: RawObject, key: string, path: string, sink: ProblemSink): boolean | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') {
    sink.error(joinPath(path, key), `must be true or false (got ${describeType(value)})`);
    return undefined;
  }
  return value;
}

export interface NumberRule {
  readonly integer?: boolean;
  /** Inclusive lower bound. */
  readonly min?: number;
  /** Exclusive lower bound. */
  readonly above?: number;
}

export function readNumber(
  parent: RawObject,
  key: string,
  path: string,
  rule: NumberRule,
  sink: ProblemSink,
): number | undefined {
  const value = parent[key];
  const here = joinPath(path, key);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    sink.error(here, `must be a number (got ${describeType(value)})`);
    return undefined;
  }
  if (rule.integer === true && !Number.isInteger(value)) {
    sink.error(here, `must be a whole number (got ${value})`);
    return undefined;
  }
  if (rule.min !== undefined && value < rule.min) {
    sink.error(here, `must be ${rule.min} or more (got ${value})`);
    return undefined;
  }
  if (rule.above !== undefined && value <= rule.above) {
    sink.error(here, `must be greater than ${rule.above} (got ${value})`);
    return undefined;
  }
  return value;
}

export function readStringList(parent: RawObject, key: string, path: string, sink: ProblemSink): string[] | undefined {
  const value = parent[key];
  const here = joinPath(path, key);
  if (value === undefined || value === null) return undefined;
  if (!Array.isArray(value)) {
    sink.error(here, `must be a list of strings (got ${describeType(value)})`);
    return undefined;
  }
  const items: string[] = [];
  let valid = true;
  value.forEach((item: unknown, index) => {
    if (typeof item === 'string') items.push(item);
    else {
      valid = false;
      sink.error(`${here}[${index}]`, `must be a string (got ${describeType(item)})`);
    }
  });
  return valid ? items : undefined;
}

/**
 * A mapping of query parameters or headers. Numbers and booleans become strings because that is
 * all a query parameter can be, and YAML turns `max_age: 3600` into a number behind the user's back.
 */
export function readStringMap(
  parent: RawObject,
  key: string,
  path: string,
  sink: ProblemSink,
): Record<string, string> | undefined {
  const value = parent[key];
  const here = joinPath(path, key);
  if (value === undefined || value === null) return undefined;
  if (!isRawObject(value)) {
    sink.error(here, `must be a mapping of names to strings (got ${describeType(value)})`);
    return undefined;
  }
  const entries: [string, string][] = [];
  let valid = true;
  for (const [name, item] of Object.entries(value)) {
    if (typeof item === 'string') entries.push([name, item]);
    else if (typeof item === 'number' || typeof item === 'boolean') entries.push([name, String(item)]);
    else {
      valid = false;
      sink.error(joinPath(here, name), `must be a string (got ${describeType(item)})`);
    }
  }
  // fromEntries defines own properties, so even a key named "__proto__" stays a plain entry.
  return valid ? Object.fromEntries(entries) : undefined;
}
