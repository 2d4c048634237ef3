import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCookieHeader, type CookieJar } from '../../src/session/cookies.js';
import { createSealer } from '../../src/session/seal.js';
import {
  findLoginFlow,
  flowCookieName,
  flowCookiesToClear,
  listFlowCookies,
  sealLoginFlow,
  type LoginFlow,
} from '../../src/session/state-cookie.js';
import { OLD_SECRET, SECRET } from './fixtures.js';

const sealer = createSealer([SECRET]);
const BASE = 'app-state';
const now = 1_700_000_000;
const MAX_AGE = 600;

function newFlow(overrides: Partial<LoginFlow> = {}): LoginFlow {
  return {
    state: randomBytes(32).toString('base64url'),
    nonce: randomBytes(32).toString('base64url'),
    codeVerifier: randomBytes(32).toString('base64url'),
    returnTo: 'https://app.example/page?x=1',
    viaLoginUrl: false,
    createdAt: now,
    ...overrides,
  };
}

function jarOf(...cookies: { cookieName: string; value: string }[]): CookieJar {
  return parseCookieHeader(cookies.map((c) => `${c.cookieName}=${c.value}`).join('; '));
}

describe('sealLoginFlow / findLoginFlow', () => {
  it('names the cookie after the state, so the callback finds it from the state parameter', () => {
    const flow = newFlow();
    const sealed = sealLoginFlow(sealer, 'app', BASE, flow);
    expect(sealed.cookieName).toBe(flowCookieName(BASE, flow.state));
    expect(sealed.cookieName).toMatch(/^app-state\.[A-Za-z0-9_-]{16}$/);
    expect(sealed.value).not.toContain(flow.state);
    expect(findLoginFlow(sealer, 'app', BASE, jarOf(sealed), flow.state, now + 5, MAX_AGE)).toEqual(flow);
  });

  it('completes logins started in several tabs, each from its own state', () => {
    const flows = [newFlow(), newFlow(), newFlow()];
    const jar = jarOf(...flows.map((f) => sealLoginFlow(sealer, 'app', BASE, f)));
    for (const flow of flows) {
      expect(findLoginFlow(sealer, 'app', BASE, jar, flow.state, now + 1, MAX_AGE)?.nonce).toBe(flow.nonce);
    }
  });

  it('finds nothing for an unknown, empty or absurdly long state', () => {
    const jar = jarOf(sealLoginFlow(sealer, 'app', BASE, newFlow()));
    expect(findLoginFlow(sealer, 'app', BASE, jar, 'unknown', now, MAX_AGE)).toBeUndefined();
    expect(findLoginFlow(sealer, 'app', BASE, jar, '', now, MAX_AGE)).toBeUndefined();
    expect(findLoginFlow(sealer, 'app', BASE, jar, 'x'.repeat(10_000), now, MAX_AGE)).toBeUndefined();
  });

  it('does not accept a flow cookie moved under the name of another state', () => {
    const victim = newFlow();
    const attacker = sealLoginFlow(sealer, 'app', BASE, newFlow());
    const jar = jarOf({ cookieName: flowCookieName(BASE, victim.state), value: attacker.value });
    expect(findLoginFlow(sealer, 'app', BASE, jar, victim.state, now, MAX_AGE)).toBeUndefined();
  });

  it('does not open a flow sealed for another middleware', () => {
    const flow = newFlow();
    const jar = jarOf(sealLoginFlow(sealer, 'other', BASE, flow));
    expect(findLoginFlow(sealer, 'app', BASE, jar, flow.state, now, MAX_AGE)).toBeUndefined();
  });

  it('finds nothing once the flow is older than maxAge, and nothing at all when maxAge ≤ 0', () => {
    const flow = newFlow();
    const jar = jarOf(sealLoginFlow(sealer, 'app', BASE, flow));
    expect(findLoginFlow(sealer, 'app', BASE, jar, flow.state, now + MAX_AGE - 1, MAX_AGE)).toBeDefined();
    expect(findLoginFlow(sealer, 'app', BASE, jar, flow.state, now + MAX_AGE, MAX_AGE)).toBeUndefined();
    expect(findLoginFlow(sealer, 'app', BASE, jar, flow.state, now, 0)).toBeUndefined();
    expect(findLoginFlow(sealer, 'app', BASE, jar, flow.state, now, -1)).toBeUndefined();
  });

  it('finds the real flow when a cookie tossed from a parent domain with the same name comes first', () => {
    const flow = newFlow();
    const sealed = sealLoginFlow(sealer, 'app', BASE, flow);
    const jar = parseCookieHeader(`${sealed.cookieName}=v1.tossedgarbage; ${sealed.cookieName}=${sealed.value}`);
    expect(findLoginFlow(sealer, 'app', BASE, jar, flow.state, now, MAX_AGE)).toEqual(flow);
  });

  it('opens a flow sealed with an old secret during rotation', () => {
    const flow = newFlow();
    const jar = jarOf(sealLoginFlow(createSealer([OLD_SECRET]), 'app', BASE, flow));
    expect(findLoginFlow(createSealer([SECRET, OLD_SECRET]), 'app', BASE, jar, flow.state, now, MAX_AGE)).toEqual(flow);
  });
});

describe('listFlowCookies', () => {
  it('lists only cookies named like our flow cookies', () => {
    const a = sealLoginFlow(sealer, 'app', BASE, newFlow());
    const jar = parseCookieHeader(`${a.cookieName}=${a.value}; app-state=x; app-state.short=x; app-session=x; other-state.AAAAAAAAAAAAAAAA=x`);
    expect(listFlowCookies(BASE, jar)).toEqual([a.cookieName]);
  });
});

describe('flowCookiesToClear', () => {
  it('clears nothing while there is room for the new flow', () => {
    const jar = jarOf(...[0, 1, 2].map((i) => sealLoginFlow(sealer, 'app', BASE, newFlow({ createdAt: now - i }))));
    expect(flowCookiesToClear(sealer, 'app', BASE, jar, now, MAX_AGE)).toEqual([]);
  });

  it('clears the oldest flows so that, with the new one, at most four remain', () => {
    const sealed = [0, 1, 2, 3, 4, 5].map((age) => sealLoginFlow(sealer, 'app', BASE, newFlow({ createdAt: now - age * 10 })));
    const jar = jarOf(...[...sealed].reverse());
    const cleared = flowCookiesToClear(sealer, 'app', BASE, jar, now, MAX_AGE);
    expect(new Set(cleared)).toEqual(new Set(sealed.slice(3).map((s) => s.cookieName)));
  });

  it('clears expired flows first and leaves cookies it cannot open alone', () => {
    const expired = sealLoginFlow(sealer, 'app', BASE, newFlow({ createdAt: now - MAX_AGE - 1 }));
    const live = sealLoginFlow(sealer, 'app', BASE, newFlow());
    const foreign = sealLoginFlow(sealer, 'other', BASE, newFlow());
    const jar = jarOf(expired, live, foreign);
    expect(flowCookiesToClear(sealer, 'app', BASE, jar, now, MAX_AGE)).toEqual([expired.cookieName]);
  });
});
