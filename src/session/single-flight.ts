/**
 * One in-flight call per key, its result shared with every caller that races it. For refresh:
 * ten requests that hit an expired access token together must spend a rotating refresh token once.
 */
export interface SingleFlight<K, V> {
  run(key: K, fn: () => Promise<V>): Promise<V>;
  /**
   * Like run, and a success is remembered for ttlSeconds: a request that arrives just after,
   * still carrying the old cookie (and so the spent refresh token), gets the same result
   * instead of spending the token again. Failures are not remembered.
   */
  runOnce(key: K, ttlSeconds: number, now: number, fn: () => Promise<V>): Promise<V>;
  /** Forget a remembered result (e.g. the session was revoked). */
  forget(key: K): void;
}

export interface SingleFlightOptions {
  /** Results remembered by runOnce; past this the oldest are dropped. */
  readonly maxRecent?: number;
}

export function createSingleFlight<K, V>(options: SingleFlightOptions = {}): SingleFlight<K, V> {
  const maxRecent = options.maxRecent ?? 1000;
  const inFlight = new Map<K, Promise<V>>();
  const recent = new Map<K, { readonly value: V; readonly expiresAt: number }>();

  function run(key: K, fn: () => Promise<V>): Promise<V> {
    const pending = inFlight.get(key);
    if (pending !== undefined) return pending;
    // The executor runs fn now and turns a synchronous throw into a rejection.
    const promise = new Promise<V>((resolve) => resolve(fn()));
    inFlight.set(key, promise);
    // then(…, …) rather than finally: finally would re-reject on a side chain nobody handles.
    const forgetInFlight = (): void => {
      if (inFlight.get(key) === promise) inFlight.delete(key);
    };
    promise.then(forgetInFlight, forgetInFlight);
    return promise;
  }

  function remember(key: K, value: V, expiresAt: number, now: number): void {
    recent.delete(key);
    recent.set(key, { value, expiresAt });
    if (recent.size <= maxRecent) return;
    for (const [k, entry] of recent) {
      if (entry.expiresAt <= now) recent.delete(k);
    }
    for (const k of recent.keys()) {
      if (recent.size <= maxRecent) break;
      recent.delete(k);
    }
  }

  function runOnce(key: K, ttlSeconds: number, now: number, fn: () => Promise<V>): Promise<V> {
    const remembered = recent.get(key);
    if (remembered !== undefined) {
      if (now < remembered.expiresAt) return Promise.resolve(remembered.value);
      recent.delete(key);
    }
    // Remembered before the shared promise settles, so no caller can slip between the two.
    return run(key, async () => {
      const value = await fn();
      remember(key, value, now + ttlSeconds, now);
      return value;
    });
  }

  return Object.freeze({
    run,
    runOnce,
    forget: (key: K) => {
      recent.delete(key);
    },
  });
}
