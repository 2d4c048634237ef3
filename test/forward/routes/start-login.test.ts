import type { IncomingHttpHeaders } from 'node:http';
import { Configuration } from 'openid-client';
import { describe, expect, it } from 'vitest';
import type { Answer } from '../../../src/forward/answer.js';
import { decideLoginStart, loginRedirect, startLogin } from '../../../src/forward/routes/start-login.js';
import type { AuthorizationRequest } from '../../../src/oidc/authorization.js';
import { parseCookieHeader } from '../../../src/session/cookies.js';
import { findLoginFlow, flowCookieName, MAX_CONCURRENT_FLOWS } from '../../../src/session/state-cookie.js';
import type { MiddlewareOverrides } from '../../support/middleware-config.js';
import {
  cookieSummary,
  createRouteRuntime,
  flowCookie,
  forwardRequest,
  jarOf,
  loginFlow,
  NOW_SECONDS,
  PAGE_LOAD,
} from './route-runtime.js';

const STALE = ['test-session=; Max-Age=0; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax'];

/** What the decision says, in a word a table can hold. */
function outcome(decision: Answer | Configuration): string {
  if (decision instanceof Configuration) return 'go to the provider';
  if (decision.kind === 'deny') return `401: ${decision.reason}`;
  if (decision.kind === 'unavailable') return `503 ${decision.code}`;
  return decision.kind;
}

interface Row {
  readonly facts: string;
  readonly href?: string;
  readonly method?: string;
  readonly headers?: IncomingHttpHeaders;
  readonly middleware?: MiddlewareOverrides;
  readonly discovered?: boolean;
  readonly storeDown?: true;
  readonly expected: string;
}

const rows: Row[] = [
  { facts: 'a page load', headers: PAGE_LOAD, expected: 'go to the provider' },
  { facts: 'a page load in a frame', headers: { 'sec-fetch-mode': 'navigate', 'sec-fetch-dest': 'iframe' }, expected: 'go to the provider' },
  { facts: 'a page load from a browser without Fetch Metadata', headers: { accept: 'text/html,*/*' }, expected: 'go to the provider' },
  { facts: 'a HEAD page load', method: 'HEAD', headers: PAGE_LOAD, expected: 'go to the provider' },
  { facts: 'an API caller (fetch)', headers: { 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' }, expected: '401: not a page load' },
  { facts: 'an API caller (curl, JSON)', headers: { accept: 'application/json' }, expected: '401: not a page load' },
  { facts: 'an XMLHttpRequest', headers: { ...PAGE_LOAD, 'x-requested-with': 'XMLHttpRequest' }, expected: '401: not a page load' },
  { facts: 'an image', headers: { 'sec-fetch-mode': 'no-cors', 'sec-fetch-dest': 'image' }, expected: '401: not a page load' },
  { facts: 'a form POST', method: 'POST', headers: PAGE_LOAD, expected: '401: not a page load' },
  { facts: 'login disabled', headers: PAGE_LOAD, middleware: { disableLogin: true }, expected: '401: login is disabled' },
  {
    facts: 'a page load elsewhere than loginUrl',
    headers: PAGE_LOAD,
    middleware: { loginUrl: '/login' },
    expected: '401: login starts only at loginUrl',
  },
  {
    facts: 'a page load at loginUrl',
    href: 'https://app.example/login',
    headers: PAGE_LOAD,
    middleware: { loginUrl: '/login' },
    expected: 'go to the provider',
  },
  { facts: 'a provider not discovered yet', headers: PAGE_LOAD, discovered: false, expected: '503 OFA_PROVIDER_UNAVAILABLE' },
  { facts: 'a store that cannot keep the session', headers: PAGE_LOAD, storeDown: true, expected: '503 OFA_STORE_UNAVAILABLE' },
  { facts: 'an API caller while the provider is down', headers: { accept: 'application/json' }, discovered: false, expected: '401: not a page load' },
];

describe('starting a login: the decision', () => {
  it.each(rows)('$facts → $expected', async (row) => {
    const { rt, store } = await createRouteRuntime({
      ...(row.middleware === undefined ? {} : { middleware: row.middleware }),
      ...(row.discovered === undefined ? {} : { discovered: row.discovered }),
    });
    if (row.storeDown === true) store.available = false;
    const request = forwardRequest(row.href ?? 'https://app.example/page?x=1', {
      ...(row.method === undefined ? {} : { method: row.method }),
      ...(row.headers === undefined ? {} : { headers: row.headers }),
    });
    const decision = decideLoginStart(rt, request, STALE);
    expect(outcome(decision)).toBe(row.expected);
    if (!(decision instanceof Configuration) && decision.kind === 'deny') expect(decision.cookies).toBe(STALE);
  });

  it('goes ahead with the provider configuration it was given, not a copy', async () => {
    const { rt } = await createRouteRuntime();
    expect(decideLoginStart(rt, forwardRequest('https://app.example/', { headers: PAGE_LOAD }), [])).toBe(rt.provider.current());
  });
});

const authorization = (state: string): AuthorizationRequest => ({
  url: new URL(`https://idp.example/authorize?state=${state}`),
  state,
  nonce: `nonce-of-${state}`,
  codeVerifier: `verifier-of-${state}-${'v'.repeat(30)}`,
});

describe('starting a login: the redirect to the provider', () => {
  it('sends the browser to the authorization URL with the stale cookies cleared and the state cookie last', async () => {
    const { rt } = await createRouteRuntime();
    const request = forwardRequest('https://app.example/page?x=1#frag', { headers: PAGE_LOAD });
    const answer = loginRedirect(rt, request, jarOf(), STALE, authorization('s1'), 'https://app.example/callback');
    expect(answer).toMatchObject({ kind: 'redirect', purpose: 'login', location: 'https://idp.example/authorize?state=s1' });
    if (answer.kind !== 'redirect') throw new Error('not a redirect');
    expect(cookieSummary(answer.cookies)).toEqual(['test-session cleared', flowCookieName('test-state', 's1')]);
    expect(answer.cookies[1]).toMatch(/Max-Age=600; Path=\/; HttpOnly; SameSite=Lax$/);
  });

  it('seals the flow the callback will look for: state, nonce, verifier, return address without its fragment', async () => {
    const { rt } = await createRouteRuntime({ middleware: { loginUrl: '/login' } });
    const request = forwardRequest('https://app.example/login?next=1#frag', { headers: PAGE_LOAD });
    const answer = loginRedirect(rt, request, jarOf(), [], authorization('s2'), 'https://app.example/callback');
    if (answer.kind !== 'redirect') throw new Error('not a redirect');
    const jar = parseCookieHeader((answer.cookies[0] ?? '').split(';', 1)[0]);
    const found = findLoginFlow(rt.sealer, rt.config, 'test-state', jar, 's2', NOW_SECONDS, 600);
    expect(found?.flow).toEqual({
      state: 's2',
      nonce: 'nonce-of-s2',
      codeVerifier: `verifier-of-s2-${'v'.repeat(30)}`,
      returnTo: 'https://app.example/login?next=1',
      redirectUri: 'https://app.example/callback',
      viaLoginUrl: true,
      createdAt: NOW_SECONDS,
    });
  });

  it(`clears the oldest login in progress when a browser starts more than ${MAX_CONCURRENT_FLOWS}`, async () => {
    const { rt } = await createRouteRuntime();
    const held = [0, 1, 2, 3].map((i) => flowCookie(rt, loginFlow({ state: `held-${i}`, createdAt: NOW_SECONDS - 100 + i })));
    const answer = loginRedirect(rt, forwardRequest('https://app.example/', { headers: PAGE_LOAD }), jarOf(...held), [], authorization('s3'), 'https://app.example/callback');
    if (answer.kind !== 'redirect') throw new Error('not a redirect');
    expect(cookieSummary(answer.cookies)).toEqual([`${held[0]?.cookieName} cleared`, flowCookieName('test-state', 's3')]);
  });

  it('through nginx sends the state cookie alone: one Set-Cookie is all a subrequest passes on', async () => {
    const { rt } = await createRouteRuntime();
    const held = [0, 1, 2, 3].map((i) => flowCookie(rt, loginFlow({ state: `held-${i}`, createdAt: NOW_SECONDS - 100 + i })));
    const request = forwardRequest('https://app.example/', { headers: PAGE_LOAD, proxy: 'nginx' });
    const answer = loginRedirect(rt, request, jarOf(...held), STALE, authorization('s4'), 'https://app.example/callback');
    if (answer.kind !== 'redirect') throw new Error('not a redirect');
    // Too many flows: the new one takes over the oldest one's name, evicting it with the same cookie.
    expect(cookieSummary(answer.cookies)).toEqual([held[0]?.cookieName]);
  });
});

describe('starting a login: the route', () => {
  it('answers a page load with a 302 to the provider carrying state, nonce and the redirect_uri of this host', async () => {
    const { rt } = await createRouteRuntime({ middleware: { pkce: true } });
    const answer = await startLogin(rt, forwardRequest('https://app.example/page', { headers: PAGE_LOAD }), jarOf(), []);
    if (answer.kind !== 'redirect') throw new Error(`not a redirect: ${answer.kind}`);
    const location = new URL(answer.location);
    expect(location.origin + location.pathname).toBe('https://idp.example/authorize');
    expect(location.searchParams.get('redirect_uri')).toBe('https://app.example/callback');
    expect(location.searchParams.get('code_challenge_method')).toBe('S256');
    const state = location.searchParams.get('state') ?? '';
    expect(cookieSummary(answer.cookies)).toEqual([flowCookieName('test-state', state)]);
  });

  it('answers an error page, not a 503, when the configuration asks for PAR the provider does not offer', async () => {
    const { rt, logs } = await createRouteRuntime({ middleware: { pushedAuthorizationRequests: true } });
    const answer = await startLogin(rt, forwardRequest('https://app.example/page', { headers: PAGE_LOAD }), jarOf(), STALE);
    expect(answer).toMatchObject({ kind: 'error', code: 'OFA_PAR_REJECTED', retryUrl: 'https://app.example/page', cookies: STALE });
    expect(logs.warnings().map((r) => r.code)).toEqual(['OFA_PAR_REJECTED']);
  });

  it('lets a provider outage during PAR reach the dispatcher, which answers 503', async () => {
    const { rt } = await createRouteRuntime({
      middleware: { pushedAuthorizationRequests: true },
      metadata: { pushed_authorization_request_endpoint: 'https://idp.example/par' },
      providerFetch: async () => new Response('down', { status: 503 }),
    });
    await expect(startLogin(rt, forwardRequest('https://app.example/', { headers: PAGE_LOAD }), jarOf(), [])).rejects.toMatchObject({
      code: expect.stringMatching(/^OFA_PROVIDER_/),
    });
  });
});
