/**
 * The Lua scripts of session/redis/keys.ts, run as they are against a real Redis: what each leaves behind
 * when the value it expects is no longer there, which is what the stores' tests, running one step
 * after another, never show.
 */
import { createHash, randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADD_TO_INDEX, COMPARE_AND_SET, RAISE_CUTOFF, RELEASE_LOCK } from '../../../src/session/redis/keys.js';
import { startRedisServer, type RedisServer } from '../../support/redis.js';

let server: RedisServer;
let redis: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  redis = new Redis({ ...server.endpoint, lazyConnect: true });
  await redis.connect();
});
afterAll(async () => {
  redis?.disconnect();
  await server?.destroy();
});

const key = (what: string): string => `test:${what}:${randomBytes(6).toString('hex')}`;
const sha1 = (value: string): string => createHash('sha1').update(value).digest('hex');

describe('COMPARE_AND_SET', () => {
  it('refuses a write made against a value that has changed since it was read, and leaves the newer value', async () => {
    const session = key('session');
    await redis.set(session, 'read-by-the-writer');
    await redis.set(session, 'written-since');
    expect(await redis.eval(COMPARE_AND_SET, 1, session, sha1('read-by-the-writer'), 'stale-write', '600')).toBe(0);
    expect(await redis.get(session)).toBe('written-since');
  });

  it('writes against the value it read, with the expiry given', async () => {
    const session = key('session');
    await redis.set(session, 'current');
    expect(await redis.eval(COMPARE_AND_SET, 1, session, sha1('current'), 'next', '600')).toBe(1);
    expect(await redis.get(session)).toBe('next');
    expect(await redis.ttl(session)).toBeGreaterThan(590);
  });

  it('never brings back a key that is gone, even unconditionally', async () => {
    const session = key('session');
    expect(await redis.eval(COMPARE_AND_SET, 1, session, sha1('revoked'), 'resurrected', '600')).toBe(0);
    expect(await redis.eval(COMPARE_AND_SET, 1, session, '', 'resurrected', '600')).toBe(0);
    expect(await redis.exists(session)).toBe(0);
  });
});

describe('COMPARE_AND_SET under the refresh lock', () => {
  it('refuses with -1, and changes nothing, once the lock holds another replica’s token', async () => {
    const session = key('session');
    const lock = `${session}:lock`;
    await redis.set(session, 'current');
    await redis.set(lock, 'token-of-replica-b', 'PX', 60_000);
    expect(await redis.eval(COMPARE_AND_SET, 2, session, lock, sha1('current'), 'late-refresh', '600', 'token-of-replica-a')).toBe(-1);
    expect(await redis.eval(COMPARE_AND_SET, 2, session, lock, '', 'late-refresh', '600', 'token-of-replica-a')).toBe(-1);
    expect(await redis.get(session)).toBe('current');
    expect(await redis.eval(COMPARE_AND_SET, 2, session, lock, sha1('current'), 'refreshed', '600', 'token-of-replica-b')).toBe(1);
    expect(await redis.get(session)).toBe('refreshed');
  });
});

describe('RAISE_CUTOFF', () => {
  it('keeps the later of two cutoffs, to the millisecond', async () => {
    const marker = key('cutoff');
    expect(await redis.eval(RAISE_CUTOFF, 1, marker, '1700000005.25', '900')).toBe(1);
    expect(await redis.eval(RAISE_CUTOFF, 1, marker, '1700000005.125', '900')).toBe(0);
    expect(await redis.get(marker)).toBe('1700000005.25');
    expect(await redis.eval(RAISE_CUTOFF, 1, marker, '1700000005.5', '900')).toBe(1);
    expect(await redis.get(marker)).toBe('1700000005.5');
    expect(await redis.ttl(marker)).toBeGreaterThan(890);
  });
});

describe('RELEASE_LOCK', () => {
  it('leaves a lock that holds another token (taken by another replica after ours expired)', async () => {
    const lock = key('lock');
    await redis.set(lock, 'token-of-replica-b', 'PX', 60_000);
    expect(await redis.eval(RELEASE_LOCK, 1, lock, 'token-of-replica-a')).toBe(0);
    expect(await redis.get(lock)).toBe('token-of-replica-b');
  });

  it('deletes the lock that holds our token', async () => {
    const lock = key('lock');
    await redis.set(lock, 'token-of-replica-a', 'PX', 60_000);
    expect(await redis.eval(RELEASE_LOCK, 1, lock, 'token-of-replica-a')).toBe(1);
    expect(await redis.exists(lock)).toBe(0);
  });
});

describe('ADD_TO_INDEX', () => {
  it('adds the id with its score and lengthens the index, never shortens it', async () => {
    const index = key('index');
    await redis.eval(ADD_TO_INDEX, 1, index, 'id-a', '1700000000.5', '1000');
    await redis.eval(ADD_TO_INDEX, 1, index, 'id-b', '1700000001', '100');
    expect(await redis.zrange(index, '0', '-1', 'WITHSCORES')).toEqual(['id-a', '1700000000.5', 'id-b', '1700000001']);
    expect(await redis.ttl(index)).toBeGreaterThan(990);
  });
});
