import { describe, expect, it } from 'vitest';
import { createSingleFlight } from '../../src/session/single-flight.js';

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('createSingleFlight', () => {
  it('runs the function once for ten concurrent callers and gives each the same result', async () => {
    const flight = createSingleFlight<string, string>();
    const gate = deferred<string>();
    let calls = 0;
    const fn = () => {
      calls++;
      return gate.promise;
    };
    const results = Array.from({ length: 10 }, () => flight.run('session-1', fn));
    gate.resolve('new-tokens');
    expect(await Promise.all(results)).toEqual(Array(10).fill('new-tokens'));
    expect(calls).toBe(1);
  });

  it('shares a failure with every caller and lets the next call try again', async () => {
    const flight = createSingleFlight<string, string>();
    let calls = 0;
    const failing = async () => {
      calls++;
      throw new Error('refused');
    };
    const results = await Promise.allSettled([flight.run('k', failing), flight.run('k', failing)]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    expect(calls).toBe(1);
    expect(await flight.run('k', async () => 'ok')).toBe('ok');
  });

  it('turns a synchronous throw into a rejection', async () => {
    const flight = createSingleFlight<string, string>();
    await expect(
      flight.run('k', () => {
        throw new Error('sync');
      }),
    ).rejects.toThrow('sync');
  });

  it('keeps keys apart', async () => {
    const flight = createSingleFlight<string, string>();
    const [a, b] = await Promise.all([flight.run('a', async () => 'A'), flight.run('b', async () => 'B')]);
    expect([a, b]).toEqual(['A', 'B']);
  });

  it('runs again once the previous call has finished', async () => {
    const flight = createSingleFlight<string, number>();
    let calls = 0;
    await flight.run('k', async () => ++calls);
    expect(await flight.run('k', async () => ++calls)).toBe(2);
  });

  describe('runOnce', () => {
    const now = 1_700_000_000;

    it('gives a caller that arrives just after (with the old cookie) the remembered result', async () => {
      const flight = createSingleFlight<string, string>();
      let calls = 0;
      const refresh = async () => `tokens-${++calls}`;
      const concurrent = await Promise.all(Array.from({ length: 10 }, () => flight.runOnce('s', 30, now, refresh)));
      expect(new Set(concurrent)).toEqual(new Set(['tokens-1']));
      expect(await flight.runOnce('s', 30, now + 29, refresh)).toBe('tokens-1');
      expect(calls).toBe(1);
    });

    it('runs again once the remembered result is older than the TTL', async () => {
      const flight = createSingleFlight<string, string>();
      let calls = 0;
      const refresh = async () => `tokens-${++calls}`;
      await flight.runOnce('s', 30, now, refresh);
      expect(await flight.runOnce('s', 30, now + 30, refresh)).toBe('tokens-2');
    });

    it('does not remember failures', async () => {
      const flight = createSingleFlight<string, string>();
      await expect(flight.runOnce('s', 30, now, async () => Promise.reject(new Error('no')))).rejects.toThrow('no');
      expect(await flight.runOnce('s', 30, now, async () => 'ok')).toBe('ok');
    });

    it('forgets a remembered result on request', async () => {
      const flight = createSingleFlight<string, string>();
      await flight.runOnce('s', 30, now, async () => 'first');
      flight.forget('s');
      expect(await flight.runOnce('s', 30, now, async () => 'second')).toBe('second');
    });

    it('keeps a bounded number of remembered results', async () => {
      const flight = createSingleFlight<string, string>({ maxRecent: 2 });
      for (const key of ['a', 'b', 'c']) await flight.runOnce(key, 30, now, async () => `${key}-1`);
      expect(await flight.runOnce('a', 30, now, async () => 'a-2')).toBe('a-2');
      expect(await flight.runOnce('c', 30, now, async () => 'c-2')).toBe('c-1');
    });
  });
});
