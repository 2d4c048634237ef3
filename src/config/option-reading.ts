import { joinPath, readOptionalString, type ProblemSink, type RawObject } from './field-reader.js';
import type { PendingSecret } from './secret-references.js';

/** Config objects are filled in field by field while reading (secrets arrive later); frozen after. */
export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Shared by the readers of one middleware's options: where problems go and secrets wait. */
export interface Reading {
  readonly sink: ProblemSink;
  readonly pending: PendingSecret[];
  readonly namespace: string | undefined;
}

/** Queues a secret-bearing option for resolution; returns whether it was given at all. */
export function queueSecret(
  object: RawObject,
  key: string,
  path: string,
  reading: Reading,
  assign: (value: string) => void,
): boolean {
  const raw = readOptionalString(object, key, path, reading.sink);
  if (raw === undefined) return object[key] !== undefined && object[key] !== null && object[key] !== '';
  reading.pending.push({ path: joinPath(path, key), raw, namespace: reading.namespace, assign });
  return true;
}

/** A client certificate and its key come together or not at all. */
export function checkPair(hasCert: boolean, hasKey: boolean, tlsPath: string, sink: ProblemSink): void {
  if (hasCert && !hasKey) sink.error(joinPath(tlsPath, 'key'), 'is required when cert is set');
  if (hasKey && !hasCert) sink.error(joinPath(tlsPath, 'cert'), 'is required when key is set');
}
