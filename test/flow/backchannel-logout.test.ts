/**
 * Back-channel logout (OpenID Connect Back-Channel Logout 1.0) against the real service and a real
 * oidc-provider, for the cookie store and the Redis store: a user who signs out at the provider
 * itself makes it POST a logout token, which ends her sessions here; every malformed, forged or
 * replayed token is refused without touching any session.
 *
 * The provider POSTs to a stand-in proxy on a loopback port, which passes the request on in one
 * of the two shapes the service accepts: Traefik's ForwardAuth with `forwardBody` and
 * `preserveRequestMethod` (the harness reproducing forward.go), or a direct route to
 * `/auth/NAME` with X-Forwarded-* set, as the nginx and Caddy recipes do.
 */
import { randomUUID } from 'node:crypto';
import { request, type Dispatcher } from 'undici';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar, type CookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import { makeMiddlewareConfig, type MiddlewareOverrides } from '../support/middleware-config.js';
import { completeLogin, signOutAtProvider, startTestProvider, TEST_APP_ORIGIN, TEST_CLIENT_SECRET, type DevClient, type DevProvider } from '../support/op.js';
import { makeRedisStoreConfig } from '../support/redis-service.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { startScriptedServer, type ScriptedServer } from '../support/scripted-server.js';
import { startService, type TestService } from '../support/service.js';

const APP = TEST_APP_ORIGIN;
const EVENT = 'http://schemas.openid.net/event/backchannel-logout';
const FORM = 'application/x-www-form-urlencoded';
const STORES = ['cookie', 'redis'] as const;
const SHAPES = ['traefik', 'direct'] as const;
type StoreKind = (typeof STORES)[number];
type Shape = (typeof SHAPES)[number];

/** Middlewares the provider's real logout tokens go to: one per store, shape and what the token names. */
const logoutName = (store: StoreKind, shape: Shape, by: 'sid' | 'sub'): string => `${store}-${shape}-${by}`;
/** Middlewares the hand-made requests go to: `sid` optional, and `sid` required. */
const checksName = (store: StoreKind, sidRequired: boolean): string => `${store}-checks${sidRequired ? '-sid' : ''}`;
/** The path the provider POSTs to at the proxy, and the middleware's backchannelLogoutUrl. */
const logoutPath = (name: string): string => `/${name}/backchannel-logout`;

let redis: RedisServer;
let proxy: ScriptedServer;
let op: DevProvider;
let service: TestService;
let providerKey: CryptoKey;
let providerKid: string;
let otherKey: CryptoKey;
const backchannelErrors: string[] = [];

interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: string;
}

interface SentRequest {
  readonly method?: string;
  readonly contentType?: string;
  readonly body?: string;
}

/**
 * What the proxy in front of the service does with a request for `${proxy}/NAME/backchannel-logout`,
 * answered with the service's own answer (status, headers, body).
 */
async function sendThrough(shape: Shape, name: string, sent: SentRequest): Promise<Answer> {
  const method = sent.method ?? 'POST';
  const headers: Record<string, string> = sent.contentType === undefined ? {} : { 'content-type': sent.contentType };
  if (shape === 'traefik') {
    const result = await forwardAuth(
      service.authAddress(name),
      { method, url: `${proxy.url}${logoutPath(name)}`, headers, ...(sent.body === undefined ? {} : { body: sent.body }) },
      createCookieJar(),
      { forwardBody: true, preserveRequestMethod: true },
    );
    return { status: result.status, headers: result.headers, body: result.body };
  }
  const response = await request(service.authAddress(name), {
    method: method as Dispatcher.HttpMethod,
    headers: {
      ...headers,
      'x-forwarded-proto': 'http',
      'x-forwarded-host': new URL(proxy.url).host,
      'x-forwarded-uri': logoutPath(name),
      'x-forwarded-method': method,
    },
    ...(sent.body === undefined ? {} : { body: sent.body }),
  });
  return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
}

const shapeOf = (name: string): Shape => (name.includes('-traefik-') ? 'traefik' : 'direct');
/** What the service answered to each request the provider sent through the proxy. */
const relayed: { readonly name: string; readonly token: string | null; readonly answer: Answer }[] = [];

function storeOverrides(store: StoreKind, name: string): Pick<MiddlewareOverrides, 'session'> {
  if (store === 'cookie') return {};
  const session = makeMiddlewareConfig({ name }).session;
  return {
    session: {
      ...session,
      store: {
        redis: makeRedisStoreConfig({ endpoints: [redis.address] }),
      },
    },
  };
}

beforeAll(async () => {
  const key = await generateKeyPair('RS256', { extractable: true });
  providerKey = key.privateKey;
  providerKid = `test-${randomUUID()}`;
  otherKey = (await generateKeyPair('RS256')).privateKey;

  redis = await startRedisServer();
  // The proxy's address goes into the provider's client registrations, so it starts first; it
  // reaches the service, started last, through `service`.
  proxy = await startScriptedServer(async (req, res) => {
    const name = req.url.split('/')[1] ?? '';
    const answer = await sendThrough(shapeOf(name), name, {
      method: req.method,
      ...(typeof req.headers['content-type'] === 'string' ? { contentType: req.headers['content-type'] } : {}),
      body: req.body,
    });
    relayed.push({ name, token: new URLSearchParams(req.body).get('logout_token'), answer });
    // On a 2xx Traefik would go on to the router's service, which answers 200 here as well.
    res.writeHead(answer.status, { 'content-type': 'text/plain' }).end(answer.body);
  });

  const clients: DevClient[] = [];
  const middlewares: MiddlewareOverrides[] = [];
  for (const store of STORES) {
    for (const shape of SHAPES) {
      for (const by of ['sid', 'sub'] as const) {
        const name = logoutName(store, shape, by);
        // oidc-provider puts `sid` into ID and logout tokens only for clients registered with
        // backchannel_logout_session_required; the others get logout tokens naming `sub` alone.
        clients.push({
          client_id: name,
          client_secret: TEST_CLIENT_SECRET,
          redirect_uris: [`${APP}/callback`],
          backchannel_logout_uri: `${proxy.url}${logoutPath(name)}`,
          backchannel_logout_session_required: by === 'sid',
        });
        middlewares.push({ name, clientID: name, backchannelLogoutUrl: logoutPath(name), backchannelLogoutSessionsRequired: by === 'sid', ...storeOverrides(store, name) });
      }
    }
    for (const sidRequired of [false, true]) {
      const name = checksName(store, sidRequired);
      clients.push({ client_id: name, client_secret: TEST_CLIENT_SECRET, redirect_uris: [`${APP}/callback`] });
      middlewares.push({
        name,
        clientID: name,
        backchannelLogoutUrl: logoutPath(name),
        backchannelLogoutSessionsRequired: sidRequired,
        // The provider's POST carries neither a cookie nor a CSRF token, and needs neither.
        csrf: { secure: false, headerName: 'TraefikHub-Csrf-Token' },
        ...storeOverrides(store, name),
      });
    }
  }

  op = await startTestProvider({
    clients,
    signingKeys: [{ ...(await exportJWK(providerKey)), kid: providerKid, alg: 'RS256', use: 'sig' }],
  });
  op.provider.on('backchannel.error', (_ctx: unknown, error: unknown) => backchannelErrors.push(String(error)));
  service = await startService({ middlewares: middlewares.map((m) => ({ ...m, issuer: op.issuer })) });
});

afterAll(async () => {
  await service?.stop();
  await op?.stop();
  await proxy?.stop();
  await redis?.destroy();
});

interface SignedIn {
  readonly jar: CookieJar;
  /** The provider's cookies: her login session there. */
  readonly providerJar: CookieJar;
  /** The Cookie header as the browser sends it now: what a thief would replay. */
  readonly cookie: string;
}

/** A browser signing in through Traefik's ForwardAuth; `providerJar` reuses a provider session. */
async function signIn(name: string, user: string, providerJar?: CookieJar): Promise<SignedIn> {
  const login = await browserLogin({ authAddress: service.authAddress(name), url: `${APP}/`, user, ...(providerJar === undefined ? {} : { providerJar }) });
  expect(login.final.status).toBe(200);
  return { jar: login.jar, providerJar: login.providerJar, cookie: login.jar.cookieHeader(`${APP}/`) ?? '' };
}

/** The answer to a background request carrying exactly this Cookie header. */
async function apiStatus(name: string, cookie: string): Promise<number> {
  const result = await forwardAuth(service.authAddress(name), { url: `${APP}/api/items`, headers: { accept: 'application/json', cookie } }, createCookieJar());
  return result.status;
}

/** A page load carrying exactly this Cookie header: 200, or where it is sent. */
async function pageLoad(name: string, cookie: string): Promise<{ status: number; location: string | undefined }> {
  const result = await forwardAuth(service.authAddress(name), { url: `${APP}/page`, headers: { ...NAVIGATION_HEADERS, cookie } }, createCookieJar());
  return { status: result.status, location: result.location };
}

async function expectNoAccess(name: string, cookie: string): Promise<void> {
  expect(await apiStatus(name, cookie)).toBe(401);
  const page = await pageLoad(name, cookie);
  expect(page.status).toBe(302);
  expect(page.location?.startsWith(`${op.issuer}/auth?`)).toBe(true);
}

/** The one logout token the provider sent for this middleware since `from`, and the service's answer to it. */
function relayedFor(name: string, from: number): (typeof relayed)[number] {
  const sent = relayed.slice(from).filter((entry) => entry.name === name);
  expect(sent).toHaveLength(1);
  return sent[0] as (typeof relayed)[number];
}

function decodeJwt(token: string): { header: Record<string, unknown>; payload: Record<string, unknown> } {
  const [header = '', payload = ''] = token.split('.');
  return {
    header: JSON.parse(Buffer.from(header, 'base64url').toString('utf8')) as Record<string, unknown>,
    payload: JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>,
  };
}

function expectAccepted(answer: Answer): void {
  expect(answer.status).toBe(200);
  expect(answer.body).toBe('');
  expect(answer.headers['cache-control']).toBe('no-store');
  expect(answer.headers['set-cookie']).toBeUndefined();
}

function expectRefused(answer: Answer, status: number, description?: RegExp): void {
  expect(answer.status).toBe(status);
  expect(answer.headers['cache-control']).toBe('no-store');
  expect(answer.headers['set-cookie']).toBeUndefined();
  const body = JSON.parse(answer.body) as Record<string, unknown>;
  if (description === undefined) {
    expect(typeof body.error).toBe('string');
  } else {
    expect(body.error).toBe('invalid_request');
    expect(body.error_description).toMatch(description);
  }
}

describe.each(STORES)('back-channel logout with the %s store', (store) => {
  describe.each(SHAPES)('from the provider through the %s shape', (shape) => {
    it('ends the provider session alice signed out of (by sid), and neither her other login nor bob', async () => {
      const name = logoutName(store, shape, 'sid');
      const alice = await signIn(name, 'alice');
      const aliceElsewhere = await signIn(name, 'alice');
      const bob = await signIn(name, 'bob');
      const from = relayed.length;

      await signOutAtProvider(op.issuer, alice.providerJar);

      const { token, answer } = relayedFor(name, from);
      expectAccepted(answer);
      // What oidc-provider sends: an RS256 JWT typed logout+jwt, living two minutes, naming the
      // provider session and the user, without nonce.
      const { header, payload } = decodeJwt(token ?? '');
      expect(header).toEqual({ alg: 'RS256', typ: 'logout+jwt', kid: providerKid });
      expect(Object.keys(payload).sort()).toEqual(['aud', 'events', 'exp', 'iat', 'iss', 'jti', 'sid', 'sub']);
      expect(payload).toMatchObject({ iss: op.issuer, aud: name, sub: 'alice', events: { [EVENT]: {} } });
      expect(payload.exp).toBe((payload.iat as number) + 120);
      expect(backchannelErrors).toEqual([]);

      await expectNoAccess(name, alice.cookie);
      expect(await apiStatus(name, aliceElsewhere.cookie)).toBe(200);
      expect(await apiStatus(name, bob.cookie)).toBe(200);
    });

    it('ends every session of alice when the token names only her (by sub), and not bob’s', async () => {
      const name = logoutName(store, shape, 'sub');
      const alice = await signIn(name, 'alice');
      const aliceElsewhere = await signIn(name, 'alice');
      const bob = await signIn(name, 'bob');
      const from = relayed.length;

      await signOutAtProvider(op.issuer, alice.providerJar);

      const { token, answer } = relayedFor(name, from);
      expectAccepted(answer);
      const { payload } = decodeJwt(token ?? '');
      expect(payload.sub).toBe('alice');
      expect(payload).not.toHaveProperty('sid');
      expect(backchannelErrors).toEqual([]);

      await expectNoAccess(name, alice.cookie);
      await expectNoAccess(name, aliceElsewhere.cookie);
      expect(await apiStatus(name, bob.cookie)).toBe(200);

      // A later login is a new session, untouched by the revocation, even within the same second.
      const again = await signIn(name, 'alice');
      expect(await apiStatus(name, again.cookie)).toBe(200);
    });
  });

  describe('answers to what else reaches the route', () => {
    const optional = checksName(store, false);
    const required = checksName(store, true);
    let watched: { name: string; cookie: string }[] = [];
    let idToken: string;

    beforeAll(async () => {
      const alice = await Promise.all([signIn(optional, 'alice'), signIn(required, 'alice')]);
      watched = [
        { name: optional, cookie: alice[0].cookie },
        { name: required, cookie: alice[1].cookie },
      ];
      idToken = await fetchIdToken(optional);
    });

    /** "No answer ever changes another session": alice, named by most tokens below, is still signed in. */
    async function expectAliceStillSignedIn(): Promise<void> {
      for (const { name, cookie } of watched) expect(await apiStatus(name, cookie)).toBe(200);
    }

    const now = (): number => service.now();
    /** A logout token the provider could have sent to `audience`, naming alice and a provider session nobody has. */
    function claims(audience = optional): JWTPayload {
      return { iss: op.issuer, aud: audience, iat: now(), exp: now() + 120, jti: randomUUID(), events: { [EVENT]: {} }, sub: 'alice', sid: `unknown-${randomUUID()}` };
    }
    function sign(payload: JWTPayload, header: Record<string, unknown> = { typ: 'logout+jwt' }, key: CryptoKey = providerKey): Promise<string> {
      return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: providerKid, ...header }).sign(key);
    }
    const without = (name: string, payload = claims()): JWTPayload => Object.fromEntries(Object.entries(payload).filter(([key]) => key !== name));
    const form = (token: string): SentRequest => ({ contentType: FORM, body: new URLSearchParams({ logout_token: token }).toString() });
    const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');

    const refusals: readonly (readonly [string, () => Promise<SentRequest & { name?: string }>, RegExp])[] = [
      ['a token signed by another key under the provider’s kid', async () => form(await sign(claims(), undefined, otherKey)), /signature is invalid/],
      ['a token signed by a key the provider does not publish', async () => form(await sign(claims(), { kid: 'elsewhere' }, otherKey)), /not signed with a key the provider publishes/],
      ['alg "none"', async () => form(`${b64({ alg: 'none', typ: 'logout+jwt' })}.${b64(claims())}.`), /"alg"/],
      [
        'HS256 keyed with the client secret',
        async () => form(await new SignJWT(claims()).setProtectedHeader({ alg: 'HS256', typ: 'logout+jwt' }).sign(new TextEncoder().encode(TEST_CLIENT_SECRET))),
        /"alg"/,
      ],
      ['another issuer', async () => form(await sign({ ...claims(), iss: `${op.issuer}/other` })), /"iss"/],
      ['another audience', async () => form(await sign(claims('another-client'))), /"aud"/],
      ['an expired token', async () => form(await sign({ ...claims(), iat: now() - 200, exp: now() - 60 })), /"exp" has passed/],
      ['no exp and an iat long past', async () => form(await sign({ ...without('exp'), iat: now() - 3600 })), /"iat" is too old/],
      ['iat far in the future', async () => form(await sign({ ...claims(), iat: now() + 3600, exp: now() + 3720 })), /"iat" is in the future/],
      ['iat long past (exp still ahead)', async () => form(await sign({ ...claims(), iat: now() - 3600, exp: now() + 60 })), /"iat" is too old/],
      ['no jti', async () => form(await sign(without('jti'))), /"jti" is missing/],
      ['no events', async () => form(await sign(without('events'))), /"events" is missing/],
      ['events without the back-channel logout member', async () => form(await sign({ ...claims(), events: { 'http://schemas.openid.net/event/other': {} } })), /no back-channel logout event/],
      ['the back-channel logout event not an object', async () => form(await sign({ ...claims(), events: { [EVENT]: 'yes' } })), /must be a JSON object/],
      ['events an array', async () => form(await sign({ ...claims(), events: [EVENT] })), /"events" must be a JSON object/],
      ['a nonce', async () => form(await sign({ ...claims(), nonce: 'n-0123' })), /"nonce"/],
      ['neither sid nor sub', async () => form(await sign(without('sub', without('sid')))), /neither "sid" nor "sub"/],
      ['no sid where backchannelLogoutSessionsRequired', async () => ({ ...form(await sign(without('sid', claims(required)))), name: required }), /"sid" is missing/],
      ['typ at+jwt', async () => form(await sign(claims(), { typ: 'at+jwt' })), /"typ"/],
      ['an ID token of the provider', async () => form(idToken), /"events" is missing/],
      ['no logout_token parameter', async () => ({ contentType: FORM, body: 'state=x' }), /logout_token is missing/],
      ['an empty body', async () => ({ contentType: FORM, body: '' }), /empty/],
      [
        'logout_token twice',
        async () => ({ contentType: FORM, body: `logout_token=${await sign(claims())}&logout_token=${await sign(claims())}` }),
        /logout_token is repeated/,
      ],
      ['a JSON body', async () => ({ contentType: 'application/json', body: JSON.stringify({ logout_token: await sign(claims()) }) }), /x-www-form-urlencoded/],
    ];

    it('takes a sub-only token’s cutoff from its iat: bob signs in again at once, and a replay a minute later ends neither that login nor the next', async () => {
      const before = await signIn(optional, 'bob');
      const token = await sign(without('sid', { ...claims(), sub: 'bob' }));
      expectAccepted(await sendThrough('direct', optional, form(token)));
      expect(await apiStatus(optional, before.cookie)).toBe(401);
      const rightAfter = await signIn(optional, 'bob');
      expect(await apiStatus(optional, rightAfter.cookie)).toBe(200);

      // Past the token's iat plus the allowed skew (30 s), still within the age it is accepted at.
      // Turned back after: the provider's clock does not move, and its tokens must keep matching ours.
      service.advance(60);
      try {
        const later = await signIn(optional, 'bob');
        expectRefused(await sendThrough('direct', optional, form(token)), 400, /already used/);
        expect(await apiStatus(optional, later.cookie)).toBe(200);
        expect(await apiStatus(optional, before.cookie)).toBe(401);
        await expectAliceStillSignedIn();
      } finally {
        service.advance(-60);
      }
    });

    describe.each(SHAPES)('through the %s shape', (shape) => {
      it('answers 200 with no-store to a valid token for a provider session nobody has, with no cookie and no CSRF token', async () => {
        expectAccepted(await sendThrough(shape, optional, form(await sign(claims()))));
        // typ may be plain JWT or absent too.
        expectAccepted(await sendThrough(shape, optional, form(await sign(claims(), { typ: 'JWT' }))));
        expectAccepted(await sendThrough(shape, optional, form(await sign(claims(), {}))));
        await expectAliceStillSignedIn();
      });

      it.each(refusals)('answers 400 with an error and no-store to %s, and ends no session', async (_what, build, description) => {
        const { name = optional, ...sent } = await build();
        expectRefused(await sendThrough(shape, name, sent), 400, description);
        await expectAliceStillSignedIn();
      });

      it('answers 400 to a replayed token, and to another token reusing its jti', async () => {
        const first = claims();
        const token = await sign(first);
        expectAccepted(await sendThrough(shape, optional, form(token)));
        expectRefused(await sendThrough(shape, optional, form(token)), 400, /already used/);
        expectRefused(await sendThrough(shape, optional, form(await sign({ ...claims(), jti: first.jti }))), 400, /already used/);
        await expectAliceStillSignedIn();
      });

      it.each(['GET', 'PUT'])('answers 405 with Allow: POST to %s', async (method) => {
        const answer = await sendThrough(shape, optional, method === 'GET' ? { method } : { method, ...form(await sign(claims())) });
        expectRefused(answer, 405, /POST/);
        expect(answer.headers.allow).toBe('POST');
        await expectAliceStillSignedIn();
      });

      it('answers 413 to a body over 64 KiB', async () => {
        const answer = await sendThrough(shape, optional, { contentType: FORM, body: `logout_token=${'a'.repeat(64 * 1024)}` });
        expectRefused(answer, 413);
        await expectAliceStillSignedIn();
      });
    });

    it('never writes a logout token into the service log', async () => {
      const tokens = relayed.map((entry) => entry.token).filter((token): token is string => token !== null);
      expect(tokens.length).toBeGreaterThan(0);
      const text = service.logger.text();
      for (const token of tokens) expect(text).not.toContain(token.split('.')[2]);
    });
  });
});

/** A genuine ID token for `clientID`, from an authorization code flow straight at the provider. */
async function fetchIdToken(clientID: string): Promise<string> {
  const redirectUri = `${APP}/callback`;
  const authorization = new URL(`${op.issuer}/auth`);
  authorization.search = new URLSearchParams({ client_id: clientID, response_type: 'code', scope: 'openid', redirect_uri: redirectUri, state: 's', nonce: 'n' }).toString();
  const callback = new URL(await completeLogin(authorization.href, { user: 'alice' }));
  const code = callback.searchParams.get('code') ?? '';
  const response = await request(`${op.issuer}/token`, {
    method: 'POST',
    headers: {
      'content-type': FORM,
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientID)}:${encodeURIComponent(TEST_CLIENT_SECRET)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'authorization_code', code, redirect_uri: redirectUri }).toString(),
  });
  const tokens = (await response.body.json()) as { id_token?: unknown };
  if (typeof tokens.id_token !== 'string') throw new Error(`no ID token from the provider (${response.statusCode})`);
  return tokens.id_token;
}
