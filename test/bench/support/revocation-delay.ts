/**
 * The revocation delay: how long after a logout answered on one service instance another instance
 * (the same middleware, the same Redis) still lets the session in. Each round signs in for real,
 * warms the session on the replica (its first answer reads Redis, the next ones come from its
 * verdict cache), logs out through the first instance's logout URL, then asks the replica, one
 * request after the other, until it refuses. Outside the wrk runs, one round at a time.
 */
import { request } from 'undici';
import { PAGE_LOAD_HEADERS, signInThroughProxy } from './browser-login.js';

export interface RevocationSites {
  /** The site (nginx with the recipe) where the user signs in and out. */
  readonly site: string;
  /** The same middleware through another service instance on the same Redis. */
  readonly replicaSite: string;
  /** That instance itself, for its /metrics. */
  readonly replicaOrigin: string;
}

export interface RevocationDelay {
  readonly rounds: number;
  /** Per round that was refused: from the logout's answer to the replica's first refusal. */
  readonly delaysMs: readonly number[];
  /** Rounds whose replica still let the session in ROUND_LIMIT_MS after the logout. */
  readonly neverRefused: number;
  /** Answers 200 the replica gave after the logout had answered, over all rounds. */
  readonly staleAnswers: number;
  /** Redis GETs of the replica during the warm requests after the first: 0 when its cache answered them. */
  readonly warmRedisReads: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

/** Requests to the replica before the logout: the first reads Redis, the rest its cache. */
const WARM_REQUESTS = 5;
/** How long one round asks the replica before it gives up (the goal is 50 ms). */
export const ROUND_LIMIT_MS = 2_000;
/** The goal on the benchmark's machine. */
export const REVOCATION_GOAL_P99_MS = 50;

const API_HEADERS = { Accept: 'application/json', 'User-Agent': 'Mozilla/5.0 (oidc-forward-auth benchmark)' };
const APP_PATH = '/app/dashboard?tab=1';

const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;

async function statusOf(url: string, headers: Readonly<Record<string, string>>): Promise<number> {
  const answer = await request(url, { headers: { ...headers } });
  await answer.body.dump();
  return answer.statusCode;
}

/** Nearest rank: the smallest value with at least `share` of the values at or below it. */
export function percentile(values: readonly number[], share: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length, Math.max(1, Math.ceil(share * sorted.length))) - 1] as number;
}

/** The replica's Redis GETs so far, from its Prometheus metrics. */
async function redisReads(origin: string): Promise<number> {
  const answer = await request(`${origin}/metrics`);
  const text = await answer.body.text();
  if (answer.statusCode !== 200) throw new Error(`revocation delay: the replica's /metrics answered ${answer.statusCode}`);
  const count = /^ofa_redis_command_duration_seconds_count\{command="get"\} (\d+)/m.exec(text)?.[1];
  return count === undefined ? 0 : Number(count);
}

interface Round {
  readonly delayMs: number | undefined;
  readonly stale: number;
  readonly warmRedisReads: number;
}

async function oneRound(sites: RevocationSites): Promise<Round> {
  const cookie = await signInThroughProxy(`${sites.site}/app/`, 'alice');
  const replicaUrl = `${sites.replicaSite}${APP_PATH}`;
  const asUser = { ...API_HEADERS, Cookie: cookie };
  let readsAfterFirst = 0;
  for (let i = 0; i < WARM_REQUESTS; i += 1) {
    const status = await statusOf(replicaUrl, asUser);
    if (status !== 200) throw new Error(`revocation delay: the replica answered ${status} to a signed-in request before the logout`);
    if (i === 0) readsAfterFirst = await redisReads(sites.replicaOrigin);
  }
  const warmRedisReads = (await redisReads(sites.replicaOrigin)) - readsAfterFirst;
  const logout = await statusOf(`${sites.site}/logout`, { ...PAGE_LOAD_HEADERS, Cookie: cookie });
  const loggedOutAt = nowMs();
  if (logout !== 302) throw new Error(`revocation delay: the logout answered ${logout}, expected a 302`);
  let stale = 0;
  while (nowMs() - loggedOutAt < ROUND_LIMIT_MS) {
    const status = await statusOf(replicaUrl, asUser);
    if (status === 401) return { delayMs: nowMs() - loggedOutAt, stale, warmRedisReads };
    if (status !== 200) throw new Error(`revocation delay: the replica answered ${status}, expected 200 or 401`);
    stale += 1;
  }
  return { delayMs: undefined, stale, warmRedisReads };
}

export async function measureRevocationDelay(sites: RevocationSites, rounds: number): Promise<RevocationDelay> {
  const delaysMs: number[] = [];
  let neverRefused = 0;
  let staleAnswers = 0;
  let warmRedisReads = 0;
  for (let round = 0; round < rounds; round += 1) {
    const { delayMs, stale, warmRedisReads: reads } = await oneRound(sites);
    staleAnswers += stale;
    warmRedisReads += reads;
    if (delayMs === undefined) neverRefused += 1;
    else delaysMs.push(delayMs);
  }
  return {
    rounds,
    delaysMs,
    neverRefused,
    staleAnswers,
    warmRedisReads,
    p50Ms: percentile(delaysMs, 0.5),
    p99Ms: percentile(delaysMs, 0.99),
    maxMs: delaysMs.length === 0 ? NaN : Math.max(...delaysMs),
  };
}

export function formatRevocationDelay(result: RevocationDelay): string[] {
  const met = result.neverRefused === 0 && result.p99Ms < REVOCATION_GOAL_P99_MS;
  return [
    `Revocation delay (${result.rounds} rounds: logout answered on one instance → first refusal on another, same middleware, same Redis):`,
    `  p50 ${result.p50Ms.toFixed(1)} ms, p99 ${result.p99Ms.toFixed(1)} ms, max ${result.maxMs.toFixed(1)} ms; goal p99 < ${REVOCATION_GOAL_P99_MS} ms: ${met ? 'met' : 'MISSED'}`,
    `  ${result.staleAnswers} signed-in answer(s) from the other instance after a logout had answered` +
      (result.neverRefused === 0 ? '' : `; ${result.neverRefused} round(s) NOT refused within ${ROUND_LIMIT_MS} ms`),
    // Otherwise the rounds measured a replica that reads Redis anyway, not the invalidation of its cache.
    result.warmRedisReads === 0
      ? `  the other instance answered its warm requests from its verdict cache (no Redis GET after the first), as intended`
      : `  WARNING: the other instance read Redis ${result.warmRedisReads} time(s) during warm requests meant for its cache: the delay measured is not the cache's`,
  ];
}
