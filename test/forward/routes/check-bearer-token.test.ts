/**
 * The bearer route without HTTP: what an accepted token's claims come to (decideBearerToken),
 * which errors refuse a token (bearerTokenRefusal), and the shell, whose introspection answers
 * live on the middleware's runtime and outlive a reload that keeps its provider view.
 */
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { beforeAll, describe, expect, it } from 'vitest';
import type { BearerTokensConfig, Config, MiddlewareConfig } from '../../../src/config/types.js';
import { OfaError, type ErrorCode } from '../../../src/errors.js';
import { UNAVAILABLE } from '../../../src/forward/forward-request.js';
import { bearerTokenRefusal, checkBearerToken, decideBearerToken } from '../../../src/forward/routes/check-bearer-token.js';
import { createTelemetry } from '../../../src/observability/telemetry.js';
import { buildGeneration } from '../../../src/server/middleware-generation.js';
import { makeMiddlewareConfig, type MiddlewareOverrides } from '../../support/middleware-config.js';
import { createProviderKeys, createRouteRuntime, forwardRequest, ISSUER, NOW_SECONDS as NOW, type ProviderKeys } from './route-runtime.js';

const SETTINGS: BearerTokensConfig = { audiences: ['api'], allowPlainJwt: false, introspection: undefined, passToApplication: false };
const WITH_INTROSPECTION: BearerTokensConfig = { ...SETTINGS, introspection: { cacheSeconds: 60 } };
const ADMIN = { iss: ISSUER, aud: 'api', sub: 'script', client_id: 'script', email: 'script@example.com', groups: ['admin'], exp: NOW + 600 };

let keys: ProviderKeys;
beforeAll(async () => {
  keys = await createProviderKeys();
});

/**
 * A runtime that reads the claims rule `Contains(groups, admin)` and forwards the email (also the
 * username), its provider discovered without an introspection endpoint: a token the runtime's
 * cache does not know is refused without a call.
 */
const bearerRuntime = (overrides: MiddlewareOverrides = {}, discovered = true) =>
  createRouteRuntime({
    keys,
    discovered,
    middleware: { forwardHeaders: { 'X-Forwarded-User': 'email' }, usernameClaim: 'email', claims: 'Contains(`groups`, `admin`)', bearerTokens: SETTINGS, ...overrides },
  });

const withAuthorization = (token: string) => forwardRequest('https://api.example.com/orders', { headers: { authorization: `Bearer ${token}` } });

interface Row {
  readonly name: string;
  readonly config?: MiddlewareOverrides;
  readonly settings?: Partial<BearerTokensConfig>;
  readonly claims?: Readonly<Record<string, unknown>>;
  readonly expected: Record<string, unknown>;
  readonly absentHeaders?: readonly string[];
}

const rows: Row[] = [
  {
    name: 'lets a token the rule allows in with the same identity headers and username as a session, setting no cookie',
    expected: { kind: 'allow', headers: { 'X-Forwarded-User': 'script@example.com' }, username: 'script@example.com', cookies: [] },
    absentHeaders: ['Authorization'],
  },
  {
    name: 'refuses a token the rule does not allow as insufficient_scope',
    claims: { ...ADMIN, groups: ['dev'] },
    expected: { kind: 'deny', code: 'OFA_CLAIMS_DENIED', bearerError: 'insufficient_scope', cookies: [] },
  },
  {
    name: 'lets any valid token in when there is no claims rule',
    config: { claims: undefined },
    claims: { ...ADMIN, groups: [] },
    expected: { kind: 'allow' },
  },
  {
    name: 'passes the Authorization header on under passToApplication',
    settings: { passToApplication: true },
    expected: { kind: 'allow', headers: { Authorization: 'Bearer opaque-token' } },
  },
  {
    name: 'sends the applicationTokens headers empty, so the proxy replaces a client\'s copy',
    config: { applicationTokens: { accessTokenHeader: 'X-Access-Token', idTokenHeader: 'X-Id-Token' } },
    expected: { kind: 'allow', headers: { 'X-Forwarded-User': 'script@example.com', 'X-Access-Token': '', 'X-Id-Token': '' } },
  },
  {
    name: 'refuses identity headers larger than the proxies can carry',
    config: { forwardHeaders: { 'X-Forwarded-Bio': 'bio' } },
    claims: { ...ADMIN, bio: 'x'.repeat(9000) },
    expected: { kind: 'identity-too-large', budget: expect.objectContaining({ ok: false, largest: 'X-Forwarded-Bio' }) },
  },
];

describe('decideBearerToken', () => {
  for (const row of rows) {
    it(row.name, async () => {
      const { rt } = await bearerRuntime(row.config);
      const step = decideBearerToken(rt, withAuthorization('opaque-token'), { ...SETTINGS, ...row.settings }, row.claims ?? ADMIN);
      expect(step).toMatchObject(row.expected);
      for (const name of row.absentHeaders ?? []) expect(step).not.toHaveProperty(['headers', name]);
    });
  }
});

describe('bearerTokenRefusal', () => {
  const cases: Array<[ErrorCode, Record<string, unknown> | undefined]> = [
    ['OFA_BEARER_TOKEN_INVALID', { kind: 'deny', code: 'OFA_BEARER_TOKEN_INVALID', bearerError: 'invalid_token', cookies: [] }],
    ['OFA_PROVIDER_RESPONSE', { kind: 'error', code: 'OFA_PROVIDER_RESPONSE', retryUrl: undefined, cookies: [] }],
    ['OFA_PROVIDER_TIMEOUT', undefined],
    ['OFA_INTROSPECTION_BUSY', undefined],
  ];
  for (const [code, expected] of cases) {
    it(`${expected === undefined ? 'leaves' : 'answers'} ${code}${expected === undefined ? ' to the dispatcher' : ''}`, () => {
      const refusal = bearerTokenRefusal(new OfaError(code, 'with words of the provider: secret-detail'));
      if (expected === undefined) expect(refusal).toBeUndefined();
      else expect(refusal).toMatchObject(expected);
      expect(JSON.stringify(refusal ?? {})).not.toContain('secret-detail');
    });
  }
});

describe('checkBearerToken, the shell', () => {
  const tokenKey = (token: string): string => createHash('sha256').update(token).digest('base64url');

  it('answers 503 while the provider is not discovered', async () => {
    const { rt } = await bearerRuntime({}, false);
    expect(await checkBearerToken(rt, withAuthorization('opaque-token'), SETTINGS, { token: 'opaque-token' })).toBe(UNAVAILABLE);
  });

  it('refuses a malformed Authorization header as invalid_token and logs why, without the header', async () => {
    const { rt, logs: logger } = await bearerRuntime();
    const answer = await checkBearerToken(rt, forwardRequest('https://api.example.com/orders', { headers: { authorization: 'Bearer two words' } }), SETTINGS, { malformed: true });
    expect(answer).toMatchObject({ kind: 'deny', code: 'OFA_BEARER_TOKEN_INVALID', bearerError: 'invalid_token' });
    expect(logger.records).toContainEqual(expect.objectContaining({ msg: 'bearer token refused', code: 'OFA_BEARER_TOKEN_INVALID' }));
    expect(logger.text()).not.toContain('two words');
  });

  it('refuses an opaque token while introspection is off', async () => {
    const { rt } = await bearerRuntime();
    expect(rt.introspectionCache).toBeUndefined();
    const answer = await checkBearerToken(rt, withAuthorization('opaque-token'), SETTINGS, { token: 'opaque-token' });
    expect(answer).toMatchObject({ kind: 'deny', bearerError: 'invalid_token' });
  });

  it('reads introspection answers from the runtime\'s cache, not from the provider', async () => {
    const { rt } = await bearerRuntime({ bearerTokens: WITH_INTROSPECTION });
    rt.introspectionCache?.answers.set(tokenKey('known-token'), { claims: ADMIN, expiresAtSeconds: NOW + 60 });
    const known = await checkBearerToken(rt, withAuthorization('known-token'), WITH_INTROSPECTION, { token: 'known-token' });
    expect(known).toMatchObject({ kind: 'allow', headers: { 'X-Forwarded-User': 'script@example.com' } });
    // Not in the cache: the provider would be asked, and it has no introspection endpoint.
    const unknown = await checkBearerToken(rt, withAuthorization('unknown-token'), WITH_INTROSPECTION, { token: 'unknown-token' });
    expect(unknown).toMatchObject({ kind: 'deny', bearerError: 'invalid_token' });
  });

  it('lets a JWT access token signed with the provider\'s keys in, without asking the provider', async () => {
    const { rt } = await bearerRuntime();
    const token = await keys.sign({ ...ADMIN, iat: NOW - 10 }, 'at+jwt');
    const answer = await checkBearerToken(rt, withAuthorization(token), SETTINGS, { token });
    expect(answer).toMatchObject({ kind: 'allow', headers: { 'X-Forwarded-User': 'script@example.com' }, username: 'script@example.com', cookies: [] });
  });

  it('explains a claims refusal at debug level and refuses oversized identities with a warning', async () => {
    const { rt, logs: logger } = await bearerRuntime({ bearerTokens: WITH_INTROSPECTION, forwardHeaders: { 'X-Forwarded-Bio': 'bio' } });
    rt.introspectionCache?.answers.set(tokenKey('dev-token'), { claims: { ...ADMIN, groups: ['dev'] }, expiresAtSeconds: NOW + 60 });
    rt.introspectionCache?.answers.set(tokenKey('big-token'), { claims: { ...ADMIN, bio: `secret-bio-${'x'.repeat(9000)}` }, expiresAtSeconds: NOW + 60 });
    const denied = await checkBearerToken(rt, withAuthorization('dev-token'), WITH_INTROSPECTION, { token: 'dev-token' });
    expect(denied).toMatchObject({ kind: 'deny', code: 'OFA_CLAIMS_DENIED' });
    expect(logger.records).toContainEqual(expect.objectContaining({ msg: 'claims expression denied the bearer token' }));
    const large = await checkBearerToken(rt, withAuthorization('big-token'), WITH_INTROSPECTION, { token: 'big-token' });
    expect(large).toMatchObject({ kind: 'error', code: 'OFA_IDENTITY_HEADERS_TOO_LARGE', cookies: [] });
    expect(logger.warnings()).toEqual([expect.objectContaining({ code: 'OFA_IDENTITY_HEADERS_TOO_LARGE', largest: 'X-Forwarded-Bio' })]);
    expect(logger.text()).not.toContain('secret-bio');
  });
});

describe('the introspection cache across reloads', () => {
  // Nothing listens there: discovery fails quietly in the background, which these checks do not need.
  const middleware = (overrides: MiddlewareOverrides = {}): MiddlewareConfig =>
    makeMiddlewareConfig({ name: 'api', issuer: 'http://127.0.0.1:1', bearerTokens: WITH_INTROSPECTION, ...overrides });
  const configOf = (...middlewares: MiddlewareConfig[]): Config => ({
    server: { listen: { host: '127.0.0.1', port: 0 }, secrets: ['reload-test-secret-0123456789abcdef0123'], trustedProxies: [], logLevel: 'silent' },
    middlewares: Object.fromEntries(middlewares.map((m) => [m.name, m])),
    warnings: [],
  });

  it('is handed on while the middleware keeps its provider view, and started anew when the view or the option changes', async () => {
    const telemetry = createTelemetry({});
    const log = pino({ level: 'silent' });
    const first = buildGeneration(configOf(middleware(), middleware({ name: 'other-api' })), log, {}, telemetry);
    const cacheOf = (generation: typeof first, name = 'api') => generation.middlewares.get(name)?.introspectionCache;
    // A reload that changes only the claims rule keeps the view, hence the answers.
    const second = buildGeneration(configOf(middleware({ claims: 'Contains(`groups`, `admin`)' }), middleware({ name: 'other-api' })), log, {}, telemetry, first);
    // Another introspection endpoint is another view: answers from the old one must not count.
    const third = buildGeneration(
      configOf(middleware({ bearerTokens: { ...WITH_INTROSPECTION, introspection: { cacheSeconds: 60, endpoint: 'http://127.0.0.1:1/introspect' } } })),
      log,
      {},
      telemetry,
      second,
    );
    const fourth = buildGeneration(configOf(middleware({ bearerTokens: SETTINGS })), log, {}, telemetry, third);
    try {
      expect(cacheOf(first)).toBeDefined();
      expect(cacheOf(first, 'other-api')).not.toBe(cacheOf(first));
      expect(cacheOf(second)).toBe(cacheOf(first));
      expect(cacheOf(second, 'other-api')).toBe(cacheOf(first, 'other-api'));
      expect(cacheOf(third)).toBeDefined();
      expect(cacheOf(third)).not.toBe(cacheOf(second));
      expect(cacheOf(fourth)).toBeUndefined();
    } finally {
      for (const [generation, successor] of [[first, second], [second, third], [third, fourth], [fourth, undefined]] as const) await generation.retire(successor);
      await telemetry.shutdown();
    }
  });
});
