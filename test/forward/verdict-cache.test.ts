import { describe, expect, it } from 'vitest';
import { createVerdictCache, type AllowAnswer } from '../../src/forward/verdict-cache.js';

const allow = (user: string): AllowAnswer => ({ kind: 'allow', headers: { 'X-Forwarded-User': user }, cookies: [], username: user });
const NOW = 1_700_000_000;

describe('the verdict cache', () => {
  it('answers a remembered cookie value until its freshness ends', () => {
    const cache = createVerdictCache();
    const answer = allow('alice');
    cache.remember('cookie-a', answer, NOW + 10, 0);
    expect(cache.lookup('cookie-a', NOW + 9, 0)).toBe(answer);
    expect(cache.lookup('cookie-a', NOW + 10, 0)).toBeUndefined();
    expect(cache.bytes).toBe(0);
  });

  it('forgets everything when the store’s epoch moves (a revocation), and answers under the new one only what was remembered under it', () => {
    const cache = createVerdictCache();
    cache.remember('cookie-a', allow('alice'), NOW + 60, 0);
    cache.remember('cookie-b', allow('bob'), NOW + 60, 0);
    expect(cache.lookup('cookie-a', NOW, 1)).toBeUndefined();
    expect(cache.lookup('cookie-b', NOW, 1)).toBeUndefined();
    expect(cache.bytes).toBe(0);
    cache.remember('cookie-b', allow('bob'), NOW + 60, 1);
    expect(cache.lookup('cookie-b', NOW, 1)?.username).toBe('bob');
  });

  it('stays within its byte budget, letting the oldest entries go first', () => {
    const cookie = (i: number): string => `${'v'.repeat(1000)}-${i}`;
    const cache = createVerdictCache(10_000);
    for (let i = 0; i < 20; i += 1) cache.remember(cookie(i), allow(`user${i}`), NOW + 60, 0);
    expect(cache.bytes).toBeLessThanOrEqual(10_000);
    expect(cache.lookup(cookie(0), NOW, 0)).toBeUndefined();
    expect(cache.lookup(cookie(19), NOW, 0)?.username).toBe('user19');
  });

  it('does not keep an answer larger than the whole budget, and replaces an entry remembered again', () => {
    const cache = createVerdictCache(500);
    cache.remember('x'.repeat(600), allow('alice'), NOW + 60, 0);
    expect(cache.bytes).toBe(0);
    cache.remember('short', allow('alice'), NOW + 60, 0);
    const once = cache.bytes;
    cache.remember('short', allow('alice'), NOW + 60, 0);
    expect(cache.bytes).toBe(once);
  });
});
