import { hash, timingSafeEqual } from 'node:crypto';
import type { CookieJar } from './cookies.js';
import type { Sealer } from './seal.js';

/** One login in progress, from the redirect to the provider until the callback. */
export interface LoginFlow {
  state: string;
  nonce: string;
  codeVerifier?: string;
  /** Absolute URL to return to after the callback; at most MAX_RETURN_TO_LENGTH (see boundReturnTo). */
  returnTo: string;
  /** The exact redirect_uri of the authorization request: the token request repeats it. */
  redirectUri: string;
  /** Started on loginUrl (then postLoginRedirectUrl applies). */
  viaLoginUrl: boolean;
  createdAt: number;
}

/**
 * What minted a cookie: a login-state or session cookie opens only for the same middleware name,
 * issuer and client ID, so one from another deployment sharing the secret, or from before the
 * issuer changed, never opens.
 */
export interface CookieBinding {
  readonly name: string;
  readonly issuer: string;
  readonly clientID: string;
}

/** The sealing purpose (AAD) for one kind of cookie minted by `binding`. NUL cannot occur in any of the three. */
export function boundPurpose(kind: 'state' | 'session', binding: CookieBinding): string {
  return `${kind}:${binding.name}\0${binding.issuer}\0${binding.clientID}`;
}

/** Concurrent logins kept per browser (one per tab); starting another clears the oldest. */
export const MAX_CONCURRENT_FLOWS = 4;
/**
 * All login-state cookies of one browser together, as they count in its Cookie header
 * (`name=value; ` each): well under 4 KB, so a hostile page that opens many logins to long URLs
 * cannot push the header past what nginx (8 KB a line) or Node (16 KB) accept.
 */
export const MAX_FLOW_COOKIE_BYTES = 3584;
/** Longest return address kept in a login state; a longer one is cut (boundReturnTo). */
export const MAX_RETURN_TO_LENGTH = 1024;
/** Flow cookies tried when the one named after the state holds something else (a replaced slot). */
const MAX_SCANNED_FLOW_COOKIES = 2 * MAX_CONCURRENT_FLOWS;
/** Our states are 43 characters; anything much longer is not one of ours. */
const MAX_STATE_LENGTH = 512;
const FLOW_KEY_LENGTH = 16;
const FLOW_KEY = /^[A-Za-z0-9_-]{16}$/;
/** A flow created this far in the future still counts (clocks of replicas differ a little). */
const CLOCK_SKEW_SECONDS = 60;

function purposeFor(binding: CookieBinding): string {
  return boundPurpose('state', binding);
}

/**
 * The return address kept in a login state: the URL without its fragment; over
 * MAX_RETURN_TO_LENGTH the path without the query; if that is still too long, the origin's `/`.
 */
export function boundReturnTo(url: URL): string {
  const whole = url.href.split('#')[0] ?? url.href;
  if (whole.length <= MAX_RETURN_TO_LENGTH) return whole;
  const path = `${url.origin}${url.pathname}`;
  return path.length <= MAX_RETURN_TO_LENGTH ? path : `${url.origin}/`;
}

/** Derived from the state so the callback finds its cookie from the `state` parameter alone. */
export function flowKey(state: string): string {
  return hash('sha256', state, 'base64url').slice(0, FLOW_KEY_LENGTH);
}

export function flowCookieName(cookieBaseName: string, state: string): string {
  return `${cookieBaseName}.${flowKey(state)}`;
}

export function sealLoginFlow(
  sealer: Sealer,
  binding: CookieBinding,
  cookieBaseName: string,
  flow: LoginFlow,
): { cookieName: string; value: string } {
  const plaintext = Buffer.from(JSON.stringify(flow), 'utf8');
  return { cookieName: flowCookieName(cookieBaseName, flow.state), value: sealer.seal(plaintext, purposeFor(binding)) };
}

export interface FlowPlacement {
  /** The cookie that carries the new flow: named after its state, or a slot it takes over. */
  readonly cookieName: string;
  readonly value: string;
  /** The flow as sealed (its return address may have been cut to fit). */
  readonly flow: LoginFlow;
  /** Older flow cookies to clear (always empty with `singleCookie`). */
  readonly toClear: readonly string[];
}

interface HeldFlow {
  readonly name: string;
  /** What this name costs in the Cookie header, every value counted. */
  readonly bytes: number;
  /** Newest live flow under this name; undefined when all have expired. */
  readonly createdAt: number | undefined;
}

/**
 * Where a new flow goes so that, with it, this browser holds at most MAX_CONCURRENT_FLOWS login
 * states in at most MAX_FLOW_COOKIE_BYTES. Expired flows go first, then the oldest.
 *
 * With `singleCookie` (an nginx subrequest, where one Set-Cookie is all that reaches the browser)
 * nothing can be cleared: when the new flow does not fit beside the others, it takes over the name
 * of the oldest one whose place is large enough, so the one Set-Cookie both evicts and adds; if
 * none is, its return address is cut to `/` first. The callback finds a flow under a taken-over
 * name by trying each flow cookie (findLoginFlow). Cookies that do not open with our key and
 * binding are left alone: they may belong to another middleware sharing the name.
 */
export function placeLoginFlow(
  sealer: Sealer,
  binding: CookieBinding,
  cookieBaseName: string,
  cookies: CookieJar,
  flow: LoginFlow,
  now: number,
  maxAge: number,
  options: { readonly singleCookie: boolean },
): FlowPlacement {
  const own = flowCookieName(cookieBaseName, flow.state);
  const held = heldFlows(sealer, binding, cookieBaseName, cookies, now, maxAge).filter((h) => h.name !== own);
  // Expired first, then oldest first.
  const byAge = [...held].sort((a, b) => (a.createdAt ?? -Infinity) - (b.createdAt ?? -Infinity));
  const sealed = sealLoginFlow(sealer, binding, cookieBaseName, flow);
  const newBytes = cookieBytes(own, sealed.value);

  if (!options.singleCookie) {
    const toClear = byAge.filter((h) => h.createdAt === undefined).map((h) => h.name);
    let used = newBytes;
    let kept = 1;
    let full = false;
    // Newest first: once one does not fit, it and every older one go.
    for (const h of byAge.filter((x) => x.createdAt !== undefined).reverse()) {
      if (!full && kept < MAX_CONCURRENT_FLOWS && used + h.bytes <= MAX_FLOW_COOKIE_BYTES) {
        used += h.bytes;
        kept += 1;
      } else {
        full = true;
        toClear.push(h.name);
      }
    }
    return { cookieName: sealed.cookieName, value: sealed.value, flow, toClear };
  }

  const total = held.reduce((sum, h) => sum + h.bytes, 0);
  if (held.length < MAX_CONCURRENT_FLOWS && total + newBytes <= MAX_FLOW_COOKIE_BYTES) {
    return { cookieName: sealed.cookieName, value: sealed.value, flow, toClear: [] };
  }
  const slotFor = (value: string): HeldFlow | undefined =>
    byAge.find((h) => total - h.bytes + cookieBytes(h.name, value) <= MAX_FLOW_COOKIE_BYTES);
  const slot = slotFor(sealed.value);
  if (slot !== undefined) return { cookieName: slot.name, value: sealed.value, flow, toClear: [] };
  const cut = { ...flow, returnTo: `${new URL(flow.returnTo).origin}/` };
  const small = sealLoginFlow(sealer, binding, cookieBaseName, cut);
  // A jar already over the budget (not of our making) shrinks by its largest flow each time.
  const fallback = slotFor(small.value) ?? [...byAge].sort((a, b) => b.bytes - a.bytes)[0];
  return { cookieName: fallback?.name ?? small.cookieName, value: small.value, flow: cut, toClear: [] };
}

function cookieBytes(name: string, value: string): number {
  return name.length + 1 + value.length + 2;
}

function heldFlows(sealer: Sealer, binding: CookieBinding, cookieBaseName: string, cookies: CookieJar, now: number, maxAge: number): HeldFlow[] {
  const held: HeldFlow[] = [];
  for (const name of listFlowCookies(cookieBaseName, cookies)) {
    let newest: number | undefined;
    let ours = false;
    let bytes = 0;
    for (const value of cookies[name] ?? []) {
      bytes += cookieBytes(name, value);
      const flow = openFlow(sealer, binding, value);
      if (flow === undefined) continue;
      ours = true;
      if (isFresh(flow, now, maxAge) && (newest === undefined || flow.createdAt > newest)) newest = flow.createdAt;
    }
    if (ours) held.push({ name, bytes, createdAt: newest });
  }
  return held;
}

/**
 * The flow whose state equals `stateParam`, if its cookie opens and is younger than maxAge
 * seconds, with the name of the cookie that holds it. The cookie named after the state is tried
 * first, then (a flow placed through nginx may have taken over an older flow's name) a bounded
 * number of other flow cookies. Every value under a name is tried: a cookie tossed from a parent
 * domain with the same name must not shadow ours.
 */
export function findLoginFlow(
  sealer: Sealer,
  binding: CookieBinding,
  cookieBaseName: string,
  cookies: CookieJar,
  stateParam: string,
  now: number,
  maxAge: number,
): { flow: LoginFlow; cookieName: string } | undefined {
  if (typeof stateParam !== 'string' || stateParam.length === 0 || stateParam.length > MAX_STATE_LENGTH) return undefined;
  const own = flowCookieName(cookieBaseName, stateParam);
  const others = listFlowCookies(cookieBaseName, cookies).filter((name) => name !== own).slice(0, MAX_SCANNED_FLOW_COOKIES);
  const expected = Buffer.from(stateParam, 'utf8');
  for (const name of [own, ...others]) {
    for (const value of Object.hasOwn(cookies, name) ? (cookies[name] ?? []) : []) {
      const flow = openFlow(sealer, binding, value);
      if (flow === undefined || !isFresh(flow, now, maxAge)) continue;
      const actual = Buffer.from(flow.state, 'utf8');
      if (actual.length === expected.length && timingSafeEqual(actual, expected)) return { flow, cookieName: name };
    }
  }
  return undefined;
}

/** Names of our login-flow cookies present in the request. */
export function listFlowCookies(cookieBaseName: string, cookies: CookieJar): string[] {
  const prefix = `${cookieBaseName}.`;
  return Object.keys(cookies).filter((name) => name.startsWith(prefix) && FLOW_KEY.test(name.slice(prefix.length)));
}

function isFresh(flow: LoginFlow, now: number, maxAge: number): boolean {
  return maxAge > 0 && now < flow.createdAt + maxAge && flow.createdAt <= now + CLOCK_SKEW_SECONDS;
}

function openFlow(sealer: Sealer, binding: CookieBinding, value: string): LoginFlow | undefined {
  const plaintext = sealer.open(value, purposeFor(binding));
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
    // States sealed before the redirect_uri was kept do not open: the callback sees no flow.
    typeof flow.redirectUri === 'string' &&
    typeof flow.viaLoginUrl === 'boolean' &&
    typeof flow.createdAt === 'number' &&
    Number.isFinite(flow.createdAt)
  );
}
