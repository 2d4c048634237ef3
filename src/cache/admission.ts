/**
 * Admission on second sight (a "doorkeeper"): a key is let into a cache only when it was offered
 * once already within the last `window` offers. A cache that holds N entries gains nothing from a
 * key that does not come back within about N misses: under LRU it would be evicted unused, after
 * having survived long enough to be promoted to the old generation and cost a major collection.
 * With more distinct keys than the cache holds (a scan, a crowd of one-request sessions), nothing
 * churns; a working set that fits is admitted on its second round.
 *
 * Two generations of a small Bloom filter: a key counts as seen while it is in the current or the
 * previous one, so "within the window" means within the last `window` to `2 × window` offers.
 * False positives only admit a key early; keys are hashed from caller-chosen characters, so an
 * attacker can at most make their own cookies admitted sooner, never make anyone's answer wrong.
 */
export interface AdmissionFilter {
  /** True when `key` was offered before within the window; records the offer either way. */
  offer(key: string): boolean;
}

/**
 * Bits per key at a full generation, with three probes: ~0.5% false positives a generation. Each
 * false positive lets a stranger push an entry out, so this rate is the churn left under a scan.
 */
const BITS_PER_KEY = 16;

export function createAdmissionFilter(window: number): AdmissionFilter {
  if (!Number.isInteger(window) || window < 1) throw new TypeError('admission window must be a positive integer');
  const words = Math.max(32, Math.ceil((window * BITS_PER_KEY) / 32));
  const bits = words * 32;
  // Allocated on the first offer: caches consult the filter only once full, and a service with a
  // thousand middlewares should not carry a thousand filters for caches that never fill.
  let current: Uint32Array | undefined;
  let previous: Uint32Array | undefined;
  let offered = 0;

  const has = (filter: Uint32Array, at: number): boolean => ((filter[at >>> 5] ?? 0) & (1 << (at & 31))) !== 0;
  const set = (filter: Uint32Array, at: number): void => {
    filter[at >>> 5] = (filter[at >>> 5] ?? 0) | (1 << (at & 31));
  };

  return {
    offer(key) {
      current ??= new Uint32Array(words);
      previous ??= new Uint32Array(words);
      const hash = fnv1a(key);
      const first = mix(hash) % bits;
      const second = mix(hash ^ 0x9e3779b9) % bits;
      const third = mix(hash ^ 0x7f4a7c15) % bits;
      const seen =
        (has(current, first) && has(current, second) && has(current, third)) ||
        (has(previous, first) && has(previous, second) && has(previous, third));
      set(current, first);
      set(current, second);
      set(current, third);
      offered += 1;
      if (offered >= window) {
        previous = current;
        current = new Uint32Array(words);
        offered = 0;
      }
      return seen;
    },
  };
}

/** FNV-1a over the key's characters. */
function fnv1a(key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i += 1) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** murmur3's finaliser: spreads FNV's weak low bits, and gives a second probe from a changed input. */
function mix(value: number): number {
  let hash = value;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return hash >>> 0;
}
