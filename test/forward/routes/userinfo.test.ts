import { describe, expect, it } from 'vitest';
import type { Answer } from '../../../src/forward/answer.js';
import { answerUserinfo, decideUserinfo, userinfoAnswer, type CheckSessionFirst } from '../../../src/forward/routes/userinfo.js';
import type { LoadedSession } from '../../../src/session/store.js';
import { sampleSession } from '../../session/fixtures.js';
import { createRouteRuntime, forwardRequest, loaded } from './route-runtime.js';

const USERINFO = 'https://app.example/oauth/userinfo';
const SIGNED_IN = loaded(sampleSession());

function outcome(decision: Answer | CheckSessionFirst): string {
  if (decision.kind === 'check-session') return 'check the session';
  if (decision.kind === 'userinfo') return String(decision.status);
  return decision.kind;
}

describe('userinfo: the decision', () => {
  it.each([
    { method: 'GET', signed: 'signed in', session: SIGNED_IN, expected: 'check the session' },
    { method: 'HEAD', signed: 'signed in', session: SIGNED_IN, expected: 'check the session' },
    { method: 'GET', signed: 'signed out', session: undefined, expected: '401' },
    { method: 'HEAD', signed: 'signed out', session: undefined, expected: '401' },
    { method: 'POST', signed: 'signed in', session: SIGNED_IN, expected: '405' },
    { method: 'OPTIONS', signed: 'signed out', session: undefined, expected: '405' },
    { method: 'get', signed: 'signed in', session: SIGNED_IN, expected: '405' },
  ])('$method, $signed → $expected', ({ method, session, expected }) => {
    const decision = decideUserinfo(forwardRequest(USERINFO, { method }), session);
    expect(outcome(decision)).toBe(expected);
    if (decision.kind === 'check-session') expect(decision.loaded).toBe(session);
    else expect(decision).toMatchObject({ cookies: [] });
  });
});

describe('userinfo: the answer after the session check', () => {
  const allow = (headers: Record<string, string>, cookies: string[] = []): Answer => ({ kind: 'allow', headers, cookies, username: 'alice' });

  it('turns an allow into the forwardHeaders as JSON, UTF-8 decoded, and nothing else the allow carried', async () => {
    const { rt } = await createRouteRuntime({ middleware: { forwardHeaders: { 'X-Forwarded-User': 'name', 'X-Forwarded-Email': 'email' } } });
    const latin1 = Buffer.from('Zoë Ångström', 'utf8').toString('latin1');
    const answer = userinfoAnswer(rt, allow({ 'X-Forwarded-User': latin1, 'X-Forwarded-Email': 'z@example.com', 'X-Id-Token': 'secret-token' }, ['renewed=1']));
    expect(answer).toEqual({
      kind: 'userinfo',
      status: 200,
      identity: { 'X-Forwarded-User': 'Zoë Ångström', 'X-Forwarded-Email': 'z@example.com' },
      cookies: ['renewed=1'],
    });
  });

  it('leaves out a forwardHeaders entry the allow did not carry (the claim is absent)', async () => {
    const { rt } = await createRouteRuntime({ middleware: { forwardHeaders: { 'X-Forwarded-User': 'name', 'X-Forwarded-Email': 'email' } } });
    expect(userinfoAnswer(rt, allow({ 'X-Forwarded-User': 'alice' }))).toMatchObject({ identity: { 'X-Forwarded-User': 'alice' } });
  });

  it.each<Answer>([
    { kind: 'deny', code: 'OFA_CLAIMS_DENIED', reason: 'the claims rule refused', cookies: [] },
    { kind: 'redirect', purpose: 'renew', location: 'https://app.example/oauth/userinfo', cookies: ['s=1'] },
    { kind: 'unavailable', code: 'OFA_STORE_UNAVAILABLE', retryAfterSeconds: 5 },
  ])('lets a $kind from the session check stand', async (checked) => {
    const { rt } = await createRouteRuntime();
    expect(userinfoAnswer(rt, checked)).toBe(checked);
  });
});

describe('userinfo: the route', () => {
  it('asks the session check only for a GET or HEAD with a session', async () => {
    const { rt } = await createRouteRuntime({ middleware: { forwardHeaders: { 'X-Forwarded-User': 'sub' } } });
    const asked: LoadedSession[] = [];
    const check = async (found: LoadedSession): Promise<Answer> => {
      asked.push(found);
      return { kind: 'allow', headers: { 'X-Forwarded-User': 'user-1' }, cookies: [], username: 'user-1' };
    };
    expect(await answerUserinfo(rt, forwardRequest(USERINFO, { method: 'POST' }), SIGNED_IN, check)).toMatchObject({ status: 405 });
    expect(await answerUserinfo(rt, forwardRequest(USERINFO), undefined, check)).toMatchObject({ status: 401 });
    expect(asked).toEqual([]);
    expect(await answerUserinfo(rt, forwardRequest(USERINFO), SIGNED_IN, check)).toMatchObject({ status: 200, identity: { 'X-Forwarded-User': 'user-1' } });
    expect(asked).toEqual([SIGNED_IN]);
  });
});
