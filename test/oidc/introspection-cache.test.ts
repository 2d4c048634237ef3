import { randomBytes } from 'node:crypto';
import * as client from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isOfaError } from '../../src/errors.js';
import { cacheLifetime, createIntrospectionCache, introspectAccessToken } from '../../src/oidc/introspection.js';
import { bearerTokenOf, bearerTokenShape } from '../../src/oidc/access-token.js';
import { sendJson, startScriptedServer, type ScriptedServer } from '../support/scripted-server.js';

describe('cacheLifetime', () => {
  const now = 1_000_000;
  it('is cacheSeconds for a token far from its exp, or without one', () => {
    expect(cacheLifetime({ exp: now + 3600 }, 30, now)).toBe(30);
    expect(cacheLifetime({}, 30, now)).toBe(30);
    expect(cacheLifetime(undefined, 30, now)).toBe(30);
  });
  it('never outlives the token', () => {
    expect(cacheLifetime({ exp: now + 10 }, 30, now)).toBe(10);
    expect(cacheLifetime({ exp: now - 5 }, 30, now)).toBe(0);
  });
  it('is zero when caching is off', () => {
    expect(cacheLifetime({ exp: now + 3600 }, 0, now)).toBe(0);
  });
});

describe('bearerTokenOf', () => {
  it('takes the token of a Bearer header, the scheme in any case', () => {
    expect(bearerTokenOf('Bearer abc.def-_~+/=')).toEqual({ token: 'abc.def-_~+/=' });
    expect(bearerTokenOf('bEaReR   xyz')).toEqual({ token: 'xyz' });
  });
  it('leaves other schemes alone and calls a broken bearer header malformed', () => {
    expect(bearerTokenOf(undefined)).toBeUndefined();
    expect(bearerTokenOf('Basic dXNlcjpwYXNz')).toBeUndefined();
    expect(bearerTokenOf('Bearertoken')).toBeUndefined();
    expect(bearerTokenOf('Bearer')).toEqual({ malformed: true });
    expect(bearerTokenOf('Bearer a b')).toEqual({ malformed: true });
    expect(bearerTokenOf('Bearer a"b')).toEqual({ malformed: true });
  });
  it('tells a JWS from an opaque handle', () => {
    expect(bearerTokenShape('eyJhbGciOiJSUzI1NiJ9.e30.c2ln')).toBe('jwt');
    expect(bearerTokenShape('a.b.c')).toBe('opaque');
    expect(bearerTokenShape('opaque-handle')).toBe('opaque');
  });
});

describe('the cache of refused tokens', () => {
  const API = 'https://api.example.test';
  const GOOD = 'good-token-0123456789';
  let provider: ScriptedServer;
  let configuration: client.Configuration;

  beforeAll(async () => {
    // A provider that knows one token; every other is inactive.
    provider = await startScriptedServer((request, res) => {
      const token = new URLSearchParams(request.body).get('token');
      sendJson(res, 200, token === GOOD ? { active: true, sub: 'alice', aud: API } : { active: false });
    });
    configuration = new client.Configuration({ issuer: provider.url, introspection_endpoint: `${provider.url}/introspect` }, 'forward-auth', 'client-secret');
    client.allowInsecureRequests(configuration);
  });
  afterAll(async () => {
    await provider?.stop();
  });

  it('keeps refused tokens apart, so a run of made-up tokens does not evict the answer for a good one', async () => {
    const cache = createIntrospectionCache(2, { refusedEntries: 2 });
    const expected = { issuer: provider.url, audiences: [API], clientsWithoutAudience: [], cacheSeconds: 30, nowSeconds: 1_000_000 };
    await introspectAccessToken(configuration, cache, GOOD, expected);
    expect(provider.requests.length).toBe(1);
    for (let i = 0; i < 5; i += 1) {
      const refusal = await introspectAccessToken(configuration, cache, randomBytes(16).toString('base64url'), expected).catch((error: unknown) => error);
      expect(isOfaError(refusal) && refusal.code).toBe('OFA_BEARER_TOKEN_INVALID');
    }
    expect(provider.requests.length).toBe(6);
    await introspectAccessToken(configuration, cache, GOOD, expected);
    expect(provider.requests.length).toBe(6);
  });
});
