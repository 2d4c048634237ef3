/**
 * An OpenID provider of our own that can be told to misbehave: discovery, JWKS, an authorization
 * endpoint that signs the user in at once, and a token endpoint, each scriptable per test. The
 * defaults are a correct provider, so a test changes only what its attack is about.
 *
 * Every code, token and secret it hands out is remembered (`secrets()`), so tests can assert none
 * of them ever appears in a page or a log line of the service.
 */
import { createHash, createHmac, generateKeyPairSync, randomBytes, sign as nodeSign, webcrypto, type KeyObject } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { base64url, exportJWK, exportSPKI, generateKeyPair, type JWK } from 'jose';
import { request } from 'undici';
import type { RecordedRequest } from './scripted-server.js';

export const HOSTILE_CLIENT_ID = 'forward-auth';
export const HOSTILE_CLIENT_SECRET = 'test-client-secret-0123456789abcdef';

/** A signing key: what the provider signs with and what it may publish. */
export interface TestKey {
  readonly kid: string;
  readonly alg: string;
  /** Signs the JWS signing input (`header.payload`). */
  readonly sign: (input: Uint8Array) => Promise<Uint8Array>;
  /** The public key as a JWK with kid, alg and use: sig. */
  readonly publicJwk: JWK;
  /** The public key as SPKI PEM: the bytes an alg-confusion attacker uses as an HMAC secret. */
  readonly publicKeyPem: string;
}

export async function createTestKey(kid: string, alg = 'RS256'): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return {
    kid,
    alg,
    sign: async (input) => new Uint8Array(await webcrypto.subtle.sign(webCryptoParams(alg), privateKey as webcrypto.CryptoKey, input)),
    publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
    publicKeyPem: await exportSPKI(publicKey),
  };
}

/** An RSA key below the 2048 bits jose requires: jose refuses to sign with it, so Node signs. */
export function createWeakRsaKey(kid: string, modulusLength = 1024): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength });
  return {
    kid,
    alg: 'RS256',
    sign: (input) => Promise.resolve(new Uint8Array(nodeSign('sha256', input, privateKey as KeyObject))),
    publicJwk: { ...(publicKey.export({ format: 'jwk' }) as JWK), kid, alg: 'RS256', use: 'sig' },
    publicKeyPem: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
  };
}

/** WebCrypto parameters for a JWS algorithm; ECDSA's raw r||s output is already the JWS form. */
function webCryptoParams(alg: string): webcrypto.AlgorithmIdentifier | webcrypto.RsaPssParams | webcrypto.EcdsaParams {
  const hash = `SHA-${alg.slice(2) || '256'}`;
  if (alg.startsWith('RS')) return { name: 'RSASSA-PKCS1-v1_5' };
  if (alg.startsWith('PS')) return { name: 'RSA-PSS', saltLength: Number(alg.slice(2)) / 8 };
  if (alg.startsWith('ES')) return { name: 'ECDSA', hash };
  return { name: 'Ed25519' };
}

/** HMAC over the signing input: what a provider (or an attacker) holding `secret` would produce. */
export function hmacSigner(secret: Uint8Array, alg = 'HS256'): (input: Uint8Array) => Promise<Uint8Array> {
  const hash = `sha${alg.slice(2)}`;
  return (input) => Promise.resolve(new Uint8Array(createHmac(hash, secret).update(input).digest()));
}

/** How an ID token is made. Defaults: every claim correct, signed by the current signing key. */
export interface IdTokenRecipe {
  /** Merged over the default claims; a claim set to `undefined` is left out. */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** Merged over the default header `{ alg, kid, typ: 'JWT' }`; `undefined` leaves a member out. */
  readonly header?: Readonly<Record<string, unknown>>;
  /** Sign with this key instead of the provider's signing key (the header names its kid and alg). */
  readonly key?: TestKey;
  /** Sign as HMAC (header alg, default HS256) with these bytes as the secret. */
  readonly hmacSecret?: Uint8Array;
  /**
   * 'none': alg none and an empty signature; 'corrupt-signature': valid, then signature bits
   * flipped; { alteredClaims }: signed, then the payload swapped for one with these claims merged in.
   */
  readonly forge?: 'none' | 'corrupt-signature' | { readonly alteredClaims: Readonly<Record<string, unknown>> };
  /** The exact id_token value, bypassing everything above. */
  readonly raw?: string;
}

/** A fixed answer instead of the endpoint's normal one, or a connection that never answers. */
export type RawAnswer =
  | 'stall'
  | {
      readonly status?: number;
      readonly contentType?: string;
      readonly body: string | Buffer;
      /** false: no Content-Length, the body streams in chunks (a cap must count, not trust a header). */
      readonly declareLength?: boolean;
    };

export interface HostileBehaviour {
  /** Merged over the correct discovery document; `undefined` removes a member. */
  readonly discovery: Readonly<Record<string, unknown>>;
  readonly discoveryAnswer: RawAnswer | undefined;
  /** The JWKS document served (default `{ keys: published public JWKs }`). */
  readonly jwks: unknown;
  readonly jwksAnswer: RawAnswer | undefined;
  readonly idToken: IdTokenRecipe;
  /** The ID token of a refresh response, or 'omit' for none. */
  readonly refreshIdToken: IdTokenRecipe | 'omit';
  readonly accessToken: 'opaque' | 'jwt';
  /** Merged over the token response; `undefined` removes a member. */
  readonly tokenResponse: Readonly<Record<string, unknown>>;
  readonly tokenAnswer: RawAnswer | undefined;
  /** An OAuth error code (e.g. invalid_grant) the refresh grant answers with. */
  readonly refreshError: string | undefined;
  readonly rotateRefreshTokens: boolean;
  /** The user the authorization endpoint signs in. */
  readonly subject: string;
  readonly expiresIn: number;
  /** Changes the parameters sent back to the client's redirect_uri (code, state, iss). */
  readonly authorizationResponse: ((params: URLSearchParams) => void) | undefined;
}

export interface TokenRequestRecord {
  readonly grantType: string;
  readonly code?: string;
  readonly refreshToken?: string;
}

export interface HostileProvider {
  /** http://127.0.0.1:PORT (exactly what discovery names as issuer unless told otherwise). */
  readonly issuer: string;
  readonly requests: RecordedRequest[];
  /** The signing key the provider starts with (published). */
  readonly initialKey: TestKey;
  /** Merges `patch` into the current behaviour. */
  behave(patch: Partial<HostileBehaviour>): void;
  /** Back to the baseline (a correct provider by default) signing with, and publishing only, the initial key. */
  reset(): void;
  /** The key the provider signs with from now on (not published by this call). */
  signWith(key: TestKey): void;
  /** The keys in the JWKS from now on. */
  publish(keys: readonly TestKey[]): void;
  /** The provider's clock (epoch seconds); default real time. Tie it to the service's to move both. */
  useClock(now: () => number): void;
  /** Number of requests to a path (without query). */
  count(path: string): number;
  /** Token-endpoint requests, in order. */
  tokenRequests(): TokenRequestRecord[];
  /** Every code and token handed out so far, and the client secret. */
  secrets(): string[];
  /** Plays the browser at the authorization endpoint: returns the callback URL it is sent to. */
  authorize(authorizationUrl: string): Promise<string>;
  stop(): Promise<void>;
}

interface IssuedCode {
  readonly clientId: string;
  readonly redirectUri: string;
  readonly nonce: string | undefined;
  readonly codeChallenge: string | undefined;
  readonly subject: string;
  used: boolean;
}

interface Grant {
  readonly subject: string;
}

function defaultBehaviour(): HostileBehaviour {
  return {
    discovery: {},
    discoveryAnswer: undefined,
    jwks: undefined,
    jwksAnswer: undefined,
    idToken: {},
    refreshIdToken: {},
    accessToken: 'opaque',
    tokenResponse: {},
    tokenAnswer: undefined,
    refreshError: undefined,
    rotateRefreshTokens: true,
    subject: 'alice',
    expiresIn: 300,
    authorizationResponse: undefined,
  };
}

function merge(base: Record<string, unknown>, patch: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [name, value] of Object.entries(patch)) {
    if (value === undefined) delete merged[name];
    else merged[name] = value;
  }
  return merged;
}

function encodeJson(value: unknown): string {
  return base64url.encode(JSON.stringify(value));
}

function randomToken(prefix: string): string {
  return `${prefix}-${randomBytes(24).toString('base64url')}`;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

/** Writes a scripted answer; returns false when there is none, so the normal one is written. */
function sendRaw(res: ServerResponse, answer: RawAnswer | undefined): boolean {
  if (answer === undefined) return false;
  // A stalled answer keeps the connection open until the test stops the provider.
  if (answer === 'stall') return true;
  const body = typeof answer.body === 'string' ? Buffer.from(answer.body) : answer.body;
  const contentType = answer.contentType ?? 'application/json';
  if (answer.declareLength === false) {
    res.writeHead(answer.status ?? 200, { 'content-type': contentType });
    const chunk = 64 * 1024;
    for (let offset = 0; offset < body.byteLength; offset += chunk) res.write(body.subarray(offset, offset + chunk));
    res.end();
    return true;
  }
  res.writeHead(answer.status ?? 200, { 'content-type': contentType, 'content-length': body.byteLength });
  res.end(body);
  return true;
}

export async function signJwt(
  header: Readonly<Record<string, unknown>>,
  claims: Readonly<Record<string, unknown>>,
  sign: (input: Uint8Array) => Promise<Uint8Array>,
): Promise<string> {
  const input = `${encodeJson(header)}.${encodeJson(claims)}`;
  const signature = await sign(new TextEncoder().encode(input));
  return `${input}.${base64url.encode(signature)}`;
}

export interface HostileProviderOptions {
  readonly initialKey?: TestKey;
  /** What `reset()` returns to, over the correct defaults (e.g. a discovery document to keep). */
  readonly baseline?: Partial<HostileBehaviour>;
}

export async function startHostileProvider(options: HostileProviderOptions = {}): Promise<HostileProvider> {
  const initialKey = options.initialKey ?? (await createTestKey('key-1'));
  const baseline = (): HostileBehaviour => ({ ...defaultBehaviour(), ...options.baseline });
  let behaviour = baseline();
  let signingKey = initialKey;
  let published: readonly TestKey[] = [initialKey];
  let now = (): number => Math.floor(Date.now() / 1000);
  let issuer = '';
  const requests: RecordedRequest[] = [];
  const codes = new Map<string, IssuedCode>();
  const refreshTokens = new Map<string, Grant>();
  const issued: string[] = [];
  const tokenLog: TokenRequestRecord[] = [];

  function discoveryDocument(): Record<string, unknown> {
    return merge(
      {
        issuer,
        authorization_endpoint: `${issuer}/authorize`,
        token_endpoint: `${issuer}/token`,
        jwks_uri: `${issuer}/jwks`,
        response_types_supported: ['code'],
        subject_types_supported: ['public'],
        id_token_signing_alg_values_supported: ['RS256'],
        token_endpoint_auth_methods_supported: ['client_secret_basic'],
        code_challenge_methods_supported: ['S256'],
        grant_types_supported: ['authorization_code', 'refresh_token'],
        authorization_response_iss_parameter_supported: true,
      },
      behaviour.discovery,
    );
  }

  async function makeIdToken(recipe: IdTokenRecipe, subject: string, nonce: string | undefined, accessToken: string): Promise<string> {
    if (recipe.raw !== undefined) return recipe.raw;
    const key = recipe.key ?? signingKey;
    const at = now();
    const claims = merge(
      {
        iss: issuer,
        sub: subject,
        aud: HOSTILE_CLIENT_ID,
        iat: at,
        exp: at + 3600,
        auth_time: at,
        ...(nonce === undefined ? {} : { nonce }),
        at_hash: createHash('sha256').update(accessToken).digest().subarray(0, 16).toString('base64url'),
      },
      recipe.claims ?? {},
    );
    const forge = recipe.forge;
    if (forge === 'none') {
      const header = merge({ alg: 'none', typ: 'JWT' }, recipe.header ?? {});
      return `${encodeJson(header)}.${encodeJson(claims)}.`;
    }
    const hmac = recipe.hmacSecret;
    const header = merge(hmac === undefined ? { alg: key.alg, kid: key.kid, typ: 'JWT' } : { alg: 'HS256', typ: 'JWT' }, recipe.header ?? {});
    const token = await signJwt(header, claims, hmac === undefined ? key.sign : hmacSigner(hmac, String(header.alg)));
    const [h, p, s] = token.split('.') as [string, string, string];
    if (forge === 'corrupt-signature') {
      const bytes = base64url.decode(s);
      bytes[0] = (bytes[0] ?? 0) ^ 0xff;
      bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
      return `${h}.${p}.${base64url.encode(bytes)}`;
    }
    if (forge !== undefined) return `${h}.${encodeJson(merge(claims, forge.alteredClaims))}.${s}`;
    return token;
  }

  async function makeAccessToken(subject: string): Promise<string> {
    if (behaviour.accessToken === 'opaque') return randomToken('at');
    const at = now();
    return signJwt(
      { alg: signingKey.alg, kid: signingKey.kid, typ: 'at+jwt' },
      { iss: issuer, sub: subject, aud: 'api', client_id: HOSTILE_CLIENT_ID, iat: at, exp: at + behaviour.expiresIn, jti: randomToken('jti') },
      signingKey.sign,
    );
  }

  function remember<T extends string | undefined>(value: T): T {
    if (value !== undefined) issued.push(value);
    return value;
  }

  function clientAuthenticated(req: RecordedRequest): boolean {
    const header = req.headers.authorization;
    if (typeof header !== 'string' || !header.startsWith('Basic ')) return false;
    const [id, secret] = Buffer.from(header.slice(6), 'base64').toString('utf8').split(':').map((part) => decodeURIComponent(part));
    return id === HOSTILE_CLIENT_ID && secret === HOSTILE_CLIENT_SECRET;
  }

  async function tokenEndpoint(req: RecordedRequest, res: ServerResponse): Promise<void> {
    const params = new URLSearchParams(req.body);
    const grantType = params.get('grant_type') ?? '';
    tokenLog.push({
      grantType,
      ...(params.get('code') === null ? {} : { code: params.get('code') ?? '' }),
      ...(params.get('refresh_token') === null ? {} : { refreshToken: params.get('refresh_token') ?? '' }),
    });
    if (sendRaw(res, behaviour.tokenAnswer)) return;
    if (!clientAuthenticated(req)) return sendJson(res, 401, { error: 'invalid_client' });

    let subject: string;
    let nonce: string | undefined;
    let idRecipe: IdTokenRecipe | 'omit';
    let spentRefreshToken: string | undefined;
    if (grantType === 'authorization_code') {
      const code = codes.get(params.get('code') ?? '');
      if (code === undefined || code.used || code.redirectUri !== params.get('redirect_uri') || code.clientId !== HOSTILE_CLIENT_ID) {
        if (code !== undefined) code.used = true;
        return sendJson(res, 400, { error: 'invalid_grant' });
      }
      code.used = true;
      if (code.codeChallenge !== undefined) {
        const verifier = params.get('code_verifier') ?? '';
        if (createHash('sha256').update(verifier).digest('base64url') !== code.codeChallenge) {
          return sendJson(res, 400, { error: 'invalid_grant' });
        }
      }
      subject = code.subject;
      nonce = code.nonce;
      idRecipe = behaviour.idToken;
    } else if (grantType === 'refresh_token') {
      spentRefreshToken = params.get('refresh_token') ?? '';
      const grant = refreshTokens.get(spentRefreshToken);
      if (behaviour.refreshError !== undefined) return sendJson(res, 400, { error: behaviour.refreshError });
      if (grant === undefined) return sendJson(res, 400, { error: 'invalid_grant' });
      subject = grant.subject;
      nonce = undefined;
      idRecipe = behaviour.refreshIdToken;
    } else {
      return sendJson(res, 400, { error: 'unsupported_grant_type' });
    }

    const accessToken = remember(await makeAccessToken(subject));
    const idToken = idRecipe === 'omit' ? undefined : remember(await makeIdToken(idRecipe, subject, nonce, accessToken));
    let refreshToken: string | undefined;
    if (spentRefreshToken === undefined || behaviour.rotateRefreshTokens) {
      refreshToken = remember(randomToken('rt'));
      refreshTokens.set(refreshToken, { subject });
      if (spentRefreshToken !== undefined) refreshTokens.delete(spentRefreshToken);
    }
    const body = merge(
      {
        access_token: accessToken,
        token_type: 'Bearer',
        expires_in: behaviour.expiresIn,
        ...(idToken === undefined ? {} : { id_token: idToken }),
        ...(refreshToken === undefined ? {} : { refresh_token: refreshToken }),
        scope: 'openid',
      },
      behaviour.tokenResponse,
    );
    for (const value of Object.values(body)) if (typeof value === 'string' && value.length >= 16) remember(value);
    sendJson(res, 200, body);
  }

  function authorizationEndpoint(req: RecordedRequest, res: ServerResponse): void {
    const query = new URL(req.url, issuer).searchParams;
    const redirectUri = query.get('redirect_uri');
    if (redirectUri === null || !URL.canParse(redirectUri)) return sendJson(res, 400, { error: 'invalid_request' });
    const code = remember(randomToken('code'));
    codes.set(code, {
      clientId: query.get('client_id') ?? '',
      redirectUri,
      nonce: query.get('nonce') ?? undefined,
      codeChallenge: query.get('code_challenge') ?? undefined,
      subject: behaviour.subject,
      used: false,
    });
    const back = new URL(redirectUri);
    back.searchParams.set('code', code);
    const state = query.get('state');
    if (state !== null) back.searchParams.set('state', state);
    const document = discoveryDocument();
    if (document.authorization_response_iss_parameter_supported === true) back.searchParams.set('iss', issuer);
    behaviour.authorizationResponse?.(back.searchParams);
    res.writeHead(302, { location: back.href, 'content-length': 0 });
    res.end();
  }

  async function handle(req: RecordedRequest, res: ServerResponse): Promise<void> {
    const path = new URL(req.url, 'http://x').pathname;
    if (path === '/.well-known/openid-configuration') {
      if (!sendRaw(res, behaviour.discoveryAnswer)) sendJson(res, 200, discoveryDocument());
    } else if (path === '/jwks') {
      if (!sendRaw(res, behaviour.jwksAnswer)) sendJson(res, 200, behaviour.jwks ?? { keys: published.map((k) => k.publicJwk) });
    } else if (path === '/authorize') {
      authorizationEndpoint(req, res);
    } else if (path === '/token' && req.method === 'POST') {
      await tokenEndpoint(req, res);
    } else {
      sendJson(res, 404, { error: 'not_found' });
    }
  }

  const server: Server = createServer((incoming: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    incoming.on('data', (chunk: Buffer) => chunks.push(chunk));
    incoming.on('end', () => {
      const recorded: RecordedRequest = {
        method: incoming.method ?? 'GET',
        url: incoming.url ?? '/',
        headers: incoming.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(recorded);
      handle(recorded, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(error instanceof Error ? error.message : 'hostile provider error');
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    requests,
    initialKey,
    behave(patch) {
      behaviour = { ...behaviour, ...patch };
    },
    reset() {
      behaviour = baseline();
      signingKey = initialKey;
      published = [initialKey];
    },
    signWith(key) {
      signingKey = key;
    },
    publish(keys) {
      published = [...keys];
    },
    useClock(clock) {
      now = clock;
    },
    count: (path) => requests.filter((r) => new URL(r.url, 'http://x').pathname === path).length,
    tokenRequests: () => [...tokenLog],
    secrets: () => [...issued, HOSTILE_CLIENT_SECRET],
    async authorize(authorizationUrl) {
      const response = await request(authorizationUrl, { method: 'GET', maxRedirections: 0 });
      await response.body.text();
      const location = response.headers.location;
      if (response.statusCode !== 302 || typeof location !== 'string') {
        throw new Error(`the hostile provider answered ${response.statusCode} at its authorization endpoint`);
      }
      return location;
    },
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
