/**
 * The token request's redirect_uri is the one the login sent. A callback that reaches the service
 * for another host than the login was started for (a spoofed or misrouted X-Forwarded-Host) is
 * refused before any token request, so the provider never sees `redirect_uri=http://evil.test/…`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar } from '../../support/cookie-jar.js';
import { forwardAuth, NAVIGATION_HEADERS } from '../../support/forward-auth-client.js';
import { APP, expectRefused, startLogin, startRig, type Rig } from '../provider/rig.js';

describe('a callback for another host than the login', () => {
  let rig: Rig;

  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(async () => {
    await rig?.stop();
  });

  it('is refused with 400 before any token request, and the login still completes on its own host', async () => {
    const started = await startLogin(rig);
    const before = rig.provider.tokenRequests().length;
    const elsewhere = new URL(started.callbackUrl.href);
    elsewhere.host = 'evil.test';
    // The browser's state cookie rides along, as it would where cookies are shared across hosts.
    const cookie = started.jar.cookieHeader(started.callbackUrl) ?? '';
    expect(cookie).toContain('test-state.');
    const refused = await forwardAuth(
      rig.service.authAddress(),
      { url: elsewhere.href, headers: { ...NAVIGATION_HEADERS, cookie } },
      createCookieJar(),
    );
    await expectRefused(rig, refused, createCookieJar(), { status: 400, code: 'OFA_CALLBACK_STATE_MISMATCH' });
    expect(rig.provider.tokenRequests().length).toBe(before);
  });

  it('sends the redirect_uri of the authorization request to the token endpoint', async () => {
    const started = await startLogin(rig);
    const sent = new URL(started.start.location ?? '').searchParams.get('redirect_uri');
    expect(sent).toBe(`${APP}/callback`);
    const callback = await forwardAuth(rig.service.authAddress(), { url: started.callbackUrl.href, headers: NAVIGATION_HEADERS }, started.jar);
    expect(callback.status, callback.body.slice(0, 200)).toBe(302);
    const tokenBodies = rig.provider.requests.filter((r) => r.url.split('?')[0] === '/token').map((r) => new URLSearchParams(r.body));
    expect(tokenBodies.at(-1)?.get('redirect_uri')).toBe(sent);
  });
});
