/**
 * Identity as sessions and bearer tokens share it: the rule's answer, the forwarded headers and
 * username, the size refusal, and the runtime's memory of verdicts.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import type { ClaimSources } from '../../src/claims/index.js';
import { MAX_IDENTITY_HEADERS_BYTES } from '../../src/forward/forwarded-headers.js';
import { claimsAllow, claimsVerdict, forwardedIdentity, identityTooLarge, warnIdentityTooLarge } from '../../src/forward/identity.js';
import { createTestLogger } from '../support/log.js';
import type { MiddlewareOverrides } from '../support/middleware-config.js';
import { createProviderKeys, createRouteRuntime, type ProviderKeys } from './routes/route-runtime.js';

const frozen = <T extends object>(value: T): Readonly<T> => Object.freeze(value);

let keys: ProviderKeys;
beforeAll(async () => {
  keys = await createProviderKeys();
});

/** A runtime's identity rules: by default `Contains(groups, admin)`, the email as X-Forwarded-User and as the username. */
async function rulesOf(middleware: MiddlewareOverrides = {}) {
  const { rt } = await createRouteRuntime({
    keys,
    middleware: { forwardHeaders: { 'X-Forwarded-User': 'email' }, usernameClaim: 'email', claims: 'Contains(`groups`, `admin`)', ...middleware },
  });
  return rt;
}

describe('claimsAllow', () => {
  it('asks the compiled rule, reading either token', async () => {
    const rt = await rulesOf({ claims: 'Contains(`groups`, `admin`) && Equals(`access_token.scope`, `api`)' });
    expect(claimsAllow(rt, { idToken: { groups: ['admin'] }, accessToken: { scope: 'api' } })).toBe(true);
    expect(claimsAllow(rt, { idToken: { groups: ['admin'] }, accessToken: { scope: 'other' } })).toBe(false);
    expect(claimsAllow(rt, { idToken: { groups: ['dev'] }, accessToken: { scope: 'api' } })).toBe(false);
  });

  it('allows everyone signed in when there is no rule', async () => {
    const rt = await rulesOf({ claims: undefined });
    expect(claimsAllow(rt, { idToken: {}, accessToken: undefined })).toBe(true);
  });
});

describe('forwardedIdentity', () => {
  const rulesReadingBothTokens = () =>
    rulesOf({
      forwardHeaders: { 'X-User': 'email', 'X-Id-Email': 'id_token.email', 'X-Scope': 'access_token.scope', 'X-Groups': 'groups' },
      usernameClaim: 'preferred_username',
    });

  it('reads an unprefixed key from the access token first, a prefixed key from its token only', async () => {
    const sources: ClaimSources = {
      idToken: { email: 'id@example.com', preferred_username: 'alice', groups: ['admin', 'dev'] },
      accessToken: { email: 'access@example.com', scope: 'api', preferred_username: 'alice-at-api' },
    };
    const identity = forwardedIdentity(await rulesReadingBothTokens(), sources);
    expect(identity.headers).toEqual({ 'X-User': 'access@example.com', 'X-Id-Email': 'id@example.com', 'X-Scope': 'api', 'X-Groups': '' });
    // The username is read as an unprefixed header is.
    expect(identity.username).toBe('alice-at-api');
    expect(identity.budget).toEqual({ ok: true, bytes: expect.any(Number) });
  });

  it('falls back to the ID token when there is no access token, and sends an absent claim empty', async () => {
    const identity = forwardedIdentity(await rulesReadingBothTokens(), { idToken: { email: 'id@example.com', groups: ['admin', 'dev'] }, accessToken: undefined });
    expect(identity.headers).toEqual({ 'X-User': 'id@example.com', 'X-Id-Email': 'id@example.com', 'X-Scope': '', 'X-Groups': 'admin,dev' });
    expect(identity.username).toBe('');
  });

  it('has no username without usernameClaim', async () => {
    const rt = await rulesOf({ usernameClaim: undefined });
    expect(forwardedIdentity(rt, { idToken: { email: 'a@example.com' }, accessToken: undefined }).username).toBeUndefined();
  });

  it('measures the headers against the proxies\' budget and names the largest', async () => {
    const rt = await rulesOf({ forwardHeaders: { 'X-User': 'email', 'X-Bio': 'bio' } });
    const identity = forwardedIdentity(rt, { idToken: { email: 'a@example.com', bio: 'x'.repeat(MAX_IDENTITY_HEADERS_BYTES) }, accessToken: undefined });
    expect(identity.budget).toMatchObject({ ok: false, limit: MAX_IDENTITY_HEADERS_BYTES, largest: 'X-Bio' });
  });
});

describe('claimsVerdict', () => {
  it('remembers the verdict for frozen claims, per runtime', async () => {
    const rt = await rulesOf();
    const sources: ClaimSources = { idToken: frozen({ email: 'a@example.com', groups: frozen(['admin']) }), accessToken: undefined };
    const first = claimsVerdict(rt, sources);
    expect(first.allowed).toBe(true);
    expect(claimsVerdict(rt, { idToken: sources.idToken, accessToken: undefined })).toBe(first);
    expect(rt.claimsVerdicts.size).toBe(1);
    // A reload's runtime has its own memory: perhaps another rule, other headers.
    const reloaded = await rulesOf({ claims: 'Contains(`groups`, `dev`)' });
    const other = claimsVerdict(reloaded, sources);
    expect(other).not.toBe(first);
    expect(other.allowed).toBe(false);
  });

  it('when its memory is full, remembers a newcomer’s verdict only from its second check on', async () => {
    const rt = await rulesOf();
    for (let i = 0; i < 1000; i += 1) claimsVerdict(rt, { idToken: frozen({ email: `u${i}@example.com` }), accessToken: undefined }, `session-${i}`);
    expect(rt.claimsVerdicts.size).toBe(1000);
    const idToken = frozen({ email: 'a@example.com', groups: frozen(['admin']) });
    const first = claimsVerdict(rt, { idToken, accessToken: undefined }, 'newcomer');
    const second = claimsVerdict(rt, { idToken, accessToken: undefined }, 'newcomer');
    expect(second).not.toBe(first);
    expect(claimsVerdict(rt, { idToken, accessToken: undefined }, 'newcomer')).toBe(second);
  });

  it('does not remember claims that could still change', async () => {
    const rt = await rulesOf();
    const idToken = { email: 'a@example.com', groups: ['admin'] };
    const first = claimsVerdict(rt, { idToken, accessToken: undefined });
    expect(claimsVerdict(rt, { idToken, accessToken: undefined })).not.toBe(first);
    expect(rt.claimsVerdicts.size).toBe(0);
  });

  it('judges anew when the access-token claims differ under the same ID-token claims', async () => {
    const rt = await rulesOf({ claims: 'Equals(`access_token.scope`, `api`)' });
    const idToken = frozen({ email: 'a@example.com' });
    const allowed = claimsVerdict(rt, { idToken, accessToken: frozen({ scope: 'api' }) });
    const refused = claimsVerdict(rt, { idToken, accessToken: frozen({ scope: 'other' }) });
    expect(allowed.allowed).toBe(true);
    expect(refused.allowed).toBe(false);
  });

  it('builds the identity once, frozen, and only when asked', async () => {
    const rt = await rulesOf();
    const verdict = claimsVerdict(rt, { idToken: frozen({ email: 'a@example.com', groups: frozen(['admin']) }), accessToken: undefined });
    const identity = verdict.identity();
    expect(verdict.identity()).toBe(identity);
    expect(Object.isFrozen(identity.headers)).toBe(true);
    expect(identity.headers).toEqual({ 'X-Forwarded-User': 'a@example.com' });
  });
});

describe('identityTooLarge', () => {
  const budget = { ok: false, bytes: 9000, limit: MAX_IDENTITY_HEADERS_BYTES, largest: 'X-Bio' } as const;

  it('refuses with the sizes and the largest header\'s name, carrying the cookies it is given', () => {
    expect(identityTooLarge(budget, ['a=b'])).toEqual({
      kind: 'error',
      code: 'OFA_IDENTITY_HEADERS_TOO_LARGE',
      detail: `the identity headers take 9000 bytes, more than the ${MAX_IDENTITY_HEADERS_BYTES} the proxies can carry (largest: X-Bio)`,
      retryUrl: undefined,
      cookies: ['a=b'],
    });
  });

  it('warns with the same numbers and its code', () => {
    const logger = createTestLogger();
    warnIdentityTooLarge(logger.log, budget);
    expect(logger.warnings()).toEqual([expect.objectContaining({ code: 'OFA_IDENTITY_HEADERS_TOO_LARGE', bytes: 9000, largest: 'X-Bio' })]);
  });
});
