/**
 * A real Ory Hydra (deploy/peers builds the pinned version): `hydra serve all --dev` with its
 * in-memory store, public and admin on free 127.0.0.1 ports, a config file in a temporary
 * directory, stopped by PID; its login, consent and logout UI is the small application in
 * hydra-login-app.ts. Clients are registered through the admin API. A missing binary fails the
 * test (never a skip).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startOnFreePort } from '../deploy/binaries.js';
import { createCookieJar, type CookieJar } from './cookie-jar.js';
import { callHydraAdmin, startHydraLoginApp, type HydraLoginApp } from './hydra-login-app.js';
import { peerBinary } from './peers.js';
import { findFreePort } from './scripted-server.js';

export interface HydraOptions {
  /** Access token lifetime, in Hydra's duration syntax (default 1h). */
  readonly accessTokenTtl?: string;
  readonly idTokenTtl?: string;
  /** A PEM CA file Hydra trusts for its outbound calls (back-channel logout to a proxy on HTTPS with a test CA). */
  readonly caFile?: string;
}

/** What we register; Hydra fills in the rest (https://www.ory.sh/docs/hydra/reference/api: createOAuth2Client). */
export interface HydraClient {
  readonly client_id: string;
  readonly client_secret?: string;
  readonly token_endpoint_auth_method?: 'client_secret_basic' | 'client_secret_post' | 'private_key_jwt' | 'none';
  readonly token_endpoint_auth_signing_alg?: string;
  readonly jwks?: { readonly keys: readonly Record<string, unknown>[] };
  readonly redirect_uris?: readonly string[];
  readonly post_logout_redirect_uris?: readonly string[];
  readonly backchannel_logout_uri?: string;
  readonly backchannel_logout_session_required?: boolean;
  readonly grant_types?: readonly string[];
  readonly response_types?: readonly string[];
  readonly scope?: string;
  readonly audience?: readonly string[];
}

export interface RunningHydra {
  /** The issuer as Hydra's discovery names it. */
  readonly issuer: string;
  readonly publicUrl: string;
  readonly adminUrl: string;
  readonly pid: number;
  readonly loginApp: HydraLoginApp;
  /** Registers a client (defaults: code + refresh grants, the scopes the service asks for). */
  createClient(client: HydraClient): Promise<void>;
  /** Hydra's own answer (RFC 7662) about a token, from its admin API. */
  introspect(token: string): Promise<Record<string, unknown>>;
  /** Everything Hydra wrote to stdout and stderr (its log). */
  output(): string;
  stop(): Promise<void>;
}

/** The scopes our service asks Hydra for: offline_access is what makes Hydra issue a refresh token. */
export const HYDRA_SCOPES = ['openid', 'offline_access', 'profile', 'email'] as const;

function hydraConfig(ports: { publicPort: number; adminPort: number }, loginUrl: string, options: HydraOptions): string {
  // JSON is YAML: Hydra reads either.
  return JSON.stringify({
    dsn: 'memory',
    log: { level: 'info', format: 'text', leak_sensitive_values: false },
    serve: {
      public: { host: '127.0.0.1', port: ports.publicPort },
      admin: { host: '127.0.0.1', port: ports.adminPort },
    },
    urls: {
      self: { issuer: `http://127.0.0.1:${ports.publicPort}` },
      login: `${loginUrl}/login`,
      consent: `${loginUrl}/consent`,
      logout: `${loginUrl}/logout`,
      post_logout_redirect: `${loginUrl}/logged-out`,
    },
    secrets: { system: [randomBytes(24).toString('base64url')] },
    strategies: { access_token: 'opaque' },
    ttl: { access_token: options.accessTokenTtl ?? '1h', id_token: options.idTokenTtl ?? '1h' },
  });
}

export async function startHydra(options: HydraOptions = {}): Promise<RunningHydra> {
  const binary = peerBinary('hydra');
  const adminPort = await findFreePort();
  const adminUrl = `http://127.0.0.1:${adminPort}`;
  // The login app only talks to the admin API, so it can start before Hydra listens.
  const loginApp = await startHydraLoginApp(adminUrl);
  try {
    return await startOnFreePort((publicPort) => startOnPorts(binary, { publicPort, adminPort }, loginApp, options));
  } catch (error) {
    await loginApp.close();
    throw error;
  }
}

async function startOnPorts(binary: string, ports: { publicPort: number; adminPort: number }, loginApp: HydraLoginApp, options: HydraOptions): Promise<RunningHydra> {
  const dir = mkdtempSync(join(tmpdir(), 'ofa-hydra-'));
  const configPath = join(dir, 'hydra.json');
  writeFileSync(configPath, hydraConfig(ports, loginApp.url, options), { mode: 0o600 });
  const child = spawn(binary, ['serve', 'all', '--dev', '--sqa-opt-out', '--config', configPath], {
    cwd: dir,
    // Its usage statistics stay off: the tests send nothing off the machine.
    env: { PATH: process.env.PATH ?? '', HOME: dir, SQA_OPT_OUT: 'true', DSN: 'memory', ...(options.caFile === undefined ? {} : { SSL_CERT_FILE: options.caFile }) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const append = (chunk: string): void => {
    output += chunk;
  };
  child.stdout.setEncoding('utf8').on('data', append);
  child.stderr.setEncoding('utf8').on('data', append);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', () => undefined);
  const publicUrl = `http://127.0.0.1:${ports.publicPort}`;
  const adminUrl = `http://127.0.0.1:${ports.adminPort}`;

  const stopProcess = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGTERM');
      const killer = setTimeout(() => {
        if (child.exitCode === null && child.signalCode === null) process.kill(child.pid as number, 'SIGKILL');
      }, 10_000);
      await exited;
      clearTimeout(killer);
    }
    rmSync(dir, { recursive: true, force: true });
  };

  let issuer: string;
  try {
    issuer = await waitUntilReady(publicUrl, adminUrl, () => child.exitCode !== null || child.signalCode !== null, () => output);
  } catch (error) {
    await stopProcess();
    throw error;
  }
  return {
    issuer,
    publicUrl,
    adminUrl,
    pid: child.pid as number,
    loginApp,
    createClient: async (client) => {
      await callHydraAdmin(adminUrl, 'POST', '/admin/clients', {
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code'],
        scope: HYDRA_SCOPES.join(' '),
        ...client,
      });
    },
    introspect: async (token) => {
      const response = await request(`${adminUrl}/admin/oauth2/introspect`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token }).toString(),
      });
      return (await response.body.json()) as Record<string, unknown>;
    },
    output: () => output,
    stop: async () => {
      await stopProcess();
      await loginApp.close();
    },
  };
}

/** Ready when the admin API says so and the public side serves discovery; returns the issuer. */
async function waitUntilReady(publicUrl: string, adminUrl: string, hasExited: () => boolean, output: () => string): Promise<string> {
  for (let i = 0; i < 600; i += 1) {
    if (hasExited()) {
      const message = `hydra exited before it was ready:\n${output().slice(-3000)}`;
      throw new Error(/address already in use/i.test(output()) ? `${message}\naddress already in use` : message);
    }
    try {
      const ready = await request(`${adminUrl}/health/ready`);
      await ready.body.dump();
      if (ready.statusCode === 200) {
        const discovery = await request(`${publicUrl}/.well-known/openid-configuration`);
        if (discovery.statusCode === 200) return ((await discovery.body.json()) as { issuer: string }).issuer;
        await discovery.body.dump();
      }
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`hydra did not become ready within 60 s:\n${output().slice(-3000)}`);
}

export class HydraLoginError extends Error {
  override readonly name = 'HydraLoginError';
}

export interface HydraLoginOptions {
  /** A DEV_USERS name; the password is the same. Default alice. */
  readonly user?: string;
  /** Hydra's cookies (its login session); pass the same jar to sign out at Hydra later. */
  readonly jar?: CookieJar;
}

/**
 * A browser at Hydra: from the authorization URL our service redirected to, through Hydra, the
 * login form (filled), consent, back to Hydra, until a redirect leaves Hydra and its login app;
 * returns that URL (our callback with code and state, or an error).
 */
export async function completeHydraLogin(hydra: RunningHydra, authorizationUrl: string, options: HydraLoginOptions = {}): Promise<string> {
  const user = options.user ?? 'alice';
  return (await walkHydra(hydra, authorizationUrl, options.jar ?? createCookieJar(), { login: user, password: user })).url;
}

/**
 * The user signs out at Hydra itself (OP-initiated logout): the end-session endpoint without an
 * ID token hint, the logout app accepts, Hydra ends her login session and sends back-channel
 * logout tokens to the clients she signed in to. Returns where Hydra finally sent the browser.
 */
export async function signOutAtHydra(hydra: RunningHydra, providerJar: CookieJar): Promise<string> {
  return (await walkHydra(hydra, `${hydra.publicUrl}/oauth2/sessions/logout`, providerJar, undefined)).url;
}

export interface HydraWalk {
  /** Where the browser left Hydra and its login app. */
  readonly url: string;
  /** The login form was shown and filled (false: Hydra remembered the user). */
  readonly submittedForm: boolean;
}

/** Follows redirects between Hydra and its login app, cookies in `jar`; the login form is posted with `credentials`. */
export async function walkHydra(hydra: RunningHydra, startUrl: string, jar: CookieJar, credentials: { login: string; password: string } | undefined): Promise<HydraWalk> {
  const inside = new Set([new URL(hydra.publicUrl).origin, hydra.loginApp.url]);
  let url = startUrl;
  let body: string | undefined;
  let submitted = false;
  for (let hop = 0; hop < 20; hop += 1) {
    const cookie = jar.cookieHeader(url);
    const response = await request(url, {
      method: body === undefined ? 'GET' : 'POST',
      headers: {
        accept: 'text/html',
        ...(cookie === undefined ? {} : { cookie }),
        ...(body === undefined ? {} : { 'content-type': 'application/x-www-form-urlencoded' }),
      },
      body,
    });
    const setCookie = response.headers['set-cookie'];
    jar.setCookies(setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie], url);
    const text = await response.body.text();
    body = undefined;
    const location = response.headers.location;
    if (response.statusCode >= 300 && response.statusCode < 400 && typeof location === 'string') {
      const next = new URL(location, url);
      if (!inside.has(next.origin) || next.pathname === '/logged-out') return { url: next.href, submittedForm: submitted };
      url = next.href;
      continue;
    }
    const challenge = /name="login_challenge" value="([^"]+)"/.exec(text)?.[1];
    if (response.statusCode === 200 && challenge !== undefined && credentials !== undefined && !submitted) {
      submitted = true;
      url = `${hydra.loginApp.url}/login`;
      body = new URLSearchParams({ login_challenge: challenge.replace(/&#38;/g, '&'), ...credentials }).toString();
      continue;
    }
    throw new HydraLoginError(`unexpected answer ${response.statusCode} at ${new URL(url).pathname}: ${text.slice(0, 300)}`);
  }
  throw new HydraLoginError('more than 20 redirects between Hydra and its login app');
}
