/**
 * Our service in front of a hostile provider, a browser going through Traefik's ForwardAuth, and
 * the checks every refused attack must pass: the documented status, no session cookie, no
 * identity forwarded, and no code, token or secret in the page or in the service's log.
 */
import { expect } from 'vitest';
import { createCookieJar, type CookieJar } from '../../support/cookie-jar.js';
import { forwardAuth, NAVIGATION_HEADERS, type ForwardAuthResult } from '../../support/forward-auth-client.js';
import { startHostileProvider, type HostileProvider, type HostileProviderOptions } from '../../support/hostile-provider.js';
import type { MiddlewareOverrides } from '../../support/middleware-config.js';
import { startService, type TestService } from '../../support/service.js';

export const APP = 'http://app.example.test';

export const API_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  accept: 'application/json',
  'sec-fetch-mode': 'cors',
  'sec-fetch-dest': 'empty',
});

export interface Rig {
  readonly provider: HostileProvider;
  readonly service: TestService;
  stop(): Promise<void>;
}

export interface RigOptions {
  /** Overrides for middleware "test", which points at the provider. */
  readonly middleware?: MiddlewareOverrides;
  readonly provider?: HostileProviderOptions;
  /** Wait for discovery (default true); false for a provider whose discovery is the attack. */
  readonly awaitProviders?: boolean;
  readonly callbackDeadlineMs?: number;
}

/** A hostile provider and our service with middleware "test" pointing at it. */
export async function startRig(options: RigOptions = {}): Promise<Rig> {
  const provider = await startHostileProvider(options.provider);
  try {
    const service = await startService({
      middlewares: [{ name: 'test', issuer: provider.issuer, ...options.middleware }],
      awaitProviders: options.awaitProviders ?? true,
      ...(options.callbackDeadlineMs === undefined ? {} : { callbackDeadlineMs: options.callbackDeadlineMs }),
    });
    // Tokens are issued at the service's time, so moving its clock moves "now" for both sides.
    provider.useClock(service.now);
    return {
      provider,
      service,
      stop: async () => {
        await service.stop();
        await provider.stop();
      },
    };
  } catch (error) {
    await provider.stop();
    throw error;
  }
}

export function visit(rig: Rig, url: string, jar: CookieJar, name = 'test'): Promise<ForwardAuthResult> {
  return forwardAuth(rig.service.authAddress(name), { url, headers: NAVIGATION_HEADERS }, jar);
}

export function callApi(rig: Rig, jar: CookieJar, name = 'test'): Promise<ForwardAuthResult> {
  return forwardAuth(rig.service.authAddress(name), { url: `${APP}/api/data`, headers: API_HEADERS }, jar);
}

export interface StartedLogin {
  readonly jar: CookieJar;
  /** Our 302 to the provider. */
  readonly start: ForwardAuthResult;
  /** Where the provider sends the browser back: our callback with code, state (and iss). */
  readonly callbackUrl: URL;
}

/** Opens a protected page and signs in at the provider, stopping before the callback reaches us. */
export async function startLogin(rig: Rig, jar: CookieJar = createCookieJar(), name = 'test'): Promise<StartedLogin> {
  const start = await visit(rig, `${APP}/private`, jar, name);
  expect(start.status).toBe(302);
  expect(start.location?.startsWith(`${rig.provider.issuer}/authorize?`)).toBe(true);
  const callbackUrl = new URL(await rig.provider.authorize(start.location ?? ''));
  return { jar, start, callbackUrl };
}

/** The whole login; returns the callback's answer and the browser's jar. */
export async function login(rig: Rig, name = 'test'): Promise<{ jar: CookieJar; callback: ForwardAuthResult }> {
  const started = await startLogin(rig, createCookieJar(), name);
  const callback = await visit(rig, started.callbackUrl.href, started.jar, name);
  return { jar: started.jar, callback };
}

/** A login that must succeed: the callback sets a session and the next request is let through. */
export async function expectLoginSucceeds(rig: Rig, name = 'test'): Promise<CookieJar> {
  const { jar, callback } = await login(rig, name);
  expect(callback.status, callback.body.slice(0, 300)).toBe(302);
  expect(callback.location).toBe(`${APP}/private`);
  expect(jar.get(`${name}-session`)).toBeDefined();
  expect((await callApi(rig, jar, name)).status).toBe(200);
  return jar;
}

export interface Refusal {
  readonly status: number;
  /** The error code the page names, when the answer is an error page. */
  readonly code?: string;
  readonly name?: string;
}

/**
 * The answer is the documented refusal, sets no session, forwards no identity, and neither it nor
 * the service's log carries a secret; the browser is not signed in afterwards either.
 */
export async function expectRefused(rig: Rig, result: ForwardAuthResult, jar: CookieJar, refusal: Refusal): Promise<void> {
  const name = refusal.name ?? 'test';
  expect(result.status, result.body.slice(0, 300)).toBe(refusal.status);
  expect(result.status).not.toBe(500);
  expect(result.forwardedHeaders).toEqual({});
  if (refusal.code !== undefined) expect(result.body).toContain(refusal.code);
  expect(sessionCookiesSet(result, name)).toEqual([]);
  expect(jar.get(`${name}-session`)).toBeUndefined();
  expectNoSecretIn(rig, result.body);
  expectNoSecretInLog(rig);
  const after = await callApi(rig, jar, name);
  expect(after.status).toBe(401);
}

/** Set-Cookie headers that would give the browser a session (a value, not a deletion). */
export function sessionCookiesSet(result: ForwardAuthResult, name = 'test'): string[] {
  return result.authSetCookies.filter((c) => c.startsWith(`${name}-session=`) && !c.startsWith(`${name}-session=;`) && !/Max-Age=0\b/.test(c));
}

/** Whole tokens, codes and the client secret, and the payload and signature parts of each JWT. */
function secretFragments(rig: Rig): string[] {
  const fragments = new Set<string>();
  for (const secret of rig.provider.secrets()) {
    fragments.add(secret);
    const parts = secret.split('.');
    if (parts.length === 3) for (const part of parts.slice(1)) if (part.length >= 16) fragments.add(part);
  }
  return [...fragments];
}

export function expectNoSecretIn(rig: Rig, text: string): void {
  const leaked = secretFragments(rig).filter((fragment) => text.includes(fragment));
  expect(leaked).toEqual([]);
}

export function expectNoSecretInLog(rig: Rig): void {
  expectNoSecretIn(rig, rig.service.logger.text());
}
