/**
 * The login-and-consent application Ory Hydra delegates to (Hydra itself has no users): it answers
 * Hydra's login, consent and logout challenges through Hydra's admin API, for the dev provider's
 * users (DEV_USERS, password = user name). Consent grants every requested scope and audience and
 * puts the user's claims in the ID token. node:http on 127.0.0.1, closed by the fixture.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { DEV_USERS } from '../../deploy/demo/dev-provider.js';

export interface HydraLoginApp {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

export class HydraAdminError extends Error {
  override readonly name = 'HydraAdminError';
}

/** One call to Hydra's admin API; the answer's JSON, or an error naming the path and status. */
export async function callHydraAdmin(adminUrl: string, method: 'GET' | 'PUT' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
  const response = await request(`${adminUrl}${path}`, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.body.text();
  if (response.statusCode >= 300) throw new HydraAdminError(`Hydra admin ${method} ${path.split('?')[0]}: HTTP ${response.statusCode} ${text.slice(0, 300)}`);
  return text === '' ? undefined : (JSON.parse(text) as unknown);
}

interface RedirectTo {
  readonly redirect_to: string;
}

interface LoginRequest {
  readonly skip: boolean;
  readonly subject: string;
}

interface ConsentRequest {
  readonly subject: string;
  readonly requested_scope?: readonly string[];
  readonly requested_access_token_audience?: readonly string[];
}

const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginForm(challenge: string, error = ''): string {
  return `<!doctype html><title>Sign in</title>${error === '' ? '' : `<p>${escapeHtml(error)}</p>`}
<form method="post" action="/login">
<input type="hidden" name="login_challenge" value="${escapeHtml(challenge)}">
<input name="login"><input name="password" type="password"><button>Sign in</button>
</form>`;
}

/** The user's claims the scopes release, as the dev provider's users carry them. */
function idTokenClaims(subject: string): Record<string, unknown> {
  return { ...(DEV_USERS[subject]?.claims ?? {}) };
}

async function readForm(req: IncomingMessage): Promise<URLSearchParams> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new URLSearchParams(Buffer.concat(chunks).toString('utf8'));
}

function redirect(res: ServerResponse, location: string): void {
  res.writeHead(302, { location, 'cache-control': 'no-store' });
  res.end();
}

function page(res: ServerResponse, status: number, html: string): void {
  res.writeHead(status, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(html);
}

export async function startHydraLoginApp(adminUrl: string): Promise<HydraLoginApp> {
  const admin = (method: 'GET' | 'PUT', path: string, body?: unknown): Promise<unknown> => callHydraAdmin(adminUrl, method, path, body);

  async function acceptLogin(res: ServerResponse, challenge: string, subject: string): Promise<void> {
    // remember: Hydra keeps the login session (its cookie, the ID token's sid), which logout and back-channel logout act on.
    const accepted = (await admin('PUT', `/admin/oauth2/auth/requests/login/accept?login_challenge=${encodeURIComponent(challenge)}`, {
      subject,
      remember: true,
      remember_for: 3600,
    })) as RedirectTo;
    redirect(res, accepted.redirect_to);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://login.invalid');
    if (req.method === 'GET' && url.pathname === '/login') {
      const challenge = url.searchParams.get('login_challenge') ?? '';
      const login = (await admin('GET', `/admin/oauth2/auth/requests/login?login_challenge=${encodeURIComponent(challenge)}`)) as LoginRequest;
      if (login.skip) return acceptLogin(res, challenge, login.subject);
      return page(res, 200, loginForm(challenge));
    }
    if (req.method === 'POST' && url.pathname === '/login') {
      const form = await readForm(req);
      const challenge = form.get('login_challenge') ?? '';
      const user = form.get('login') ?? '';
      if (DEV_USERS[user] === undefined || DEV_USERS[user]?.password !== form.get('password')) return page(res, 200, loginForm(challenge, 'Unknown user or wrong password'));
      return acceptLogin(res, challenge, user);
    }
    if (req.method === 'GET' && url.pathname === '/consent') {
      const challenge = encodeURIComponent(url.searchParams.get('consent_challenge') ?? '');
      const consent = (await admin('GET', `/admin/oauth2/auth/requests/consent?consent_challenge=${challenge}`)) as ConsentRequest;
      const accepted = (await admin('PUT', `/admin/oauth2/auth/requests/consent/accept?consent_challenge=${challenge}`, {
        grant_scope: consent.requested_scope ?? [],
        grant_access_token_audience: consent.requested_access_token_audience ?? [],
        remember: false,
        session: { id_token: idTokenClaims(consent.subject) },
      })) as RedirectTo;
      return redirect(res, accepted.redirect_to);
    }
    if (req.method === 'GET' && url.pathname === '/logout') {
      const challenge = encodeURIComponent(url.searchParams.get('logout_challenge') ?? '');
      const accepted = (await admin('PUT', `/admin/oauth2/auth/requests/logout/accept?logout_challenge=${challenge}`)) as RedirectTo;
      return redirect(res, accepted.redirect_to);
    }
    if (req.method === 'GET' && url.pathname === '/logged-out') return page(res, 200, '<!doctype html><title>Signed out</title><p>Signed out.</p>');
    page(res, 404, 'not found');
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) page(res, 502, escapeHtml(error instanceof Error ? error.message : String(error)));
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
