import { describe, expect, it } from 'vitest';
import type { Answer } from '../../../src/forward/answer.js';
import {
  completedLogin,
  decideCallback,
  failedLogin,
  handleCallback,
  type CodeExchange,
  type MisdirectedCallback,
} from '../../../src/forward/routes/callback.js';
import { OfaError } from '../../../src/errors.js';
import type { CookieJar } from '../../../src/session/cookies.js';
import { flowCookieName, type LoginFlow } from '../../../src/session/state-cookie.js';
import type { MiddlewareOverrides } from '../../support/middleware-config.js';
import {
  cookieSummary,
  createProviderKeys,
  createRouteRuntime,
  flowCookie,
  forwardRequest,
  ISSUER,
  jarOf,
  loginFlow,
  NOW_SECONDS,
  type ProviderKeys,
  type RouteRuntime,
} from './route-runtime.js';

const CALLBACK = 'https://app.example/callback';

function outcome(decision: Answer | MisdirectedCallback | CodeExchange): string {
  if (decision.kind === 'exchange-code') return 'exchange the code';
  if (decision.kind === 'misdirected-callback') return `misdirected: ${outcome(decision.answer)}`;
  if (decision.kind === 'error') return decision.code;
  if (decision.kind === 'unavailable') return `503 ${decision.code}`;
  return decision.kind;
}

const FLOW = loginFlow({ state: 'state-of-this-login-0123456789abcdefghijklmnop' });

interface Row {
  readonly facts: string;
  /** The callback's query; "STATE" stands for the flow's state. */
  readonly query: string;
  /** The browser's state cookies, from the flow(s) given. */
  readonly cookies: (rt: RouteRuntime['rt']) => CookieJar;
  readonly href?: string;
  readonly middleware?: MiddlewareOverrides;
  readonly discovered?: boolean;
  readonly storeDown?: true;
  readonly expected: string;
  /** The state cookies the answer clears. */
  readonly spends: readonly string[];
}

const own = (rt: RouteRuntime['rt'], flow: LoginFlow = FLOW): CookieJar => jarOf(flowCookie(rt, flow));
const ownName = flowCookieName('test-state', FLOW.state);

const rows: Row[] = [
  { facts: 'the state of a login in progress, and a code', query: 'code=c&state=STATE', cookies: own, expected: 'exchange the code', spends: [ownName] },
  { facts: 'no state parameter', query: 'code=c', cookies: own, expected: 'OFA_CALLBACK_STATE_MISSING', spends: [] },
  { facts: 'two state parameters', query: 'code=c&state=STATE&state=STATE', cookies: own, expected: 'OFA_CALLBACK_STATE_MISSING', spends: [] },
  { facts: 'a state but no state cookie (a replayed callback URL)', query: 'code=c&state=STATE', cookies: () => jarOf(), expected: 'OFA_CALLBACK_STATE_MISSING', spends: [] },
  {
    facts: 'an unknown state beside another login’s cookie',
    query: 'code=c&state=someone-elses-state',
    cookies: own,
    expected: 'OFA_CALLBACK_STATE_MISMATCH',
    spends: [],
  },
  {
    facts: 'an expired login',
    query: 'code=c&state=STATE',
    cookies: (rt) => own(rt, { ...FLOW, createdAt: NOW_SECONDS - 601 }),
    expected: 'OFA_CALLBACK_STATE_MISMATCH',
    spends: [ownName],
  },
  {
    facts: 'a state cookie sealed by another middleware',
    query: 'code=c&state=STATE',
    cookies: (rt) => jarOf(flowCookie({ ...rt, config: { ...rt.config, name: 'other' } }, FLOW)),
    expected: 'OFA_CALLBACK_STATE_MISMATCH',
    spends: [ownName],
  },
  {
    facts: 'the provider’s error parameter',
    query: 'error=access_denied&state=STATE',
    cookies: own,
    expected: 'OFA_CALLBACK_PROVIDER_ERROR',
    spends: [ownName],
  },
  {
    facts: 'the provider’s error parameter without a state',
    query: 'error=access_denied',
    cookies: own,
    expected: 'OFA_CALLBACK_PROVIDER_ERROR',
    spends: [],
  },
  {
    facts: 'a callback on another host than the login named',
    href: 'https://other.example/callback',
    query: 'code=c&state=STATE',
    cookies: own,
    expected: 'misdirected: OFA_CALLBACK_STATE_MISMATCH',
    spends: [ownName],
  },
  {
    facts: 'a login started for another redirectUrl (the configuration changed)',
    middleware: { redirectUrl: '/oauth/callback' },
    href: 'https://app.example/oauth/callback',
    query: 'code=c&state=STATE',
    cookies: own,
    expected: 'misdirected: OFA_CALLBACK_STATE_MISMATCH',
    spends: [ownName],
  },
  { facts: 'a provider not discovered', query: 'code=c&state=STATE', cookies: own, discovered: false, expected: '503 OFA_PROVIDER_UNAVAILABLE', spends: [] },
  { facts: 'a store that cannot keep the session', query: 'code=c&state=STATE', cookies: own, storeDown: true, expected: '503 OFA_STORE_UNAVAILABLE', spends: [] },
];

describe('the callback: the decision', () => {
  it.each(rows)('$facts → $expected', async (row) => {
    const { rt, store } = await createRouteRuntime({
      ...(row.middleware === undefined ? {} : { middleware: row.middleware }),
      ...(row.discovered === undefined ? {} : { discovered: row.discovered }),
    });
    if (row.storeDown === true) store.available = false;
    const request = forwardRequest(`${row.href ?? CALLBACK}?${row.query.replaceAll('STATE', FLOW.state)}`);
    const decision = decideCallback(rt, request, row.cookies(rt));
    expect(outcome(decision)).toBe(row.expected);
    const answer = decision.kind === 'misdirected-callback' ? decision.answer : decision;
    const cleared = answer.kind === 'exchange-code' ? answer.spent : answer.kind === 'error' ? answer.cookies : [];
    expect(cookieSummary(cleared)).toEqual(row.spends.map((name) => `${name} cleared`));
  });

  it('hands the exchange the flow the state names, and offers to retry where the user was', async () => {
    const { rt } = await createRouteRuntime();
    const decision = decideCallback(rt, forwardRequest(`${CALLBACK}?code=c&state=${FLOW.state}`), own(rt));
    expect(decision).toMatchObject({ kind: 'exchange-code', flow: FLOW, configuration: rt.provider.current() });
    const refused = decideCallback(rt, forwardRequest(`${CALLBACK}?error=login_required&state=${FLOW.state}`), own(rt));
    expect(refused).toMatchObject({ retryUrl: FLOW.returnTo, detail: 'the identity provider answered "login_required"' });
  });

  it('offers the site’s root to retry when no login matches', async () => {
    const { rt } = await createRouteRuntime();
    expect(decideCallback(rt, forwardRequest(`${CALLBACK}?code=c`), jarOf())).toMatchObject({ retryUrl: 'https://app.example/' });
  });
});

describe('the callback: after the exchange', () => {
  const exchange = (rt: RouteRuntime['rt'], flow: LoginFlow): CodeExchange => {
    const decision = decideCallback(rt, forwardRequest(`${CALLBACK}?code=c&state=${flow.state}`), own(rt, flow));
    if (decision.kind !== 'exchange-code') throw new Error(outcome(decision));
    return decision;
  };

  it.each([
    { facts: 'a login started anywhere', flow: { ...FLOW, viaLoginUrl: false }, postLogin: '/home', expected: FLOW.returnTo },
    { facts: 'a login started at loginUrl, with postLoginRedirectUrl', flow: { ...FLOW, viaLoginUrl: true }, postLogin: '/home', expected: 'https://app.example/home' },
    { facts: 'a login started at loginUrl, without postLoginRedirectUrl', flow: { ...FLOW, viaLoginUrl: true }, postLogin: undefined, expected: FLOW.returnTo },
  ])('$facts → back to $expected, the state cookie cleared before the session cookie is set', async ({ flow, postLogin, expected }) => {
    const { rt } = await createRouteRuntime({ middleware: { loginUrl: '/login', postLoginRedirectUrl: postLogin } });
    const answer = completedLogin(rt, exchange(rt, flow), ['test-session=v']);
    expect(answer).toEqual({ kind: 'redirect', purpose: 'callback', location: expected, cookies: [expect.stringMatching(/^test-state\..*Max-Age=0/), 'test-session=v'] });
  });

  it.each([
    { facts: 'a replayed code', error: new OfaError('OFA_CALLBACK_CODE_REJECTED', 'the provider refused the code (invalid_grant)'), code: 'OFA_CALLBACK_CODE_REJECTED' },
    { facts: 'a bad ID token', error: new OfaError('OFA_ID_TOKEN_INVALID', 'ID token rejected: "nonce" does not match this login'), code: 'OFA_ID_TOKEN_INVALID' },
    { facts: 'a deadline passed', error: new OfaError('OFA_PROVIDER_TIMEOUT', 'late'), code: 'OFA_PROVIDER_TIMEOUT' },
    { facts: 'claims too large to keep', error: new OfaError('OFA_SESSION_TOO_LARGE', 'too big'), code: 'OFA_SESSION_TOO_LARGE' },
    { facts: 'an unexpected error', error: new Error('secret-bearing internal message'), code: 'OFA_INTERNAL' },
  ])('$facts → an error page $code, the state spent, retry where the user was', async ({ error, code }) => {
    const { rt } = await createRouteRuntime();
    const answer = failedLogin(exchange(rt, FLOW), error);
    expect(answer).toMatchObject({ kind: 'error', code, retryUrl: FLOW.returnTo });
    if (answer.kind !== 'error') throw new Error(answer.kind);
    expect(cookieSummary(answer.cookies)).toEqual([`${ownName} cleared`]);
    expect(answer.detail).not.toContain('secret-bearing');
  });
});

describe('the callback: the route, with the token endpoint answered in process', () => {
  const now = Math.floor(Date.now() / 1000);
  let keys: ProviderKeys | undefined;
  const providerKeys = async (): Promise<ProviderKeys> => (keys ??= await createProviderKeys());
  const flow = loginFlow({ state: 'state-of-a-live-login-0123456789abcdefghijklmn', nonce: 'nonce-of-a-live-login', createdAt: now - 5 });
  const tokenResponse = async (): Promise<Response> => {
    const idToken = await (await providerKeys()).sign({ iss: ISSUER, aud: 'forward-auth', sub: 'alice', sid: 'sid-9', nonce: flow.nonce, iat: now, exp: now + 300 });
    return Response.json({ token_type: 'Bearer', access_token: 'opaque-access', id_token: idToken, refresh_token: 'refresh-1', expires_in: 300 });
  };
  const callback = (rt: RouteRuntime['rt']) =>
    handleCallback(rt, forwardRequest(`${CALLBACK}?code=the-code&state=${flow.state}`, { nowSeconds: now }), jarOf(flowCookie(rt, flow)));

  it('keeps a session for a good code and sends the browser back, marked as a callback answer', async () => {
    const { rt, store, events, logs } = await createRouteRuntime({ keys: await providerKeys(), providerFetch: tokenResponse });
    const answer = await callback(rt);
    expect(answer).toMatchObject({ kind: 'redirect', purpose: 'callback', location: flow.returnTo, callback: true });
    if (answer.kind !== 'redirect') throw new Error(answer.kind);
    const created = store.calls[0];
    if (created?.op !== 'create') throw new Error('no session created');
    expect(created.session).toMatchObject({ issuer: ISSUER, subject: 'alice', providerSid: 'sid-9', refreshToken: 'refresh-1', createdAt: now, expiresAt: now + 86400 });
    expect(created.session.idToken).toBeUndefined();
    expect(cookieSummary(answer.cookies)).toEqual([`${flowCookieName('test-state', flow.state)} cleared`, 'test-session']);
    expect(events).toEqual(['created']);
    expect(logs.records.at(-1)).toMatchObject({ msg: 'login completed', subject: 'alice' });
    expect(logs.text()).not.toContain('the-code');
  });

  it('keeps the ID token for logout’s hint when the provider has an end_session_endpoint', async () => {
    const { rt, store } = await createRouteRuntime({ keys: await providerKeys(), providerFetch: tokenResponse, metadata: { end_session_endpoint: `${ISSUER}/logout` } });
    await callback(rt);
    expect(store.calls[0]?.op === 'create' && store.calls[0].session.idToken).toMatch(/^ey/);
  });

  it('answers a replayed code (invalid_grant) with an error page, keeping no session', async () => {
    const refused = async (): Promise<Response> => Response.json({ error: 'invalid_grant', error_description: 'grant request is invalid' }, { status: 400 });
    const { rt, store, events, logs } = await createRouteRuntime({ keys: await providerKeys(), providerFetch: refused });
    expect(await callback(rt)).toMatchObject({ kind: 'error', code: 'OFA_CALLBACK_CODE_REJECTED', callback: true });
    expect(store.calls).toEqual([]);
    expect(events).toEqual([]);
    expect(logs.warnings().map((r) => r.code)).toEqual(['OFA_CALLBACK_CODE_REJECTED']);
  });

  it('gives up at the callback deadline with OFA_PROVIDER_TIMEOUT', async () => {
    const { rt } = await createRouteRuntime({ keys: await providerKeys(), providerFetch: () => new Promise<Response>(() => undefined), callbackDeadlineMs: 20 });
    expect(await callback(rt)).toMatchObject({ kind: 'error', code: 'OFA_PROVIDER_TIMEOUT' });
  });

  it('lets a store that cannot keep the session fail as an outage, for the dispatcher’s 503', async () => {
    const { rt, store } = await createRouteRuntime({ keys: await providerKeys(), providerFetch: tokenResponse });
    store.create = async () => {
      throw new OfaError('OFA_STORE_UNAVAILABLE', 'down');
    };
    await expect(callback(rt)).rejects.toMatchObject({ code: 'OFA_STORE_UNAVAILABLE' });
  });

  it('logs which callback arrived at another host, without its code or state', async () => {
    const { rt, logs } = await createRouteRuntime();
    const answer = await handleCallback(rt, forwardRequest(`https://other.example/callback?code=the-code&state=${FLOW.state}`), own(rt));
    expect(answer).toMatchObject({ kind: 'error', code: 'OFA_CALLBACK_STATE_MISMATCH', callback: true });
    expect(logs.warnings()).toEqual([expect.objectContaining({ host: 'other.example', msg: 'callback for another host or path than the login was started for' })]);
    expect(logs.text()).not.toContain('the-code');
    expect(logs.text()).not.toContain(FLOW.state);
  });
});
