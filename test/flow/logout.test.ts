import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import { startTestProvider, TEST_APP_ORIGIN, type DevProvider } from '../support/op.js';
import { startService, type TestService } from '../support/service.js';

const APP = TEST_APP_ORIGIN;

describe('logging out', () => {
  let op: DevProvider;
  let plainOp: DevProvider;
  let service: TestService;

  beforeAll(async () => {
    op = await startTestProvider();
    plainOp = await startTestProvider({ rpInitiatedLogout: false });
    service = await startService({
      middlewares: [
        { name: 'test', issuer: op.issuer, logoutUrl: '/logout', postLogoutRedirectUrl: '/logged-out' },
        { name: 'nohint', issuer: op.issuer, logoutUrl: '/logout' },
        { name: 'plain', issuer: plainOp.issuer, logoutUrl: '/logout', postLogoutRedirectUrl: '/logged-out' },
        { name: 'bare', issuer: plainOp.issuer, logoutUrl: 'app.example.test/bye' },
      ],
    });
  });
  afterAll(async () => {
    await service?.stop();
    await op?.stop();
    await plainOp?.stop();
  });

  async function signedIn(name: string) {
    const login = await browserLogin({ authAddress: service.authAddress(name), url: `${APP}/`, user: 'alice' });
    expect(login.final.status).toBe(200);
    return login.jar;
  }

  it('ends the session and sends the browser to the provider’s end-session endpoint with id_token_hint and post_logout_redirect_uri', async () => {
    const jar = await signedIn('test');
    const stolenCopy = jar.cookieHeader(`${APP}/`) ?? '';
    const result = await forwardAuth(service.authAddress(), { url: `${APP}/logout`, headers: NAVIGATION_HEADERS }, jar);
    expect(result.status).toBe(302);
    const location = new URL(result.location ?? '');
    expect(location.href.startsWith(op.issuer)).toBe(true);
    expect(location.pathname).toMatch(/session\/end$/);
    expect(location.searchParams.get('client_id')).toBe('forward-auth');
    expect(location.searchParams.get('id_token_hint')?.split('.')).toHaveLength(3);
    expect(location.searchParams.get('post_logout_redirect_uri')).toBe(`${APP}/logged-out`);
    expect(jar.get('test-session')).toBeUndefined();
    // A copy of the old cookie is refused too: the session was revoked, not only forgotten by this browser.
    const replay = await forwardAuth(service.authAddress(), { url: `${APP}/`, headers: { accept: 'application/json', cookie: stolenCopy } }, createCookieJar());
    expect(replay.status).toBe(401);
  });

  it('uses client_id alone when there is no post-logout URL to return to', async () => {
    const jar = await signedIn('nohint');
    const result = await forwardAuth(service.authAddress('nohint'), { url: `${APP}/logout`, headers: NAVIGATION_HEADERS }, jar);
    const location = new URL(result.location ?? '');
    expect(location.searchParams.get('client_id')).toBe('forward-auth');
    expect(location.searchParams.has('post_logout_redirect_uri')).toBe(false);
  });

  it('redirects to postLogoutRedirectUrl when the provider has no end-session endpoint', async () => {
    const jar = await signedIn('plain');
    const result = await forwardAuth(service.authAddress('plain'), { url: `${APP}/logout`, headers: NAVIGATION_HEADERS }, jar);
    expect(result.status).toBe(302);
    expect(result.location).toBe(`${APP}/logged-out`);
    expect(jar.get('plain-session')).toBeUndefined();
  });

  it('shows a small signed-out page when there is neither an end-session endpoint nor a post-logout URL', async () => {
    const jar = await signedIn('bare');
    const result = await forwardAuth(service.authAddress('bare'), { url: `${APP}/bye`, headers: NAVIGATION_HEADERS }, jar);
    expect(result.status).toBe(401);
    expect(result.body).toContain('signed out');
    expect(jar.get('bare-session')).toBeUndefined();
    const after = await forwardAuth(service.authAddress('bare'), { url: `${APP}/`, headers: { accept: 'application/json' } }, jar);
    expect(after.status).toBe(401);
  });

  it('works for a browser without a session, and never passes the logout request to the application', async () => {
    const result = await forwardAuth(service.authAddress('plain'), { url: `${APP}/logout`, headers: NAVIGATION_HEADERS }, createCookieJar());
    expect(result.status).toBe(302);
    expect(result.location).toBe(`${APP}/logged-out`);
  });
});
