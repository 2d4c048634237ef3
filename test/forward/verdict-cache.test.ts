import { describe, expect, it } from 'vitest';
import { createVerdictCache, type AllowAnswer, type VerdictCache } from '../../src/forward/verdict-cache.js';

const allow = (user: string, headerChars = 0): AllowAnswer => ({
  kind: 'allow',
  headers: { 'X-Forwarded-User': user, ...(headerChars > 0 ? { 'X-Groups': 'g'.repeat(headerChars) } : {}) },
  cookies: [],
  username: user,
});
const NOW = 1_700_000_000;

/** The first miss of a cookie is only noted (admission on second sight); the second is kept. */
function rememberSecondTime(cache: VerdictCache, cookie: string, answer: AllowAnswer, freshUntil: number, epoch: number): void {
  cache.remember(cookie, answer, freshUntil, epoch);
  cache.remember(cookie, answer, freshUntil, epoch);
}

describe('the verdict cache', () => {
  it('answers a remembered cookie value until its freshness ends', () => {
    const cache = createVerdictCache();
    const answer = allow('alice');
    rememberSecondTime(cache, 'cookie-a', answer, NOW + 10, 0);
    expect(cache.lookup('cookie-a', NOW + 9, 0)).toBe(answer);
    expect(cache.lookup('cookie-a', NOW + 10, 0)).toBeUndefined();
    expect(cache.bytes).toBe(0);
  });

  it('forgets everything when the store’s epoch moves (a revocation), and answers under the new one only what was remembered under it', () => {
    const cache = createVerdictCache();
    rememberSecondTime(cache, 'cookie-a', allow('alice'), NOW + 60, 0);
    rememberSecondTime(cache, 'cookie-b', allow('bob'), NOW + 60, 0);
    expect(cache.lookup('cookie-a', NOW, 1)).toBeUndefined();
    expect(cache.lookup('cookie-b', NOW, 1)).toBeUndefined();
    expect(cache.bytes).toBe(0);
    cache.remember('cookie-b', allow('bob'), NOW + 60, 1);
    expect(cache.lookup('cookie-b', NOW, 1)?.username).toBe('bob');
  });

  it('stays within its byte budget, letting the oldest entries go first', () => {
    const cache = createVerdictCache(10_000);
    for (let i = 0; i < 20; i += 1) rememberSecondTime(cache, `cookie-${i}`, allow(`user${i}`, 700), NOW + 60, 0);
    expect(cache.bytes).toBeLessThanOrEqual(10_000);
    expect(cache.lookup('cookie-0', NOW, 0)).toBeUndefined();
    expect(cache.lookup('cookie-19', NOW, 0)?.username).toBe('user19');
  });

  it('holds a digest of the cookie, not the cookie: a 4 KiB cookie costs what a short one does', () => {
    const cache = createVerdictCache();
    cache.remember('short', allow('alice'), NOW + 60, 0);
    const short = cache.bytes;
    cache.remember(`${'x'.repeat(4096)}-long`, allow('alice'), NOW + 60, 0);
    expect(cache.bytes - short).toBe(short);
    expect(cache.lookup(`${'x'.repeat(4096)}-long`, NOW, 0)?.username).toBe('alice');
  });

  it('does not keep an answer larger than the whole budget, and replaces an entry remembered again', () => {
    const cache = createVerdictCache(500);
    rememberSecondTime(cache, 'big', allow('alice', 600), NOW + 60, 0);
    expect(cache.bytes).toBe(0);
    rememberSecondTime(cache, 'short', allow('alice'), NOW + 60, 0);
    const once = cache.bytes;
    expect(once).toBeGreaterThan(0);
    cache.remember('short', allow('alice'), NOW + 60, 0);
    expect(cache.bytes).toBe(once);
  });

  it('when full, lets a newcomer in only on its second miss, so a crowd of sessions seen once each does not churn it', () => {
    const cache = createVerdictCache(10_000);
    for (let i = 0; cache.bytes + 1100 <= 10_000; i += 1) cache.remember(`cookie-${i}`, allow(`user${i}`, 700), NOW + 60, 0);
    cache.remember('newcomer', allow('newcomer', 700), NOW + 60, 0);
    expect(cache.lookup('newcomer', NOW, 0)).toBeUndefined();
    expect(cache.lookup('cookie-0', NOW, 0)?.username).toBe('user0');
    cache.remember('newcomer', allow('newcomer', 700), NOW + 60, 0);
    expect(cache.lookup('newcomer', NOW, 0)?.username).toBe('newcomer');
    expect(cache.bytes).toBeLessThanOrEqual(10_000);
  });

  it('keeps what it holds while more distinct sessions than it holds come round once each', () => {
    // ~100 typical entries fit; the admission window spans about that many misses.
    const cache = createVerdictCache(30_000);
    const cookies = Array.from({ length: 1000 }, (_, i) => `session-${i}-${'t'.repeat(40)}${i}`);
    for (let round = 0; round < 3; round += 1) {
      for (const cookie of cookies) {
        if (cache.lookup(cookie, NOW, 0) === undefined) cache.remember(cookie, allow('u'), NOW + 60, 0);
      }
    }
    // The first sessions filled it; two more rounds over 1,000 let only Bloom false positives in.
    const kept = cookies.slice(0, 80).filter((cookie) => cache.lookup(cookie, NOW, 0) !== undefined).length;
    expect(kept).toBeGreaterThan(60);
  });

  it('never answers for another cookie that shares the last characters of a kept one', () => {
    const cache = createVerdictCache();
    const tail = 'T'.repeat(40);
    rememberSecondTime(cache, `alice-${tail}`, allow('alice'), NOW + 60, 0);
    expect(cache.lookup(`mallory-${tail}`, NOW, 0)).toBeUndefined();
    expect(cache.lookup(`alice-${tail}`, NOW, 0)?.username).toBe('alice');
  });
});
