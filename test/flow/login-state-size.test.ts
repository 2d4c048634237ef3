/**
 * A hostile page cannot lock users out with login-state cookies: navigations to long URLs keep
 * the Cookie header a login adds under 4 KB (Node answers 431 past 16 KB, nginx refuses a line
 * past 8 KB), the return address of a long URL is cut to its path, and such a login completes.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar } from '../support/cookie-jar.js';
import { forwardAuth, NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import { completeLogin, TEST_APP_ORIGIN } from '../support/op.js';
import type { TestService } from '../support/service.js';
import { useStack } from '../support/stack.js';

const APP = TEST_APP_ORIGIN;
const COOKIE_BUDGET = 4096;

function longUrl(index: number, kilobytes: number): string {
  const path = `/page/${index}/${'p'.repeat(200)}`;
  return `${APP}${path}?q=${'x'.repeat(kilobytes * 1024)}`;
}

describe('login-state cookies from navigations to long URLs', () => {
  const stack = useStack({ service: { middlewares: ({ issuer }) => [{ name: 'test', issuer }] } });
  let service: TestService;
  beforeAll(() => {
    ({ service } = stack());
  });

  const visit = (url: string, jar = createCookieJar()) => forwardAuth(service.authAddress(), { url, headers: NAVIGATION_HEADERS }, jar);

  it('keep the Cookie header under 4 KB after four navigations to 3–6 KB URLs, and the last login completes', async () => {
    const jar = createCookieJar();
    const starts = [];
    for (const [index, kilobytes] of [3, 4, 5, 6].entries()) {
      const start = await visit(longUrl(index, kilobytes), jar);
      expect(start.status).toBe(302);
      starts.push(start);
      expect((jar.cookieHeader(APP) ?? '').length).toBeLessThan(COOKIE_BUDGET);
    }
    const last = starts.at(-1);
    const callbackUrl = await completeLogin(last?.location ?? '', { user: 'alice', jar: createCookieJar() });
    const back = await visit(callbackUrl, jar);
    expect(back.status, back.body.slice(0, 200)).toBe(302);
    // Over ~1 KB the return address keeps the path without the query.
    expect(back.location).toBe(new URL(longUrl(3, 6)).origin + new URL(longUrl(3, 6)).pathname);
    expect((await visit(`${APP}/private`, jar)).status).toBe(200);
  });

  it('returns to / when even the path is too long, and keeps short return addresses whole', async () => {
    const jar = createCookieJar();
    const start = await visit(`${APP}/${'z'.repeat(3000)}?a=1`, jar);
    const back = await visit(await completeLogin(start.location ?? '', { user: 'alice', jar: createCookieJar() }), jar);
    expect(back.location).toBe(`${APP}/`);

    const shortJar = createCookieJar();
    const shortStart = await visit(`${APP}/short/page?tab=2#x`, shortJar);
    const shortBack = await visit(await completeLogin(shortStart.location ?? '', { user: 'alice', jar: createCookieJar() }), shortJar);
    expect(shortBack.location).toBe(`${APP}/short/page?tab=2`);
  });

  it('drop the oldest flows first, so the newest logins of a browser still complete', async () => {
    const jar = createCookieJar();
    const starts = [];
    for (let index = 0; index < 6; index++) starts.push(await visit(longUrl(index, 2), jar));
    expect((jar.cookieHeader(APP) ?? '').length).toBeLessThan(COOKIE_BUDGET);
    const newest = starts.at(-1);
    const back = await visit(await completeLogin(newest?.location ?? '', { user: 'alice', jar: createCookieJar() }), jar);
    expect(back.status).toBe(302);
    const oldest = await visit(await completeLogin(starts[0]?.location ?? '', { user: 'alice', jar: createCookieJar() }), createCookieJar());
    expect(oldest.status).toBe(400);
  });
});
