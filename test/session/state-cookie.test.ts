import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseCookieHeader, type CookieJar } from '../../src/session/cookies.js';
import { createSealer } from '../../src/session/seal.js';
import {
  findLoginFlow,
  flowCookieName,
  listFlowCookies,
  MAX_FLOW_COOKIE_BYTES,
  placeLoginFlow,
  sealLoginFlow,
  type CookieBinding,
  type LoginFlow,
} from '../../src/session/state-cookie.js';
import { OLD_SECRET, SECRET } from './fixtures.js';

const sealer = createSealer([SECRET]);
const BASE = 'app-state';
const now = 1_700_000_000;
const MAX_AGE = 600;
const APP: CookieBinding = { name: 'app', issuer: 'https://id.example', clientID: 'app-client' };
const OTHER: CookieBinding = { ...APP, name: 'other' };

function newFlow(overrides: Partial<LoginFlow> = {}): LoginFlow {
  return {
    state: randomBytes(32).toString('base64url'),
    nonce: randomBytes(32).toString('base64url'),
    codeVerifier: randomBytes(32).toString('base64url'),
    returnTo: 'https://app.example/page?x=1',
    redirectUri: 'https://app.example/callback',
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
    const sealed = sealLoginFlow(sealer, APP, BASE, flow);
    expect(sealed.cookieName).toBe(flowCookieName(BASE, flow.state));
    expect(sealed.cookieName).toMatch(/^app-state\.[A-Za-z0-9_-]{16}$/);
    expect(sealed.value).not.toContain(flow.state);
    expect(findLoginFlow(sealer, APP, BASE, jarOf(sealed), flow.state, now + 5, MAX_AGE)?.flow).toEqual(flow);
  });

  it('completes logins started in several tabs, each from its own state', () => {
    const flows = [newFlow(), newFlow(), newFlow()];
    const jar = jarOf(...flows.map((f) => sealLoginFlow(sealer, APP, BASE, f)));
    for (const flow of flows) {
      expect(findLoginFlow(sealer, APP, BASE, jar, flow.state, now + 1, MAX_AGE)?.flow.nonce).toBe(flow.nonce);
    }
  });

  it('finds nothing for an unknown, empty or absurdly long state', () => {
    const jar = jarOf(sealLoginFlow(sealer, APP, BASE, newFlow()));
    expect(findLoginFlow(sealer, APP, BASE, jar, 'unknown', now, MAX_AGE)).toBeUndefined();
    expect(findLoginFlow(sealer, APP, BASE, jar, '', now, MAX_AGE)).toBeUndefined();
    expect(findLoginFlow(sealer, APP, BASE, jar, 'x'.repeat(10_000), now, MAX_AGE)).toBeUndefined();
  });

  it('does not accept a flow cookie moved under the name of another state', () => {
    const victim = newFlow();
    const attacker = sealLoginFlow(sealer, APP, BASE, newFlow());
    const jar = jarOf({ cookieName: flowCookieName(BASE, victim.state), value: attacker.value });
    expect(findLoginFlow(sealer, APP, BASE, jar, victim.state, now, MAX_AGE)).toBeUndefined();
  });

  it('does not open a flow sealed for another middleware', () => {
    const flow = newFlow();
    const jar = jarOf(sealLoginFlow(sealer, OTHER, BASE, flow));
    expect(findLoginFlow(sealer, APP, BASE, jar, flow.state, now, MAX_AGE)).toBeUndefined();
  });

  it('finds nothing once the flow is older than maxAge, and nothing at all when maxAge ≤ 0', () => {
    const flow = newFlow();
    const jar = jarOf(sealLoginFlow(sealer, APP, BASE, flow));
    expect(findLoginFlow(sealer, APP, BASE, jar, flow.state, now + MAX_AGE - 1, MAX_AGE)).toBeDefined();
    expect(findLoginFlow(sealer, APP, BASE, jar, flow.state, now + MAX_AGE, MAX_AGE)).toBeUndefined();
    expect(findLoginFlow(sealer, APP, BASE, jar, flow.state, now, 0)).toBeUndefined();
    expect(findLoginFlow(sealer, APP, BASE, jar, flow.state, now, -1)).toBeUndefined();
  });

  it('finds the real flow when a cookie tossed from a parent domain with the same name comes first', () => {
    const flow = newFlow();
    const sealed = sealLoginFlow(sealer, APP, BASE, flow);
    const jar = parseCookieHeader(`${sealed.cookieName}=v1.tossedgarbage; ${sealed.cookieName}=${sealed.value}`);
    expect(findLoginFlow(sealer, APP, BASE, jar, flow.state, now, MAX_AGE)?.flow).toEqual(flow);
  });

  it('opens a flow sealed with an old secret during rotation', () => {
    const flow = newFlow();
    const jar = jarOf(sealLoginFlow(createSealer([OLD_SECRET]), APP, BASE, flow));
    expect(findLoginFlow(createSealer([SECRET, OLD_SECRET]), APP, BASE, jar, flow.state, now, MAX_AGE)?.flow).toEqual(flow);
  });
});

describe('listFlowCookies', () => {
  it('lists only cookies named like our flow cookies', () => {
    const a = sealLoginFlow(sealer, APP, BASE, newFlow());
    const jar = parseCookieHeader(`${a.cookieName}=${a.value}; app-state=x; app-state.short=x; app-session=x; other-state.AAAAAAAAAAAAAAAA=x`);
    expect(listFlowCookies(BASE, jar)).toEqual([a.cookieName]);
  });
});

describe('placeLoginFlow', () => {
  const place = (jar: CookieJar, flow: LoginFlow, singleCookie = false) =>
    placeLoginFlow(sealer, APP, BASE, jar, flow, now, MAX_AGE, { singleCookie });
  const bytesOf = (jar: CookieJar): number =>
    listFlowCookies(BASE, jar).reduce((sum, name) => sum + (jar[name] ?? []).reduce((n, v) => n + name.length + v.length + 3, 0), 0);
  const longFlow = (age: number) => newFlow({ createdAt: now - age, returnTo: `https://app.example/${'p'.repeat(800)}` });

  it('clears nothing while there is room for the new flow', () => {
    const jar = jarOf(...[0, 1, 2].map((i) => sealLoginFlow(sealer, APP, BASE, newFlow({ createdAt: now - i }))));
    const flow = newFlow();
    const placed = place(jar, flow);
    expect(placed.toClear).toEqual([]);
    expect(placed.cookieName).toBe(flowCookieName(BASE, flow.state));
  });

  it('clears the oldest flows so that, with the new one, at most four remain', () => {
    const sealed = [0, 1, 2, 3, 4, 5].map((age) => sealLoginFlow(sealer, APP, BASE, newFlow({ createdAt: now - age * 10 })));
    const jar = jarOf(...[...sealed].reverse());
    expect(new Set(place(jar, newFlow()).toClear)).toEqual(new Set(sealed.slice(3).map((s) => s.cookieName)));
  });

  it('clears the oldest flows so that, with the new one, all stay within the byte budget', () => {
    const sealed = [1, 2, 3].map((age) => sealLoginFlow(sealer, APP, BASE, longFlow(age * 10)));
    const jar = jarOf(...sealed);
    const placed = place(jar, longFlow(0));
    expect(placed.toClear).toEqual(sealed.slice(1).map((s) => s.cookieName));
  });

  it('clears expired flows first and leaves cookies it cannot open alone', () => {
    const expired = sealLoginFlow(sealer, APP, BASE, newFlow({ createdAt: now - MAX_AGE - 1 }));
    const live = sealLoginFlow(sealer, APP, BASE, newFlow());
    const foreign = sealLoginFlow(sealer, OTHER, BASE, newFlow());
    expect(place(jarOf(expired, live, foreign), newFlow()).toClear).toEqual([expired.cookieName]);
  });

  it('with one cookie only (nginx), takes over the oldest flow’s name when the new one does not fit, and the callback still finds it', () => {
    let jar = jarOf();
    const flows: LoginFlow[] = [];
    for (let i = 0; i < 12; i++) {
      const flow = i % 3 === 0 ? longFlow(-i) : newFlow({ createdAt: now + i });
      flows.push(flow);
      const placed = place(jar, flow, true);
      expect(placed.toClear).toEqual([]);
      const header = listFlowCookies(BASE, jar)
        .filter((name) => name !== placed.cookieName)
        .map((name) => `${name}=${jar[name]?.[0] ?? ''}`);
      jar = parseCookieHeader([...header, `${placed.cookieName}=${placed.value}`].join('; '));
      expect(bytesOf(jar)).toBeLessThanOrEqual(MAX_FLOW_COOKIE_BYTES);
      expect(listFlowCookies(BASE, jar).length).toBeLessThanOrEqual(4);
      const found = findLoginFlow(sealer, APP, BASE, jar, flow.state, now + i, MAX_AGE);
      expect(found?.flow.state).toBe(flow.state);
      expect(found?.cookieName).toBe(placed.cookieName);
    }
    // The oldest were dropped: their callbacks find nothing.
    expect(findLoginFlow(sealer, APP, BASE, jar, flows[0]?.state ?? '', now + 12, MAX_AGE)).toBeUndefined();
  });
});

describe('cookies bound to what minted them', () => {
  it('a login state sealed for another issuer, client ID or middleware name (same secret) does not open', () => {
    const flow = newFlow();
    for (const minter of [
      { ...APP, issuer: 'https://old-id.example' },
      { ...APP, clientID: 'another-client' },
      OTHER,
    ]) {
      const jar = jarOf(sealLoginFlow(sealer, minter, BASE, flow));
      expect(findLoginFlow(sealer, APP, BASE, jar, flow.state, now, MAX_AGE)).toBeUndefined();
    }
  });

  it('a login state sealed before the redirect_uri was kept does not open', () => {
    const { redirectUri: _dropped, ...old } = newFlow();
    const value = sealer.seal(Buffer.from(JSON.stringify(old)), `state:${APP.name}\0${APP.issuer}\0${APP.clientID}`);
    const jar = parseCookieHeader(`${flowCookieName(BASE, old.state)}=${value}`);
    expect(findLoginFlow(sealer, APP, BASE, jar, old.state, now, MAX_AGE)).toBeUndefined();
  });
});
