import * as client from 'openid-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { ProviderClient } from '../../src/oidc/discovery.js';
import { jwtVerify } from 'jose';
import { providerKeySet } from '../../src/oidc/jwks.js';
import { createCookieJar } from './cookie-jar.js';
import { readyProviderClient } from './provider-client.js';
import { makeMiddlewareConfig } from './middleware-config.js';
import { LoginFlowError, TEST_APP_ORIGIN, TEST_CLIENT_ID, completeLogin, startTestProvider, type DevProvider } from './op.js';

const REDIRECT_URI = `${TEST_APP_ORIGIN}/callback`;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function provider(options: Parameters<typeof startTestProvider>[0] = {}): Promise<{ op: DevProvider; providerClient: ProviderClient; config: client.Configuration }> {
  const op = await startTestProvider(options);
  cleanups.push(() => op.stop());
  const { providerClient, stop } = await readyProviderClient(makeMiddlewareConfig({ issuer: op.issuer }));
  cleanups.push(stop);
  const config = providerClient.current();
  if (config === undefined) throw new Error('not discovered');
  return { op, providerClient, config };
}

function authorizationUrl(config: client.Configuration, extra: Record<string, string> = {}): { url: string; state: string; nonce: string } {
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, { redirect_uri: REDIRECT_URI, scope: 'openid', state, nonce, ...extra });
  return { url: url.href, state, nonce };
}

describe('the dev provider and completeLogin', () => {
  it('signs alice in and sends the browser to our callback with code, state and iss', async () => {
    const { op, config } = await provider();
    const { url, state, nonce } = authorizationUrl(config);
    const callback = new URL(await completeLogin(url, { user: 'alice' }));
    expect(callback.origin + callback.pathname).toBe(REDIRECT_URI);
    expect(callback.searchParams.get('state')).toBe(state);
    expect(callback.searchParams.get('iss')).toBe(op.issuer);
    expect(callback.searchParams.get('code')).toBeTruthy();

    const tokens = await client.authorizationCodeGrant(config, callback, { expectedState: state, expectedNonce: nonce });
    const claims = tokens.claims();
    expect(claims?.sub).toBe('alice');
    expect(claims?.aud).toBe(TEST_CLIENT_ID);
    expect(claims?.groups).toEqual(['admin', 'dev']);
    expect(claims?.email).toBe('alice@example.com');
    expect(tokens.refresh_token).toBeTruthy();
  });

  it('releases bob his own claims', async () => {
    const { config } = await provider();
    const { url, state, nonce } = authorizationUrl(config);
    const tokens = await client.authorizationCodeGrant(config, new URL(await completeLogin(url, { user: 'bob' })), {
      expectedState: state,
      expectedNonce: nonce,
    });
    expect(tokens.claims()?.groups).toEqual(['dev']);
  });

  it('skips the login form, and consent even when asked for, once the provider session and grant exist', async () => {
    const { config } = await provider();
    const jar = createCookieJar();
    await completeLogin(authorizationUrl(config).url, { user: 'alice', jar });
    const again = authorizationUrl(config, { prompt: 'consent' });
    const callback = new URL(await completeLogin(again.url, { user: 'nobody-typed-this', jar }));
    expect(callback.searchParams.get('state')).toBe(again.state);
    expect(callback.searchParams.get('code')).toBeTruthy();
  });

  it('returns error=access_denied to our callback when the user cancels', async () => {
    const { config } = await provider();
    const { url, state } = authorizationUrl(config);
    const callback = new URL(await completeLogin(url, { deny: true }));
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(state);
  });

  it('fails loudly on a wrong password', async () => {
    const { config } = await provider();
    await expect(completeLogin(authorizationUrl(config).url, { user: 'alice', password: 'nope' })).rejects.toBeInstanceOf(LoginFlowError);
  });

  it('serves an issuer with a path, Keycloak-style', async () => {
    const { op, config } = await provider({ issuerPath: '/realms/demo' });
    expect(op.issuer).toMatch(/\/realms\/demo$/);
    expect(config.serverMetadata().token_endpoint).toBe(`${op.issuer}/token`);
    const { url, state, nonce } = authorizationUrl(config);
    const tokens = await client.authorizationCodeGrant(config, new URL(await completeLogin(url)), { expectedState: state, expectedNonce: nonce });
    expect(tokens.claims()?.iss).toBe(op.issuer);
  });

  it('issues JWT access tokens with the user claims when asked, verifiable with the provider keys', async () => {
    const { op, config, providerClient } = await provider({ jwtAccessTokens: true });
    const { url, state, nonce } = authorizationUrl(config);
    const tokens = await client.authorizationCodeGrant(config, new URL(await completeLogin(url)), { expectedState: state, expectedNonce: nonce });
    const { payload } = await jwtVerify(tokens.access_token, providerKeySet(providerClient), { algorithms: ['RS256'], issuer: op.issuer, ...(op.resource === undefined ? {} : { audience: op.resource }) });
    expect(payload.sub).toBe('alice');
    expect(payload.groups).toEqual(['admin', 'dev']);
    expect(payload.client_id).toBe(TEST_CLIENT_ID);
  });

  it('issues opaque access tokens by default', async () => {
    const { config } = await provider();
    const { url, state, nonce } = authorizationUrl(config);
    const tokens = await client.authorizationCodeGrant(config, new URL(await completeLogin(url)), { expectedState: state, expectedNonce: nonce });
    expect(tokens.access_token.split('.')).toHaveLength(1);
  });

  it('rotates refresh tokens when asked, refusing the used one', async () => {
    const { config } = await provider({ rotateRefreshToken: true });
    const { url, state, nonce } = authorizationUrl(config);
    const tokens = await client.authorizationCodeGrant(config, new URL(await completeLogin(url)), { expectedState: state, expectedNonce: nonce });
    const first = tokens.refresh_token ?? '';
    const refreshed = await client.refreshTokenGrant(config, first);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(first);
    expect(refreshed.claims()?.sub).toBe('alice');
    await expect(client.refreshTokenGrant(config, first)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('applies ttl overrides to the tokens it issues', async () => {
    const { config } = await provider({ ttl: { AccessToken: 120, IdToken: 90 } });
    const { url, state, nonce } = authorizationUrl(config);
    const tokens = await client.authorizationCodeGrant(config, new URL(await completeLogin(url)), { expectedState: state, expectedNonce: nonce });
    expect(tokens.expires_in).toBe(120);
    const claims = tokens.claims();
    expect((claims?.exp ?? 0) - (claims?.iat ?? 0)).toBe(90);
  });

  it('advertises end-session and back-channel logout', async () => {
    const { config } = await provider();
    const metadata = config.serverMetadata();
    expect(metadata.end_session_endpoint).toMatch(/\/session\/end$/);
    expect(metadata.backchannel_logout_supported).toBe(true);
  });
});
