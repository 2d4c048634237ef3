/**
 * What a script or CLI holds when it calls an API with `Authorization: Bearer …`: tokens from its
 * own authorization-code flow at the dev provider (a user signing in once, as a CLI's browser
 * hand-off does), and the provider's revocation endpoint.
 */
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'undici';
import { completeLogin, TEST_APP_ORIGIN, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type DevProvider } from './op.js';

export interface ScriptTokens {
  readonly accessToken: string;
  readonly idToken: string;
}

export interface ScriptClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUri: string;
}

export const TEST_SCRIPT_CLIENT: ScriptClient = Object.freeze({
  clientId: TEST_CLIENT_ID,
  clientSecret: TEST_CLIENT_SECRET,
  redirectUri: `${TEST_APP_ORIGIN}/callback`,
});

function basic(client: ScriptClient): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(client.clientId)}:${encodeURIComponent(client.clientSecret)}`).toString('base64')}`;
}

export async function obtainScriptTokens(op: DevProvider, user = 'alice', client: ScriptClient = TEST_SCRIPT_CLIENT): Promise<ScriptTokens> {
  const verifier = randomBytes(32).toString('base64url');
  const authorize = new URL(`${op.issuer}/auth`);
  authorize.search = new URLSearchParams({
    client_id: client.clientId,
    redirect_uri: client.redirectUri,
    response_type: 'code',
    scope: 'openid',
    state: randomBytes(16).toString('base64url'),
    nonce: randomBytes(16).toString('base64url'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }).toString();
  const callback = new URL(await completeLogin(authorize.href, { user }));
  const response = await request(`${op.issuer}/token`, {
    method: 'POST',
    headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code') ?? '',
      redirect_uri: client.redirectUri,
      code_verifier: verifier,
    }).toString(),
  });
  const body = (await response.body.json()) as { access_token?: unknown; id_token?: unknown };
  if (response.statusCode !== 200 || typeof body.access_token !== 'string' || typeof body.id_token !== 'string') {
    throw new Error(`the provider's token endpoint answered ${response.statusCode} without tokens`);
  }
  return { accessToken: body.access_token, idToken: body.id_token };
}

export async function revokeAtProvider(op: DevProvider, token: string, client: ScriptClient = TEST_SCRIPT_CLIENT): Promise<void> {
  const response = await request(`${op.issuer}/token/revocation`, {
    method: 'POST',
    headers: { authorization: basic(client), 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
  });
  await response.body.text();
  if (response.statusCode !== 200) throw new Error(`the provider's revocation endpoint answered ${response.statusCode}`);
}
