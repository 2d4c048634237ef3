import { createHash, timingSafeEqual } from 'node:crypto';
import type { CookieJar } from './cookies.js';
import type { Sealer } from './seal.js';

/** One login in progress, from the redirect to the provider until the callback. */
export interface LoginFlow {
  state: string;
  nonce: string;
  codeVerifier?: string;
  /** Absolute URL to return to after the callback. */
  returnTo: string;
  /** Started on loginUrl (then postLoginRedirectUrl applies). */
  viaLoginUrl: boolean;
  createdAt: number;
}

/** Concurrent logins kept per browser (one per tab); starting another clears the oldest. */
export const MAX_CONCURRENT_FLOWS = 4;
/** Our states are 43 characters; anything much longer is not one of ours. */
const MAX_STATE_LENGTH = 512;
const FLOW_KEY_LENGTH = 16;
const FLOW_KEY = /^[A-Za-z0-9_-]{16}$/;
/** A flow created this far in the future still counts (clocks of replicas differ a little). */
const CLOCK_SKEW_SECONDS = 60;

function purposeFor(middlewareName: string): string {
  return `state:${middlewareName}`;
}

/** Derived from the state so the callback finds its cookie from the `state` parameter alone. */
export function flowKey(state: string): string {
  return createHash('sha256').update(state, 'utf8').digest('base64url').slice(0, FLOW_KEY_LENGTH);
}

export function flowCookieName(cookieBaseName: string, state: string): string {
  return `${cookieBaseName}.${flowKey(state)}`;
}

export function sealLoginFlow(
  sealer: Sealer,
  middlewareName: string,
  cookieBaseName: string,
  flow: LoginFlow,
): { cookieName: string; value: string } {
  const plaintext = Buffer.from(JSON.stringify(flow), 'utf8');
  return { cookieName: flowCookieName(cookieBaseName, flow.state), value: sealer.seal(plaintext, purposeFor(middlewareName)) };
}

/**
 * The flow whose state equals `stateParam`, if its cookie opens and is younger than maxAge
 * seconds. Every value under the cookie name is tried: a cookie tossed from a parent domain
 * with the same name must not shadow ours.
 */
export function findLoginFlow(
  sealer: Sealer,
  middlewareName: string,
  cookieBaseName: string,
  cookies: CookieJar,
  stateParam: string,
  now: number,
  maxAge: number,
): LoginFlow | undefined {
  if (typeof stateParam !== 'string' || stateParam.length === 0 || stateParam.length > MAX_STATE_LENGTH) return undefined;
  const values = cookies[flowCookieName(cookieBaseName, stateParam)];
  if (values === undefined) return undefined;
  const expected = Buffer.from(stateParam, 'utf8');
  for (const value of values) {
    const flow = openFlow(sealer, middlewareName, value);
    if (flow === undefined || !isFresh(flow, now, maxAge)) continue;
    const actual = Buffer.from(flow.state, 'utf8');
    if (actual.length === expected.length && timingSafeEqual(actual, expected)) return flow;
  }
  return undefined;
}

/** Names of our login-flow cookies present in the request. */
export function listFlowCookies(cookieBaseName: string, cookies: CookieJar): string[] {
  const prefix = `${cookieBaseName}.`;
  return Object.keys(cookies).filter((name) => name.startsWith(prefix) && FLOW_KEY.test(name.slice(prefix.length)));
}

/**
 * Called when a new flow starts: the names of flow cookies to clear so that, with the new one,
 * at most `maxFlows` remain. Expired flows go first, then the oldest. Cookies that do not open
 * with our key and purpose are left alone: they may belong to another middleware sharing the name.
 */
export function flowCookiesToClear(
  sealer: Sealer,
  middlewareName: string,
  cookieBaseName: string,
  cookies: CookieJar,
  now: number,
  maxAge: number,
  maxFlows: number = MAX_CONCURRENT_FLOWS,
): string[] {
  const toClear: string[] = [];
  const live: { name: string; createdAt: number }[] = [];
  for (const name of listFlowCookies(cookieBaseName, cookies)) {
    let newest: LoginFlow | undefined;
    let ours = false;
    for (const value of cookies[name] ?? []) {
      const flow = openFlow(sealer, middlewareName, value);
      if (flow === undefined) continue;
      ours = true;
      if (isFresh(flow, now, maxAge) && (newest === undefined || flow.createdAt > newest.createdAt)) newest = flow;
    }
    if (!ours) continue;
    if (newest === undefined) toClear.push(name);
    else live.push({ name, createdAt: newest.createdAt });
  }
  live.sort((a, b) => b.createdAt - a.createdAt);
  for (const extra of live.slice(Math.max(0, maxFlows - 1))) toClear.push(extra.name);
  return toClear;
}

function isFresh(flow: LoginFlow, now: number, maxAge: number): boolean {
  return maxAge > 0 && now < flow.createdAt + maxAge && flow.createdAt <= now + CLOCK_SKEW_SECONDS;
}

function openFlow(sealer: Sealer, middlewareName: string, value: string): LoginFlow | undefined {
  const plaintext = sealer.open(value, purposeFor(middlewareName));
  if (plaintext === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(plaintext).toString('utf8'));
  } catch {
    return undefined;
  }
  return isLoginFlow(parsed) ? parsed : undefined;
}

export function isLoginFlow(value: unknown): value is LoginFlow {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const flow = value as Record<string, unknown>;
  return (
    typeof flow.state === 'string' &&
    flow.state.length > 0 &&
    typeof flow.nonce === 'string' &&
    (flow.codeVerifier === undefined || typeof flow.codeVerifier === 'string') &&
    typeof flow.returnTo === 'string' &&
    typeof flow.viaLoginUrl === 'boolean' &&
    typeof flow.createdAt === 'number' &&
    Number.isFinite(flow.createdAt)
  );
}
