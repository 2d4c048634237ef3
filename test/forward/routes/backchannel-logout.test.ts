import type { IncomingHttpHeaders } from 'node:http';
import type { JWTPayload } from 'jose';
import { describe, expect, it } from 'vitest';
import type { Answer } from '../../../src/forward/answer.js';
import {
  decideBackchannelLogout,
  handleBackchannelLogout,
  sessionsToEnd,
  type VerifyLogoutToken,
} from '../../../src/forward/routes/backchannel-logout.js';
import type { LogoutTarget } from '../../../src/oidc/logout-token.js';
import { createProviderKeys, createRouteRuntime, forwardRequest, ISSUER, NOW_SECONDS, type ProviderKeys } from './route-runtime.js';

const URL_ = 'https://auth.example/backchannel-logout';
const FORM: IncomingHttpHeaders = { 'content-type': 'application/x-www-form-urlencoded' };
const EVENTS = { 'http://schemas.openid.net/event/backchannel-logout': {} };

function outcome(decision: Answer | VerifyLogoutToken): string {
  if (decision.kind === 'verify-logout-token') return 'verify the token';
  if (decision.kind === 'backchannel-logout') return `${decision.status}: ${decision.reason}`;
  if (decision.kind === 'unavailable') return `503 ${decision.code}`;
  return decision.kind;
}

const form = (body: string): Buffer => Buffer.from(body, 'utf8');

interface Row {
  readonly facts: string;
  readonly method?: string;
  readonly headers?: IncomingHttpHeaders;
  readonly body?: Buffer;
  readonly discovered?: boolean;
  readonly expected: string;
}

const rows: Row[] = [
  { facts: 'a POST with one logout_token', body: form('logout_token=a.b.c'), expected: 'verify the token' },
  { facts: 'a form content type with a charset', headers: { 'content-type': 'Application/X-WWW-Form-Urlencoded; charset=UTF-8' }, body: form('logout_token=a.b.c'), expected: 'verify the token' },
  { facts: 'a GET', method: 'GET', body: form('logout_token=a.b.c'), expected: '405: back-channel logout accepts only POST' },
  { facts: 'a JSON body', headers: { 'content-type': 'application/json' }, body: form('{"logout_token":"a.b.c"}'), expected: '400: the body must be application/x-www-form-urlencoded' },
  { facts: 'no content type', headers: {}, body: form('logout_token=a.b.c'), expected: '400: the body must be application/x-www-form-urlencoded' },
  { facts: 'no body', expected: '400: the body is empty' },
  { facts: 'an empty body', body: form(''), expected: '400: the body is empty' },
  { facts: 'a form without logout_token', body: form('token=a.b.c'), expected: '400: logout_token is missing' },
  { facts: 'logout_token twice', body: form('logout_token=a.b.c&logout_token=d.e.f'), expected: '400: logout_token is repeated' },
  { facts: 'an empty logout_token', body: form('logout_token='), expected: '400: logout_token is empty' },
  { facts: 'a provider not discovered yet', body: form('logout_token=a.b.c'), discovered: false, expected: '503 OFA_PROVIDER_UNAVAILABLE' },
  { facts: 'a GET while the provider is undiscovered', method: 'GET', discovered: false, expected: '405: back-channel logout accepts only POST' },
];

describe('back-channel logout: the decision', () => {
  it.each(rows)('$facts → $expected', async (row) => {
    const { rt } = await createRouteRuntime({ ...(row.discovered === undefined ? {} : { discovered: row.discovered }) });
    const request = forwardRequest(URL_, {
      method: row.method ?? 'POST',
      headers: row.headers ?? FORM,
      ...(row.body === undefined ? {} : { body: row.body }),
    });
    expect(outcome(decideBackchannelLogout(rt, request))).toBe(row.expected);
  });

  it('expects the discovered issuer, our client, the provider’s asymmetric algorithms and the configured sid requirement', async () => {
    const { rt } = await createRouteRuntime({
      middleware: { backchannelLogoutSessionsRequired: true },
      metadata: { id_token_signing_alg_values_supported: ['RS256', 'HS256'] },
    });
    const decision = decideBackchannelLogout(rt, forwardRequest(URL_, { method: 'POST', headers: FORM, body: form('logout_token=a.b.c') }));
    expect(decision).toEqual({
      kind: 'verify-logout-token',
      token: 'a.b.c',
      expectations: { issuer: ISSUER, clientID: 'forward-auth', algorithms: ['RS256'], sessionRequired: true, nowSeconds: NOW_SECONDS },
    });
  });
});

describe('back-channel logout: what a verified token ends', () => {
  const target = (overrides: Partial<LogoutTarget>): LogoutTarget => ({
    issuer: ISSUER,
    jti: 'jti-1',
    sid: undefined,
    sub: undefined,
    rememberUntil: NOW_SECONDS + 150,
    issuedBySeconds: NOW_SECONDS - 10 + 30,
    ...overrides,
  });
  const nowMs = NOW_SECONDS * 1000 + 250;

  it.each([
    { facts: 'a sid', target: target({ sid: 'sid-1', sub: 'alice' }), revoke: { by: 'sid', issuer: ISSUER, sid: 'sid-1' } },
    {
      facts: 'only a sub, issued before now (plus skew)',
      target: target({ sub: 'alice', issuedBySeconds: NOW_SECONDS - 5 }),
      revoke: { by: 'sub', issuer: ISSUER, subject: 'alice', cutoffSeconds: NOW_SECONDS - 5 },
    },
    {
      facts: 'only a sub, its iat plus skew after now: cut at now, to the millisecond',
      target: target({ sub: 'alice', issuedBySeconds: NOW_SECONDS + 20 }),
      revoke: { by: 'sub', issuer: ISSUER, subject: 'alice', cutoffSeconds: NOW_SECONDS + 0.25 },
    },
  ])('$facts → revoke by $revoke.by, and remember the jti until the token expires by itself', ({ target: t, revoke }) => {
    expect(sessionsToEnd(t, nowMs)).toEqual({ revoke, record: { issuer: ISSUER, jti: 'jti-1', untilSeconds: NOW_SECONDS + 150 } });
  });
});

describe('back-channel logout: the route', () => {
  let keys: ProviderKeys | undefined;
  const providerKeys = async (): Promise<ProviderKeys> => (keys ??= await createProviderKeys());
  const logoutToken = async (claims: JWTPayload, typ = 'logout+jwt'): Promise<string> =>
    (await providerKeys()).sign({ iss: ISSUER, aud: 'forward-auth', iat: NOW_SECONDS - 5, exp: NOW_SECONDS + 115, jti: 'jti-1', events: EVENTS, ...claims }, typ);
  const post = (token: string) => forwardRequest(URL_, { method: 'POST', headers: FORM, body: form(`logout_token=${token}`) });

  it('ends the provider session a token names by sid, remembers its jti, counts one logout', async () => {
    const { rt, store, events } = await createRouteRuntime({ keys: await providerKeys() });
    const answer = await handleBackchannelLogout(rt, post(await logoutToken({ sid: 'sid-1', sub: 'alice' })));
    expect(answer).toEqual({ kind: 'backchannel-logout', status: 200, reason: '' });
    expect(store.calls).toEqual([
      { op: 'revokeProviderSession', issuer: ISSUER, sid: 'sid-1' },
      { op: 'recordLogoutToken', issuer: ISSUER, jti: 'jti-1' },
    ]);
    expect(events).toEqual(['ended_by_backchannel_logout']);
  });

  it('ends the user’s sessions up to the token’s issue when it names only sub', async () => {
    const { rt, store } = await createRouteRuntime({ keys: await providerKeys() });
    await handleBackchannelLogout(rt, post(await logoutToken({ sub: 'alice' })));
    expect(store.calls[0]).toEqual({ op: 'revokeSubject', issuer: ISSUER, subject: 'alice', cutoffSeconds: NOW_SECONDS });
  });

  it('refuses a replay with 400 after revoking again, so a retry after a store failure still takes effect', async () => {
    const { rt, store, events } = await createRouteRuntime({ keys: await providerKeys() });
    const token = await logoutToken({ sid: 'sid-1' });
    await handleBackchannelLogout(rt, post(token));
    const again = await handleBackchannelLogout(rt, post(token));
    expect(again).toEqual({ kind: 'backchannel-logout', status: 400, reason: 'logout token was already used' });
    expect(store.calls.map((c) => c.op)).toEqual(['revokeProviderSession', 'recordLogoutToken', 'revokeProviderSession', 'recordLogoutToken']);
    expect(events).toEqual(['ended_by_backchannel_logout']);
  });

  it.each([
    { facts: 'an ID token (it carries a nonce)', claims: { sid: 'sid-1', nonce: 'n' }, typ: 'JWT' },
    { facts: 'a token for another client', claims: { sid: 'sid-1', aud: 'someone-else' }, typ: 'logout+jwt' },
    { facts: 'a token without the logout event', claims: { sid: 'sid-1', events: {} }, typ: 'logout+jwt' },
    { facts: 'a token naming neither sid nor sub', claims: {}, typ: 'logout+jwt' },
    { facts: 'an expired token', claims: { sid: 'sid-1', iat: NOW_SECONDS - 400, exp: NOW_SECONDS - 200 }, typ: 'logout+jwt' },
  ])('refuses $facts with 400, ending nothing and logging why without the token', async ({ claims, typ }) => {
    const { rt, store, events, logs } = await createRouteRuntime({ keys: await providerKeys() });
    const token = await logoutToken(claims, typ);
    const answer = await handleBackchannelLogout(rt, post(token));
    expect(answer).toMatchObject({ kind: 'backchannel-logout', status: 400 });
    expect(store.calls).toEqual([]);
    expect(events).toEqual([]);
    expect(logs.records.map((r) => r.msg)).toEqual(['refused a back-channel logout token']);
    expect(logs.text()).not.toContain(token.split('.')[1]);
  });

  it('refuses a token signed by another key', async () => {
    const { rt, store } = await createRouteRuntime();
    const answer = await handleBackchannelLogout(rt, post(await logoutToken({ sid: 'sid-1' })));
    expect(answer).toMatchObject({ kind: 'backchannel-logout', status: 400 });
    expect(store.calls).toEqual([]);
  });
});
