/**
 * The session check without HTTP: decideSession as a table (request facts and session in, the
 * step it asks for out), then the shell with a fake store, which performs those steps.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import type { Answer, ProxyKind } from '../../../src/forward/answer.js';
import { keptClaimsOf } from '../../../src/forward/kept-claims.js';
import { checkSession, decideSession, type SessionState } from '../../../src/forward/routes/check-session.js';
import type { MiddlewareRuntime } from '../../../src/forward/runtime.js';
import { createCsrfToken } from '../../../src/session/csrf.js';
import { parseCookieHeader } from '../../../src/session/cookies.js';
import type { Session } from '../../../src/session/session.js';
import type { RefreshOutcome } from '../../../src/session/store.js';
import { makeMiddlewareConfig, type MiddlewareOverrides } from '../../support/middleware-config.js';
import { createProviderKeys, createRouteRuntime, forwardRequest, NOW_SECONDS as NOW, PAGE_LOAD, type ProviderKeys, type RouteRuntime } from './route-runtime.js';

const DAY = 86_400;
const DASHBOARD = 'https://app.example.com/dashboard';

let keys: ProviderKeys;
beforeAll(async () => {
  keys = await createProviderKeys();
});

interface SessionRuntime extends RouteRuntime {
  /** What the shell saved, in order; each save of a cookie store answers `saved-N`. */
  readonly saved: Session[];
  /** What the store's refresh lock hands back; a refresh nobody expected fails the test. */
  refreshOutcome: RefreshOutcome | undefined;
  refreshes: number;
}

/**
 * A runtime that reads the claims rule `Contains(groups, admin)` and forwards the email (also the
 * username), around the recording store taught to save and refresh, as a cookie store or a
 * server-side one.
 */
async function runtime(overrides: MiddlewareOverrides = {}, options: { readonly serverSide?: boolean } = {}): Promise<SessionRuntime> {
  const built = await createRouteRuntime({
    keys,
    middleware: { forwardHeaders: { 'X-Forwarded-User': 'email' }, usernameClaim: 'email', claims: 'Contains(`groups`, `admin`)', ...overrides },
  });
  const serverSide = options.serverSide === true;
  const sessionRuntime: SessionRuntime = { ...built, saved: [], refreshOutcome: undefined, refreshes: 0 };
  Object.assign(built.store, {
    serverSide,
    async save(session: Session) {
      sessionRuntime.saved.push(session);
      return serverSide ? undefined : `saved-${sessionRuntime.saved.length}`;
    },
    async refresh() {
      sessionRuntime.refreshes += 1;
      if (sessionRuntime.refreshOutcome === undefined) throw new Error('no refresh expected');
      return sessionRuntime.refreshOutcome;
    },
  });
  return sessionRuntime;
}

interface RequestFacts {
  readonly url?: string;
  readonly method?: string;
  readonly headers?: IncomingHttpHeaders;
  readonly proxy?: ProxyKind;
}

/** A background fetch by default: no Fetch Metadata of a page load. */
const requestFor = ({ url = DASHBOARD, ...facts }: RequestFacts = {}) => forwardRequest(url, facts);

/** Alice, an admin, signed in 100 s ago; her access token is good for an hour. Claims frozen, as a store hands them out. */
function sessionFor(rt: MiddlewareRuntime, overrides: Partial<Session> = {}): Session {
  return {
    v: 1,
    id: 'session-alice',
    issuer: 'https://idp.example',
    subject: 'alice',
    idClaims: Object.freeze({ sub: 'alice', email: 'alice@example.com', groups: Object.freeze(['admin']) }),
    refreshToken: 'refresh-token',
    accessTokenExpiresAt: NOW + 3600,
    createdAt: NOW - 100,
    renewedAt: NOW - 100,
    expiresAt: NOW - 100 + DAY,
    keptClaims: keptClaimsOf(rt),
    ...overrides,
  };
}

function stateOf(session: Session, overrides: Partial<SessionState> = {}): SessionState {
  return { session, stale: false, cookieValue: undefined, refreshed: false, ...overrides };
}

interface Row {
  readonly name: string;
  readonly config?: MiddlewareOverrides;
  readonly serverSide?: boolean;
  readonly session?: Partial<Session>;
  readonly request?: RequestFacts;
  readonly state?: Partial<SessionState>;
  readonly expected: Record<string, unknown>;
  /** Properties the step must not have at all. */
  readonly absent?: readonly string[];
}

const ALLOW = { kind: 'allow', headers: { 'X-Forwarded-User': 'alice@example.com' }, username: 'alice@example.com', cookies: [] };

const rows: Row[] = [
  { name: 'allows a valid session with its identity headers and username, setting no cookie', expected: ALLOW },
  {
    name: 'ends the session once maxLifetime has passed since sign-in, however recently it was used',
    config: { session: { ...makeMiddlewareConfig().session, maxLifetime: 3600 } },
    session: { createdAt: NOW - 3600, renewedAt: NOW - 10 },
    expected: { kind: 'end-session', reason: 'max-lifetime' },
  },
  {
    name: 'keeps a session one second short of maxLifetime',
    config: { session: { ...makeMiddlewareConfig().session, maxLifetime: 3600 } },
    session: { createdAt: NOW - 3599 },
    expected: ALLOW,
  },
  { name: 'refreshes an access token within 5 s of expiry', session: { accessTokenExpiresAt: NOW + 5 }, expected: { kind: 'refresh' } },
  { name: 'does not refresh an access token 6 s from expiry', session: { accessTokenExpiresAt: NOW + 6 }, expected: ALLOW },
  {
    name: 'refreshes 30 s ahead when the access token itself goes to the application',
    config: { applicationTokens: { accessTokenHeader: 'Authorization', idTokenHeader: undefined } },
    session: { accessTokenExpiresAt: NOW + 30, accessToken: 'access-token' },
    expected: { kind: 'refresh' },
  },
  {
    name: 'lets a background request behind Caddy go on without refreshing: the new cookie could not reach the browser',
    request: { proxy: 'caddy' },
    session: { accessTokenExpiresAt: NOW - 1 },
    expected: ALLOW,
  },
  {
    name: 'refreshes on a page load behind Caddy, whose 302 carries the cookie',
    request: { proxy: 'caddy', headers: PAGE_LOAD },
    session: { accessTokenExpiresAt: NOW - 1 },
    expected: { kind: 'refresh' },
  },
  {
    name: 'refreshes a background request behind Traefik v2.11 when the store keeps the new token server-side',
    request: { proxy: 'traefik-v2' },
    serverSide: true,
    session: { accessTokenExpiresAt: NOW - 1 },
    expected: { kind: 'refresh' },
  },
  {
    name: 'refuses a waiting background request whose expired access token would go to the application',
    config: { applicationTokens: { accessTokenHeader: 'Authorization', idTokenHeader: undefined } },
    request: { proxy: 'caddy' },
    session: { accessTokenExpiresAt: NOW - 1, accessToken: 'access-token' },
    expected: { kind: 'deny', code: 'OFA_LOGIN_REQUIRED', cookies: [] },
  },
  {
    name: 'refreshes a session that lacks a claim a reload added to the configuration',
    session: { keptClaims: { id: ['email'], access: [] } },
    expected: { kind: 'refresh' },
  },
  {
    name: 'sends a session lacking claims to a new sign-in when it has no refresh token',
    session: { keptClaims: { id: ['email'], access: [] }, refreshToken: undefined },
    expected: { kind: 'sign-in-again', cookies: [] },
  },
  {
    name: 'sends a session lacking claims to a new sign-in when its refresh must wait behind a cookie-dropping proxy',
    request: { proxy: 'caddy' },
    session: { keptClaims: { id: ['email'], access: [] } },
    expected: { kind: 'sign-in-again', cookies: [] },
  },
  {
    name: 'sends a refreshed session that still lacks claims to a new sign-in, carrying the refreshed cookie',
    session: { keptClaims: { id: ['email'], access: [] } },
    state: { refreshed: true, cookieValue: 'refreshed-cookie' },
    expected: { kind: 'sign-in-again', cookies: [expect.stringMatching(/^test-session=refreshed-cookie;/)] },
  },
  {
    name: 'does not refresh twice for one request, even when the refreshed token is due again',
    session: { accessTokenExpiresAt: NOW + 1 },
    state: { refreshed: true },
    expected: ALLOW,
  },
  {
    name: 'refuses an unsafe method without a CSRF token',
    config: { csrf: { secure: false, headerName: 'X-CSRF-Token' } },
    request: { method: 'POST' },
    expected: { kind: 'deny', code: 'OFA_CSRF_INVALID', cookies: [] },
  },
  {
    name: 'refuses an unsafe method with another session\'s CSRF token',
    config: { csrf: { secure: false, headerName: 'X-CSRF-Token' } },
    request: { method: 'POST', headers: { 'x-csrf-token': 'forged' } },
    expected: { kind: 'deny', code: 'OFA_CSRF_INVALID' },
  },
  {
    name: 'still hands a refreshed cookie to a request refused for CSRF, so the rotated refresh token is not lost',
    config: { csrf: { secure: false, headerName: 'X-CSRF-Token' } },
    request: { method: 'POST' },
    state: { refreshed: true, cookieValue: 'refreshed-cookie' },
    expected: { kind: 'deny', code: 'OFA_CSRF_INVALID', cookies: expect.arrayContaining([expect.stringMatching(/^test-session=refreshed-cookie;/)]) },
  },
  {
    name: 'refuses a user the claims rule does not allow, offering the logout URL to switch user',
    config: { logoutUrl: '/logout' },
    session: { idClaims: Object.freeze({ sub: 'bob', email: 'bob@example.com', groups: ['dev'] }) },
    expected: { kind: 'deny', code: 'OFA_CLAIMS_DENIED', signOutUrl: 'https://app.example.com/logout', cookies: [] },
  },
  {
    name: 'refuses a user the claims rule does not allow without a sign-out link when no logoutUrl is set',
    session: { idClaims: Object.freeze({ sub: 'bob', email: 'bob@example.com', groups: ['dev'] }) },
    expected: { kind: 'deny', code: 'OFA_CLAIMS_DENIED' },
    absent: ['signOutUrl'],
  },
  {
    name: 'renews a sliding session once a tenth of its lifetime has passed since the last renewal',
    session: { renewedAt: NOW - DAY / 10 },
    expected: { kind: 'save', renewal: true, session: expect.objectContaining({ renewedAt: NOW, expiresAt: NOW + DAY }) },
  },
  {
    name: 'does not renew a sliding session earlier than that',
    session: { renewedAt: NOW - DAY / 10 + 1 },
    expected: ALLOW,
  },
  {
    name: 'does not renew past maxLifetime',
    config: { session: { ...makeMiddlewareConfig().session, maxLifetime: 2 * DAY } },
    session: { createdAt: NOW - DAY - 100, renewedAt: NOW - DAY / 10 },
    expected: { kind: 'save', session: expect.objectContaining({ expiresAt: NOW - 100 + DAY }) },
  },
  { name: 'writes a stale session anew, unchanged', state: { stale: true }, expected: { kind: 'save', renewal: false, session: expect.objectContaining({ renewedAt: NOW - 100 }) } },
  {
    name: 'does not write a stale session again once a refresh brought a new cookie',
    state: { stale: true, refreshed: true, cookieValue: 'refreshed-cookie' },
    expected: { kind: 'allow', cookies: [expect.stringMatching(/^test-session=refreshed-cookie;/)] },
  },
  {
    name: 'sends a page load behind Caddy back to the same URL to carry a renewed cookie',
    request: { proxy: 'caddy', headers: PAGE_LOAD, url: 'https://app.example.com/report?year=2026' },
    state: { cookieValue: 'renewed-cookie' },
    expected: { kind: 'redirect', purpose: 'renew', location: 'https://app.example.com/report?year=2026', cookies: [expect.stringMatching(/^test-session=renewed-cookie;/)] },
  },
  {
    name: 'lets a background request behind Caddy go on with a renewed cookie it cannot carry',
    request: { proxy: 'caddy' },
    state: { cookieValue: 'renewed-cookie' },
    expected: { kind: 'allow', cookies: [expect.stringMatching(/^test-session=renewed-cookie;/)] },
  },
  {
    name: 'sends a signed-in page load at loginUrl on to postLoginRedirectUrl',
    config: { loginUrl: '/login', postLoginRedirectUrl: '/home' },
    request: { url: 'https://app.example.com/login', headers: PAGE_LOAD },
    expected: { kind: 'redirect', purpose: 'callback', location: 'https://app.example.com/home', cookies: [] },
  },
  {
    name: 'answers a fetch at loginUrl like any other signed-in request',
    config: { loginUrl: '/login', postLoginRedirectUrl: '/home' },
    request: { url: 'https://app.example.com/login' },
    expected: ALLOW,
  },
  {
    name: 'refuses identity headers larger than the proxies can carry',
    config: { forwardHeaders: { 'X-Forwarded-User': 'email', 'X-Forwarded-Bio': 'bio' } },
    session: { idClaims: Object.freeze({ sub: 'alice', email: 'alice@example.com', groups: ['admin'], bio: 'x'.repeat(9000) }) },
    expected: { kind: 'identity-too-large', budget: expect.objectContaining({ ok: false, largest: 'X-Forwarded-Bio' }), cookies: [] },
  },
];

describe('decideSession', () => {
  for (const row of rows) {
    it(row.name, async () => {
      const { rt } = await runtime(row.config, { serverSide: row.serverSide });
      const step = decideSession(rt, requestFor(row.request), stateOf(sessionFor(rt, row.session), row.state));
      expect(step).toMatchObject(row.expected);
      for (const name of row.absent ?? []) expect(step).not.toHaveProperty(name);
    });
  }

  it('asks for nothing more once its save is done: the renewed session is allowed with the new cookie', async () => {
    const { rt } = await runtime();
    const request = requestFor();
    const first = decideSession(rt, request, stateOf(sessionFor(rt, { renewedAt: NOW - DAY }), { stale: true }));
    if (first.kind !== 'save') throw new Error(`expected a save, got ${first.kind}`);
    const second = decideSession(rt, request, { session: first.session, stale: false, cookieValue: 'renewed', refreshed: false });
    expect(second).toMatchObject({ kind: 'allow', cookies: [expect.stringMatching(/^test-session=renewed;/)] });
  });

  it('accepts the CSRF token derived for this session', async () => {
    const { rt } = await runtime({ csrf: { secure: false, headerName: 'X-CSRF-Token' } });
    const session = sessionFor(rt);
    const request = requestFor({ method: 'POST', headers: { 'x-csrf-token': createCsrfToken(rt.csrfKeys, session.id) } });
    expect(decideSession(rt, request, stateOf(session))).toMatchObject(ALLOW);
  });

  it('hands every request of one session the same frozen headers object', async () => {
    const { rt } = await runtime();
    const session = sessionFor(rt);
    const first = decideSession(rt, requestFor(), stateOf(session));
    const second = decideSession(rt, requestFor(), stateOf({ ...session, renewedAt: NOW - 50 }));
    if (first.kind !== 'allow' || second.kind !== 'allow') throw new Error('expected two allow answers');
    expect(second.headers).toBe(first.headers);
    expect(Object.isFrozen(first.headers)).toBe(true);
  });
});

describe('checkSession, the shell', () => {
  const check = (rt: MiddlewareRuntime, session: Session, facts: RequestFacts = {}, stale = false): Promise<Answer> =>
    checkSession(rt, requestFor(facts), () => parseCookieHeader(undefined), { session, stale });

  it('revokes a session past maxLifetime, counts it, and clears its cookies on the way to a login', async () => {
    const { rt, store, events } = await runtime({ session: { ...makeMiddlewareConfig().session, maxLifetime: 3600 } });
    const session = sessionFor(rt, { createdAt: NOW - 3600 });
    const answer = await check(rt, session);
    expect(store.calls).toEqual([{ op: 'revoke', sessionId: session.id }]);
    expect(events).toEqual(['ended_by_max_lifetime']);
    // A fetch gets 401 rather than a login redirect, with the session cookie cleared.
    expect(answer).toMatchObject({ kind: 'deny', code: 'OFA_LOGIN_REQUIRED', cookies: expect.arrayContaining([expect.stringMatching(/^test-session=;/)]) });
  });

  it('refreshes, then answers for the refreshed session with its new cookie', async () => {
    const sr = await runtime();
    const session = sessionFor(sr.rt, { accessTokenExpiresAt: NOW - 1 });
    const refreshed = { ...session, idClaims: { ...session.idClaims, email: 'alice@new.example' }, accessTokenExpiresAt: NOW + 3600, renewedAt: NOW };
    sr.refreshOutcome = { ok: true, session: refreshed, cookieValue: 'refreshed-cookie' };
    const answer = await check(sr.rt, session);
    expect(sr.refreshes).toBe(1);
    expect(sr.saved).toEqual([]);
    expect(answer).toMatchObject({ kind: 'allow', headers: { 'X-Forwarded-User': 'alice@new.example' }, cookies: [expect.stringMatching(/^test-session=refreshed-cookie;/)] });
  });

  it('keeps the session and answers 503 with the provider\'s code when the refresh fails for now', async () => {
    const sr = await runtime();
    sr.refreshOutcome = { ok: false, code: 'OFA_PROVIDER_TIMEOUT', transient: true };
    const answer = await check(sr.rt, sessionFor(sr.rt, { accessTokenExpiresAt: NOW - 1 }));
    expect(answer).toEqual({ kind: 'unavailable', code: 'OFA_PROVIDER_TIMEOUT', retryAfterSeconds: 5 });
    expect(sr.store.calls).toEqual([]);
    expect(sr.logs.records).toContainEqual(expect.objectContaining({ msg: 'refresh failed for now; the session is kept', code: 'OFA_PROVIDER_TIMEOUT' }));
  });

  it('ends the session when the provider refuses the refresh', async () => {
    const sr = await runtime();
    sr.refreshOutcome = { ok: false, code: 'OFA_REFRESH_FAILED', transient: false };
    const session = sessionFor(sr.rt, { accessTokenExpiresAt: NOW - 1 });
    await check(sr.rt, session);
    expect(sr.store.calls).toEqual([{ op: 'revoke', sessionId: session.id }]);
    expect(sr.events).toEqual(['ended_by_failed_refresh']);
  });

  it('saves a sliding renewal once and counts it', async () => {
    const sr = await runtime();
    const answer = await check(sr.rt, sessionFor(sr.rt, { renewedAt: NOW - DAY / 2 }));
    expect(sr.saved).toEqual([expect.objectContaining({ renewedAt: NOW, expiresAt: NOW + DAY })]);
    expect(sr.events).toEqual(['renewed']);
    expect(answer).toMatchObject({ kind: 'allow', cookies: [expect.stringMatching(/^test-session=saved-1;/)] });
  });

  it('rewrites a stale session once in a server-side store, whose cookie stays as it is', async () => {
    const sr = await runtime({}, { serverSide: true });
    const answer = await check(sr.rt, sessionFor(sr.rt), {}, true);
    expect(sr.saved).toHaveLength(1);
    expect(sr.events).toEqual([]);
    expect(answer).toMatchObject({ ...ALLOW, cookies: [] });
  });

  it('explains a claims refusal at debug level', async () => {
    const { rt, logs } = await runtime();
    const answer = await check(rt, sessionFor(rt, { idClaims: Object.freeze({ sub: 'bob', email: 'bob@example.com', groups: ['dev'] }) }));
    expect(answer).toMatchObject({ kind: 'deny', code: 'OFA_CLAIMS_DENIED' });
    expect(logs.records).toContainEqual(expect.objectContaining({ msg: 'claims expression denied the request', explanation: expect.anything() }));
  });

  it('notes at debug level that a refresh waits for a page load', async () => {
    const sr = await runtime();
    await check(sr.rt, sessionFor(sr.rt, { accessTokenExpiresAt: NOW - 1 }), { proxy: 'caddy' });
    expect(sr.refreshes).toBe(0);
    expect(sr.logs.records).toContainEqual(expect.objectContaining({ msg: 'access token expired; the refresh waits for a page load that can carry the new cookie' }));
  });

  it('refuses oversized identity headers with their sizes and the largest header\'s name, never a claim value', async () => {
    const { rt, logs } = await runtime({ forwardHeaders: { 'X-Forwarded-Bio': 'bio' } });
    const bio = `secret-bio-${'x'.repeat(9000)}`;
    const answer = await check(rt, sessionFor(rt, { idClaims: Object.freeze({ sub: 'alice', groups: ['admin'], bio }) }));
    expect(answer).toMatchObject({ kind: 'error', code: 'OFA_IDENTITY_HEADERS_TOO_LARGE', cookies: [] });
    expect(JSON.stringify(answer)).not.toContain('secret-bio');
    expect(logs.warnings()).toEqual([expect.objectContaining({ code: 'OFA_IDENTITY_HEADERS_TOO_LARGE', largest: 'X-Forwarded-Bio' })]);
    expect(logs.text()).not.toContain('secret-bio');
  });
});
