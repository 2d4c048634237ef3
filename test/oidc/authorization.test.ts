import { createHash } from 'node:crypto';
import { Configuration } from 'openid-client';
import { describe, expect, it } from 'vitest';
import { buildAuthorizationRequest } from '../../src/oidc/authorization.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';

const ISSUER = 'https://idp.example';
const configuration = new Configuration({ issuer: ISSUER, authorization_endpoint: `${ISSUER}/authorize`, token_endpoint: `${ISSUER}/token` }, 'forward-auth', 'secret');
const REDIRECT = 'https://app.example/callback';
/** 32 random bytes in base64url, no padding (RFC 7636 §4.1 asks 43 to 128 characters of this alphabet). */
const SECRET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

describe('the authorization request of one login', () => {
  it('carries a state, a nonce and a PKCE verifier of 32 random bytes each, all different, and the S256 challenge of that verifier', async () => {
    const request = await buildAuthorizationRequest(configuration, makeMiddlewareConfig({ pkce: true }), REDIRECT);

    expect(request.state).toMatch(SECRET_SHAPE);
    expect(request.nonce).toMatch(SECRET_SHAPE);
    expect(request.codeVerifier).toMatch(SECRET_SHAPE);
    expect(new Set([request.state, request.nonce, request.codeVerifier]).size).toBe(3);
    const params = request.url.searchParams;
    expect(params.get('state')).toBe(request.state);
    expect(params.get('nonce')).toBe(request.nonce);
    expect(params.get('code_challenge_method')).toBe('S256');
    // RFC 7636 §4.2, computed here the long way round.
    expect(params.get('code_challenge')).toBe(createHash('sha256').update(Buffer.from(request.codeVerifier ?? '', 'ascii')).digest('base64url'));
  });

  it('never repeats a value across logins', async () => {
    const middleware = makeMiddlewareConfig({ pkce: true });
    const seen = new Set<string>();
    for (let i = 0; i < 200; i += 1) {
      const request = await buildAuthorizationRequest(configuration, middleware, REDIRECT);
      for (const value of [request.state, request.nonce, request.codeVerifier ?? '']) seen.add(value);
    }
    expect(seen.size).toBe(600);
  });

  it('sends no challenge and keeps no verifier without PKCE', async () => {
    const request = await buildAuthorizationRequest(configuration, makeMiddlewareConfig({ pkce: false }), REDIRECT);

    expect(request.codeVerifier).toBeUndefined();
    expect(request.url.searchParams.has('code_challenge')).toBe(false);
    expect(request.url.searchParams.has('code_challenge_method')).toBe(false);
    expect(request.state).toMatch(SECRET_SHAPE);
  });
});
