import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Answer } from '../../../src/forward/answer.js';
import { decideLogout, handleLogout, type EndSession } from '../../../src/forward/routes/logout.js';
import { createCsrfToken } from '../../../src/session/csrf.js';
import type { Session } from '../../../src/session/session.js';
import type { MiddlewareOverrides } from '../../support/middleware-config.js';
import { sampleSession } from '../../session/fixtures.js';
import { cookieSummary, createRouteRuntime, forwardRequest, jarOf } from './route-runtime.js';

const SESSION = sampleSession({ idToken: 'header.payload.signature' });
const CSRF: MiddlewareOverrides = { csrf: { secure: false, headerName: 'X-CSRF-Token' } };
const END_SESSION = { end_session_endpoint: 'https://idp.example/logout' };
const VALID_TOKEN = 'valid';
const LOGOUT = 'https://app.example/logout';

/** The decision in a few words: what ends, and where the browser goes. */
function outcome(decision: Answer | EndSession): string {
  if (decision.kind === 'deny') return `403 ${decision.code}`;
  if (decision.kind === 'confirm-logout') return `confirm page → ${decision.location}`;
  if (decision.kind !== 'end-session') return decision.kind;
  const ends = decision.revoke === undefined ? 'nothing to revoke' : 'revoke';
  const then = decision.then;
  if (then.kind === 'redirect') {
    const to = new URL(then.location);
    return `${ends}, 302 → ${to.origin}${to.pathname}`;
  }
  return `${ends}, ${then.kind}`;
}

interface Row {
  readonly facts: string;
  readonly method?: string;
  readonly headers?: IncomingHttpHeaders;
  readonly session?: Session;
  readonly middleware?: MiddlewareOverrides;
  readonly endSession?: true;
  readonly expected: string;
}

const rows: Row[] = [
  { facts: 'GET, signed in, provider without end_session_endpoint', session: SESSION, expected: 'revoke, signed-out' },
  { facts: 'GET, signed in, provider with end_session_endpoint', session: SESSION, endSession: true, expected: 'revoke, 302 → https://idp.example/logout' },
  { facts: 'GET, signed out, provider with end_session_endpoint', endSession: true, expected: 'nothing to revoke, 302 → https://idp.example/logout' },
  { facts: 'GET, signed out, nothing configured', expected: 'nothing to revoke, signed-out' },
  {
    facts: 'GET, signed in, postLogoutRedirectUrl, no end_session_endpoint',
    session: SESSION,
    middleware: { postLogoutRedirectUrl: '/bye' },
    expected: 'revoke, 302 → https://app.example/bye',
  },
  {
    facts: 'GET, signed in, postLogoutRedirectUrl and end_session_endpoint',
    session: SESSION,
    endSession: true,
    middleware: { postLogoutRedirectUrl: '/bye' },
    expected: 'revoke, 302 → https://idp.example/logout',
  },
  { facts: 'POST with CSRF off', method: 'POST', session: SESSION, expected: 'revoke, signed-out' },
  { facts: 'POST with CSRF on, no token', method: 'POST', session: SESSION, middleware: CSRF, expected: '403 OFA_CSRF_INVALID' },
  {
    facts: 'POST with CSRF on, a token of another session',
    method: 'POST',
    headers: { 'x-csrf-token': 'other' },
    session: SESSION,
    middleware: CSRF,
    expected: '403 OFA_CSRF_INVALID',
  },
  {
    facts: 'POST with CSRF on, the session’s token',
    method: 'POST',
    headers: { 'x-csrf-token': VALID_TOKEN },
    session: SESSION,
    middleware: CSRF,
    expected: 'revoke, signed-out',
  },
  { facts: 'GET with CSRF on, no token (a safe method)', session: SESSION, middleware: CSRF, expected: 'revoke, signed-out' },
  { facts: 'POST with CSRF on, signed out (nothing to protect)', method: 'POST', middleware: CSRF, expected: 'nothing to revoke, signed-out' },
  {
    facts: 'a cross-site navigation (Sec-Fetch-Site)',
    headers: { 'sec-fetch-site': 'cross-site' },
    session: SESSION,
    expected: `confirm page → ${LOGOUT}`,
  },
  { facts: 'an unknown Sec-Fetch-Site value', headers: { 'sec-fetch-site': 'weird' }, session: SESSION, expected: `confirm page → ${LOGOUT}` },
  { facts: 'same-origin (Sec-Fetch-Site)', headers: { 'sec-fetch-site': 'same-origin' }, session: SESSION, expected: 'revoke, signed-out' },
  { facts: 'same-site (Sec-Fetch-Site)', headers: { 'sec-fetch-site': 'same-site' }, session: SESSION, expected: 'revoke, signed-out' },
  { facts: 'typed or bookmarked (Sec-Fetch-Site: none)', headers: { 'sec-fetch-site': 'none' }, session: SESSION, expected: 'revoke, signed-out' },
  { facts: 'another Origin, no Fetch Metadata', headers: { origin: 'https://evil.example' }, session: SESSION, expected: `confirm page → ${LOGOUT}` },
  { facts: 'Origin null', headers: { origin: 'null' }, session: SESSION, expected: `confirm page → ${LOGOUT}` },
  { facts: 'the own Origin', headers: { origin: 'https://app.example' }, session: SESSION, expected: 'revoke, signed-out' },
  {
    facts: 'cross-site with logoutUrl configured: the page links to logoutUrl',
    headers: { 'sec-fetch-site': 'cross-site' },
    session: SESSION,
    middleware: { logoutUrl: '/logout' },
    expected: `confirm page → ${LOGOUT}`,
  },
  {
    facts: 'cross-site POST with CSRF on and no token: refused before any page',
    method: 'POST',
    headers: { 'sec-fetch-site': 'cross-site' },
    session: SESSION,
    middleware: CSRF,
    expected: '403 OFA_CSRF_INVALID',
  },
];

describe('logout: the decision', () => {
  it.each(rows)('$facts → $expected', async (row) => {
    const { rt } = await createRouteRuntime({
      ...(row.middleware === undefined ? {} : { middleware: row.middleware }),
      ...(row.endSession === true ? { metadata: END_SESSION } : {}),
    });
    const headers = { ...row.headers };
    if (headers['x-csrf-token'] === VALID_TOKEN) headers['x-csrf-token'] = createCsrfToken(rt.csrfKeys, SESSION.id);
    else if (headers['x-csrf-token'] === 'other') headers['x-csrf-token'] = createCsrfToken(rt.csrfKeys, 'another-session-id');
    const decision = decideLogout(rt, forwardRequest(`${LOGOUT}?x=1`, { method: row.method ?? 'GET', headers }), row.session);
    expect(outcome(decision).replace(`${LOGOUT}?x=1`, LOGOUT)).toBe(row.expected);
    if (decision.kind === 'end-session') expect(decision.revoke).toBe(row.session);
  });

  it('asks the provider to end the login with the ID token as hint and postLogoutRedirectUrl as the way back', async () => {
    const { rt } = await createRouteRuntime({ middleware: { postLogoutRedirectUrl: '/bye' }, metadata: END_SESSION });
    const decision = decideLogout(rt, forwardRequest(LOGOUT), SESSION);
    if (decision.kind !== 'end-session' || decision.then.kind !== 'redirect') throw new Error(outcome(decision));
    const params = Object.fromEntries(new URL(decision.then.location).searchParams);
    expect(params).toEqual({ client_id: 'forward-auth', id_token_hint: 'header.payload.signature', post_logout_redirect_uri: 'https://app.example/bye' });
    expect(decision.then.purpose).toBe('logout');
  });

  it('sends no id_token_hint when the session kept no ID token, or there is no session', async () => {
    const { rt } = await createRouteRuntime({ metadata: END_SESSION });
    for (const session of [sampleSession({ idToken: undefined }), undefined]) {
      const decision = decideLogout(rt, forwardRequest(LOGOUT), session);
      if (decision.kind !== 'end-session' || decision.then.kind !== 'redirect') throw new Error(outcome(decision));
      expect(new URL(decision.then.location).searchParams.has('id_token_hint')).toBe(false);
    }
  });

  it('resolves a host-less postLogoutRedirectUrl against the request’s own origin, never a host the request names elsewhere', async () => {
    const { rt } = await createRouteRuntime({ middleware: { postLogoutRedirectUrl: '/bye' } });
    const decision = decideLogout(rt, forwardRequest('http://other.example:8080/logout?next=https://evil.example/'), SESSION);
    if (decision.kind !== 'end-session' || decision.then.kind !== 'redirect') throw new Error(outcome(decision));
    expect(decision.then.location).toBe('http://other.example:8080/bye');
  });

  it('clears the session cookie, and the CSRF cookie when CSRF is on, whether or not there was a session', async () => {
    const { rt } = await createRouteRuntime({ middleware: CSRF });
    for (const session of [SESSION, undefined]) {
      const decision = decideLogout(rt, forwardRequest(LOGOUT), session);
      if (decision.kind !== 'end-session' || decision.then.kind !== 'signed-out') throw new Error(outcome(decision));
      expect(cookieSummary(decision.then.cookies)).toEqual(['test-session cleared', 'traefikee-csrf-token cleared']);
    }
  });
});

describe('logout: the route', () => {
  it('revokes the session the cookie carries and counts it, then answers the decision', async () => {
    const { rt, store, events } = await createRouteRuntime();
    store.sessions.set('the-cookie', SESSION);
    const answer = await handleLogout(rt, forwardRequest(LOGOUT), jarOf({ cookieName: 'test-session', value: 'the-cookie' }));
    expect(answer.kind).toBe('signed-out');
    expect(store.calls).toEqual([{ op: 'revoke', sessionId: SESSION.id }]);
    expect(events).toEqual(['ended_by_logout']);
  });

  it('revokes nothing on a refusal or a confirmation page, nor without a session', async () => {
    const { rt, store, events } = await createRouteRuntime({ middleware: CSRF });
    store.sessions.set('the-cookie', SESSION);
    const jar = jarOf({ cookieName: 'test-session', value: 'the-cookie' });
    expect((await handleLogout(rt, forwardRequest(LOGOUT, { method: 'POST' }), jar)).kind).toBe('deny');
    expect((await handleLogout(rt, forwardRequest(LOGOUT, { headers: { 'sec-fetch-site': 'cross-site' } }), jar)).kind).toBe('confirm-logout');
    expect((await handleLogout(rt, forwardRequest(LOGOUT), jarOf())).kind).toBe('signed-out');
    expect(store.calls).toEqual([]);
    expect(events).toEqual([]);
  });

  it('lets a store that cannot revoke fail the request: cookies are not cleared as if the session had ended', async () => {
    const { rt, store } = await createRouteRuntime();
    store.sessions.set('the-cookie', SESSION);
    store.revoke = async () => {
      throw Object.assign(new Error('down'), { code: 'OFA_STORE_UNAVAILABLE' });
    };
    await expect(handleLogout(rt, forwardRequest(LOGOUT), jarOf({ cookieName: 'test-session', value: 'the-cookie' }))).rejects.toThrow('down');
  });
});
