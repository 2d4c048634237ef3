import { setFlagsFromString } from 'node:v8';

/**
 * How far past the heap that survived the last full collection V8 may let the old generation
 * grow before collecting again. V8's own factor goes up to 4× under a high allocation rate, and
 * a forward-auth service allocates fast: with a ~50 MB live heap (full caches) the old
 * generation reached ~200 MB between collections, 240 MB of RSS. At 30% it stays near 65 MB;
 * the price is a full collection (mostly concurrent) every few seconds under a miss storm.
 */
export const HEAP_GROWING_PERCENT = 30;

const OPERATOR_FLAG = /^--heap[-_]growing[-_]percent(=|$)/;

/** The V8 flag to set, or undefined where the operator chose one on node's command line. */
export function heapGrowthFlag(execArgv: readonly string[]): string | undefined {
  if (execArgv.some((argument) => OPERATOR_FLAG.test(argument))) return undefined;
  return `--heap-growing-percent=${HEAP_GROWING_PERCENT}`;
}

/** Bounds heap growth for this process (V8 reads the flag at every full collection). */
export function boundHeapGrowth(execArgv: readonly string[] = process.execArgv): void {
  const flag = heapGrowthFlag(execArgv);
  if (flag !== undefined) setFlagsFromString(flag);
}
