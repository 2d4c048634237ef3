import { describe, expect, it } from 'vitest';
import { accessTokenLeewaySeconds, applicationTokenHeaders, lacksPassedTokens, passedAccessTokenExpired } from '../../src/forward/application-tokens.js';
import { isCorsPreflight } from '../../src/forward/cors-preflight.js';
import type { Session } from '../../src/session/session.js';

const PASSING = { applicationTokens: { accessTokenHeader: 'Authorization', idTokenHeader: 'X-Id-Token' } };
const session = (overrides: Partial<Session>): Session => ({
  v: 1, id: 'A'.repeat(22), issuer: 'https://op', subject: 'alice', idClaims: {}, createdAt: 0, renewedAt: 0, expiresAt: 1000, ...overrides,
});

describe('isCorsPreflight', () => {
  const preflight = { origin: 'https://spa.example', 'access-control-request-method': 'PUT' };
  it('is an OPTIONS with Origin and Access-Control-Request-Method and no credentials', () => {
    expect(isCorsPreflight('OPTIONS', preflight)).toBe(true);
  });
  it('is nothing else', () => {
    expect(isCorsPreflight('GET', preflight)).toBe(false);
    expect(isCorsPreflight('options', preflight)).toBe(false);
    expect(isCorsPreflight('OPTIONS', { origin: 'https://spa.example' })).toBe(false);
    expect(isCorsPreflight('OPTIONS', { 'access-control-request-method': 'PUT' })).toBe(false);
    expect(isCorsPreflight('OPTIONS', { ...preflight, cookie: 'a=b' })).toBe(false);
    expect(isCorsPreflight('OPTIONS', { ...preflight, authorization: 'Bearer x' })).toBe(false);
    expect(isCorsPreflight('OPTIONS', { ...preflight, 'access-control-request-method': 'P U T' })).toBe(false);
  });
});

describe('application tokens', () => {
  it('writes Authorization as a Bearer credential and any other header as the bare token, empty when there is none', () => {
    expect(applicationTokenHeaders(PASSING, { accessToken: 'at', idToken: 'it' })).toEqual({ Authorization: 'Bearer at', 'X-Id-Token': 'it' });
    expect(applicationTokenHeaders(PASSING, {})).toEqual({ Authorization: '', 'X-Id-Token': '' });
    expect(applicationTokenHeaders({ applicationTokens: undefined }, { accessToken: 'at' })).toEqual({});
  });
  it('refreshes 30 s ahead only when the access token is passed', () => {
    expect(accessTokenLeewaySeconds(PASSING, 5)).toBe(30);
    expect(accessTokenLeewaySeconds({ applicationTokens: undefined }, 5)).toBe(5);
  });
  it('knows a session made before the option holds no token to pass', () => {
    expect(lacksPassedTokens(PASSING, session({ idToken: 'it' }))).toBe(true);
    expect(lacksPassedTokens(PASSING, session({ idToken: 'it', accessToken: 'at' }))).toBe(false);
    expect(lacksPassedTokens({ applicationTokens: undefined }, session({}))).toBe(false);
  });
  it('calls a passed access token expired from its expiry on, without leeway', () => {
    expect(passedAccessTokenExpired(PASSING, session({ accessTokenExpiresAt: 100 }), 99)).toBe(false);
    expect(passedAccessTokenExpired(PASSING, session({ accessTokenExpiresAt: 100 }), 100)).toBe(true);
    expect(passedAccessTokenExpired({ applicationTokens: undefined }, session({ accessTokenExpiresAt: 100 }), 200)).toBe(false);
  });
});
