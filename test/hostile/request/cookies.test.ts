/**
 * Hostile Cookie headers: tampered, truncated or foreign session cookies never open; old keys open
 * only while configured (and are re-sealed); oversized or absurdly split headers never cause a
 * 5xx; a cookie tossed from a parent domain does not shadow ours; expired sessions end.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar, type CookieJar } from '../../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS, type ForwardAuthOptions, type ForwardAuthResult } from '../../support/forward-auth-client.js';
import { startTestProvider, TEST_APP_ORIGIN, type DevProvider } from '../../support/op.js';
import { startService, TEST_SECRET, type TestService } from '../../support/service.js';
import { API, expectNothingGranted, forwardedFor, rawRequest, type RawHeader } from './support.js';

const APP = TEST_APP_ORIGIN;
const SESSION = 'test-session';
const TRAEFIK: ForwardAuthOptions = { addAuthCookiesToResponse: [SESSION, 'fixed-session', 'other-session'], authResponseHeaders: ['X-User'] };
const OLD_SECRET = 'an-old-secret-that-is-long-enough-9876543210';
const NEW_SECRET = 'a-new-secret-that-is-long-enough-abcdefghij';

describe('hostile cookies', () => {
  let op: DevProvider;
  let service: TestService;
  let cases = 0;

  beforeAll(async () => {
    op = await startTestProvider({ ttl: { AccessToken: 3600, IdToken: 86400 } });
    service = await startService({
      middlewares: [
        { name: 'test', issuer: op.issuer, forwardHeaders: { 'X-User': 'sub' } },
        { name: 'other', issuer: op.issuer, forwardHeaders: { 'X-User': 'sub' } },
        {
          name: 'fixed', issuer: op.issuer, forwardHeaders: { 'X-User': 'sub' },
          session: { name: 'fixed-session', path: '/', domain: undefined, sameSite: 'lax', httpOnly: true, secure: false, expiry: 200, maxLifetime: undefined, sliding: false, refresh: true, store: undefined },
        },
      ],
    });
  });
  afterAll(async () => {
    await service?.stop();
    await op?.stop();
    console.info(`hostile cookie cases: ${cases}`);
  });

  async function signedIn(name = 'test', user = 'alice', target: TestService = service): Promise<CookieJar> {
    const login = await browserLogin({ authAddress: target.authAddress(name), url: `${APP}/`, user, ...TRAEFIK });
    expect(login.final.status).toBe(200);
    return login.jar;
  }

  function valueOf(jar: CookieJar, name = SESSION): string {
    const value = jar.get(name)?.value;
    if (value === undefined) throw new Error(`no ${name} cookie`);
    return value;
  }

  /** An API request carrying exactly this Cookie header (through the Traefik harness, no jar cookies). */
  function withCookie(cookie: string, name = 'test', target: TestService = service, headers: Record<string, string> = { accept: 'application/json' }): Promise<ForwardAuthResult> {
    cases += 1;
    return forwardAuth(target.authAddress(name), { url: `${APP}/api`, headers: { ...headers, cookie } }, createCookieJar(), TRAEFIK);
  }

  function expectRefused(result: ForwardAuthResult, label: string, secrets: readonly string[] = [], sessionCookies = [SESSION]): void {
    expectNothingGranted(result, { sessionCookies, identityHeaders: ['x-user'], secrets, statuses: [401] }, label);
    expect(result.upstreamHeaders, label).toEqual({});
  }

  function expectAllowedAs(result: ForwardAuthResult, user: string, label: string): void {
    expect(result.status, label).toBe(200);
    expect(result.upstreamHeaders['x-user'], label).toBe(user);
  }

  it('refuses tampered session cookies, and clears them', async () => {
    const good = valueOf(await signedIn());
    const body = good.slice(3);
    const flip = (text: string, index: number): string => text.slice(0, index) + (text[index] === 'A' ? 'B' : 'A') + text.slice(index + 1);
    const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    // Flips the lowest bit of the last character: bits base64 decoders drop when the length is not a multiple of 4.
    const lowBit = (text: string): string => text.slice(0, -1) + (ALPHABET[ALPHABET.indexOf(text.slice(-1)) ^ 1] ?? '');
    const tampered = [
      `v1.${lowBit(body)}`, `v1.${body}AA`, `v1.${body}AAA`, `v1.${body}AAAA`,
      `v2.${body}`, `V1.${body}`, `v1${body}`, body, `v1.${flip(body, 0)}`, `v1.${flip(body, 5)}`, `v1.${flip(body, 20)}`,
      `v1.${flip(body, Math.floor(body.length / 2))}`, `v1.${flip(body, body.length - 1)}`, `v1.${body}A`, `v1.${body}==`,
      `v1.${body.replace(/-/g, '+').replace(/_/g, '/')}`, `v1.${body}.${body}`, `v1. ${body}`, `v1.${body.split('').reverse().join('')}`,
      `v1.${'A'.repeat(body.length)}`, `v1.${body.slice(0, 10)}%41${body.slice(13)}`,
    ];
    for (const [index, value] of tampered.entries()) {
      if (value === good) continue;
      const result = await withCookie(`${SESSION}=${value}`);
      expectRefused(result, `tampered #${index}`, [good]);
      expect(result.authSetCookies.some((c) => c.startsWith(`${SESSION}=;`) && c.includes('Max-Age=0'))).toBe(true);
    }
    // A quoted value is the same value (RFC 6265 cookie-value), not a tamper.
    expectAllowedAs(await withCookie(`${SESSION}="${good}"`), 'alice', 'quoted');
  });

  it('refuses truncated session cookies', async () => {
    const good = valueOf(await signedIn());
    for (const length of [0, 1, 3, 4, 10, 30, Math.floor(good.length / 2), good.length - 22, good.length - 1]) {
      expectRefused(await withCookie(`${SESSION}=${good.slice(0, length)}`), `truncated to ${length}`, [good]);
    }
    expectRefused(await withCookie(SESSION), 'name alone', [good]);
    expectRefused(await withCookie(`${SESSION}=`), 'empty value', [good]);
  });

  it('never opens a cookie of another middleware or another kind under the same secret', async () => {
    const other = valueOf(await signedIn('other'), 'other-session');
    expectRefused(await withCookie(`${SESSION}=${other}`), 'other middleware’s session', [other]);
    expectRefused(await withCookie(`other-session=${other}`), 'other middleware’s cookie under its own name', [other]);
    expectRefused(await withCookie(`${SESSION}=${valueOf(await signedIn('fixed'), 'fixed-session')}`), 'fixed middleware’s session');
    // A sealed login-flow (state) cookie is AES-GCM under the same keys, with another purpose.
    const start = await forwardAuth(service.authAddress(), { url: `${APP}/`, headers: NAVIGATION_HEADERS }, createCookieJar());
    const state = (start.authSetCookies[0] ?? '').split(';')[0]?.split('=').slice(1).join('=') ?? '';
    expect(state.startsWith('v1.')).toBe(true);
    expectRefused(await withCookie(`${SESSION}=${state}`), 'state cookie as session', [state]);
    // And the other way: our session does not open in the other middleware.
    const ours = valueOf(await signedIn());
    expectRefused(await withCookie(`other-session=${ours}`, 'other'), 'ours in the other middleware', [ours], ['other-session']);
  });

  it('opens a cookie sealed with an old secret while it is configured, re-sealing it; refuses it once the secret is gone', async () => {
    const before = await startService({ middlewares: [{ name: 'test', issuer: op.issuer, forwardHeaders: { 'X-User': 'sub' } }], secrets: [OLD_SECRET] });
    const rotated = await startService({ middlewares: [{ name: 'test', issuer: op.issuer, forwardHeaders: { 'X-User': 'sub' } }], secrets: [NEW_SECRET, OLD_SECRET] });
    const retired = await startService({ middlewares: [{ name: 'test', issuer: op.issuer, forwardHeaders: { 'X-User': 'sub' } }], secrets: [NEW_SECRET] });
    try {
      const old = valueOf(await signedIn('test', 'alice', before));
      const reopened = await withCookie(`${SESSION}=${old}`, 'test', rotated);
      expectAllowedAs(reopened, 'alice', 'old key while configured');
      const resealed = reopened.setCookies.find((c) => c.startsWith(`${SESSION}=v1.`));
      expect(resealed).toBeDefined();
      const fresh = (resealed ?? '').split(';')[0]?.slice(SESSION.length + 1) ?? '';
      expect(fresh).not.toBe(old);
      // The re-sealed cookie is current: no further re-sealing, and it opens with the new secret alone.
      const again = await withCookie(`${SESSION}=${fresh}`, 'test', rotated);
      expectAllowedAs(again, 'alice', 're-sealed');
      expect(again.authSetCookies).toEqual([]);
      expectAllowedAs(await withCookie(`${SESSION}=${fresh}`, 'test', retired), 'alice', 're-sealed under the new key alone');
      expectRefused(await withCookie(`${SESSION}=${old}`, 'test', retired), 'old key retired', [old]);
      // A cookie of the new key means nothing to a service that still has only the old one.
      expectRefused(await withCookie(`${SESSION}=${fresh}`, 'test', before), 'new key unknown', [fresh]);
      // The default test secret opens nothing of these.
      expect(TEST_SECRET).not.toBe(OLD_SECRET);
      expectRefused(await withCookie(`${SESSION}=${old}`), 'other secret', [old]);
    } finally {
      await before.stop();
      await rotated.stop();
      await retired.stop();
    }
  });

  describe('oversized and absurdly split Cookie headers', () => {
    let good: string;
    beforeAll(async () => {
      good = valueOf(await signedIn());
    });

    function raw(headers: readonly RawHeader[]) {
      cases += 1;
      return rawRequest(service.origin, '/auth/test', [...API, ...forwardedFor(`${APP}/api`), ...headers]);
    }

    it('reads our cookie among hundreds of others wherever it comes: the session cookie is found by scanning a header bounded by size, not by count', async () => {
      const filler = Array.from({ length: 500 }, (_, i) => `c${i}=${'v'.repeat(8)}`);
      const early = await raw([['Cookie', [`${SESSION}=${good}`, ...filler].join('; ')]]);
      expect(early.status).toBe(200);
      expect(early.headers['x-user']).toEqual(['alice']);
      // Another site's 500 cookies cannot push ours out of sight (a way to sign a user out).
      const late = await raw([['Cookie', [...filler, `${SESSION}=${good}`].join('; ')]]);
      expect(late.status).toBe(200);
      expect(late.headers['x-user']).toEqual(['alice']);
      const manyFields = await raw(filler.slice(0, 300).map((c): RawHeader => ['Cookie', c]));
      expectNothingGranted(manyFields, { sessionCookies: [SESSION], identityHeaders: ['x-user'], statuses: [401] }, '300 Cookie fields');
      // HTTP/2-style split: one Cookie field per cookie, ours among them, joined by "; ".
      const split = await raw([['Cookie', 'a=1'], ['Cookie', `${SESSION}=${good}`], ['Cookie', 'b=2']]);
      expect(split.status).toBe(200);
    });

    it('answers a 30 KiB Cookie header, a 3 KiB-per-cookie flood and a too-long session value with a 4xx, never a 5xx', async () => {
      const cases_: [string, RawHeader[]][] = [
        ['30 KiB in one field', [['Cookie', `${SESSION}=${good}; big=${'x'.repeat(30 * 1024)}`]]],
        ['30 KiB over 10 fields', Array.from({ length: 10 }, (_, i): RawHeader => ['Cookie', `f${i}=${'y'.repeat(3 * 1024)}`])],
        ['15 KiB just under Node’s limit', [['Cookie', `junk=${'z'.repeat(15 * 1024)}; ${SESSION}=${good}`]]],
        ['a 5000-char session value', [['Cookie', `${SESSION}=v1.${'A'.repeat(5000)}`]]],
        ['a 12 KiB valid-looking session value', [['Cookie', `${SESSION}=${good}${'A'.repeat(12 * 1024)}`]]],
      ];
      for (const [label, headers] of cases_) {
        const result = await raw(headers);
        expectNothingGranted(result, { sessionCookies: [SESSION], identityHeaders: ['x-user'], secrets: [good], statuses: [400, 401, 431] }, label);
      }
    });

    it('survives garbage in the Cookie header without a 5xx, still finding a good cookie behind it', async () => {
      const garbage = [
        ';;;;', '=', '==; ==', `${SESSION}`, '__proto__=x', 'constructor=y; prototype=z', 'toString=1', 'a b=c', '"q"=1', 'x=\x80\xff',
        `${SESSION}=${good};${SESSION}`, 'x=1;;;;;;;;;;;;;;', `=${good}`, ' ; ; ', 'x="unterminated', '\t',
      ];
      for (const [index, junk] of garbage.entries()) {
        const result = await raw([['Cookie', `${junk}; ${SESSION}=${good}`]]);
        expect(result.status, `garbage #${index}`).toBe(200);
        expect(result.headers['x-user'], `garbage #${index}`).toEqual(['alice']);
        if (junk.includes(good)) continue;
        const alone = await raw([['Cookie', junk]]);
        expectNothingGranted(alone, { sessionCookies: [SESSION], identityHeaders: ['x-user'], statuses: [400, 401] }, `garbage #${index} alone`);
      }
    });
  });

  describe('a cookie tossed from a parent domain under our name', () => {
    it('does not shadow ours, first or last, whatever it holds', async () => {
      const alice = valueOf(await signedIn());
      const other = valueOf(await signedIn('other'), 'other-session');
      const tossed = ['garbage', 'v1.AAAA', other, `v1.${alice.slice(3, -2)}AA`, ''];
      for (const bad of tossed) {
        for (const order of [[bad, alice], [alice, bad], [bad, bad, alice]]) {
          const cookie = order.map((v) => `${SESSION}=${v}`).join('; ');
          expectAllowedAs(await withCookie(cookie), 'alice', `order ${order.map((v) => v.slice(0, 6)).join(',')}`);
        }
      }
    });

    it('is ignored past eight values of one name (a flood cannot make us open hundreds)', async () => {
      const alice = valueOf(await signedIn());
      const flood = Array.from({ length: 8 }, (_, i) => `${SESSION}=v1.junk${i}`);
      expectRefused(await withCookie([...flood, `${SESSION}=${alice}`].join('; ')), 'ninth value', [alice]);
      expectAllowedAs(await withCookie([...flood.slice(1), `${SESSION}=${alice}`].join('; ')), 'alice', 'eighth value');
    });

    /**
     * Two sessions that both open (a sibling subdomain tossing its owner's own valid cookie): we
     * cannot tell which is the browser's own, so neither is used and the name is cleared.
     * test/hostile/request/cookie-tossing.test.ts covers the rest; a `__Host-` name prevents it.
     */
    it('that is itself a valid session makes the request unauthenticated, whichever comes first', async () => {
      const alice = valueOf(await signedIn('test', 'alice'));
      const bob = valueOf(await signedIn('test', 'bob'));
      for (const [header, label] of [[`${SESSION}=${bob}; ${SESSION}=${alice}`, 'bob first'], [`${SESSION}=${alice}; ${SESSION}=${bob}`, 'alice first']] as const) {
        const result = await withCookie(header);
        expectRefused(result, label, [alice, bob]);
        expect(result.authSetCookies.some((c) => c.startsWith(`${SESSION}=;`) && c.includes('Max-Age=0')), label).toBe(true);
      }
    });
  });

  describe('sessions past expiry', () => {
    it('end at session.expiry: refused, cleared, a page load starts a new login', async () => {
      const jar = await signedIn('fixed');
      const value = valueOf(jar, 'fixed-session');
      for (const seconds of [200, 201, 86400 * 30]) {
        service.advance(seconds);
        try {
          const result = await withCookie(`fixed-session=${value}`, 'fixed');
          expectRefused(result, `${seconds}s later`, [value], ['fixed-session']);
          expect(result.authSetCookies.some((c) => c.startsWith('fixed-session=;') && c.includes('Max-Age=0'))).toBe(true);
          cases += 1;
          const page = await forwardAuth(service.authAddress('fixed'), { url: `${APP}/`, headers: { ...NAVIGATION_HEADERS, cookie: `fixed-session=${value}` } }, createCookieJar());
          expect(page.status).toBe(302);
          expect(new URL(page.location ?? '').origin).toBe(op.url);
        } finally {
          service.advance(-seconds);
        }
      }
      expectAllowedAs(await withCookie(`fixed-session=${value}`, 'fixed'), 'alice', 'before expiry');
    });

    it('stay ended when an expired cookie is replayed next to a valid one of another middleware', async () => {
      const fixed = valueOf(await signedIn('fixed'), 'fixed-session');
      const other = valueOf(await signedIn('other'), 'other-session');
      service.advance(250);
      try {
        expectRefused(await withCookie(`fixed-session=${fixed}; other-session=${other}`, 'fixed'), 'expired beside another', [fixed], ['fixed-session']);
        expectRefused(await withCookie(`fixed-session=${other}`, 'fixed'), 'other middleware’s live session', [other], ['fixed-session']);
      } finally {
        service.advance(-250);
      }
    });
  });
});
