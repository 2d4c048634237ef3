/**
 * The dev provider as the README tells an operator to run it for a trial with their own nginx or
 * Caddy: one process that Ctrl-C stops, and a sign-out that really ends the provider session.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDevProvider, type DevProvider } from '../../deploy/demo/dev-provider.js';
import { createCookieJar } from '../support/cookie-jar.js';
import { completeLogin } from '../support/op.js';

const REPO_ROOT = resolve(import.meta.dirname, '../..');

/** PIDs whose parent is `pid`, from /proc (Linux). */
function childrenOf(pid: number): number[] {
  return readdirSync('/proc')
    .filter((entry) => /^\d+$/.test(entry))
    .filter((entry) => {
      try {
        const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
        return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid;
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Present and not a zombie. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('the dev provider run alone', () => {
  it('stops on Ctrl-C (SIGINT) with nothing left behind, started as the README says', async () => {
    // The README's command, with a free port instead of 9090 so a running demo is left alone.
    const child = spawn(process.execPath, ['--import', 'tsx', 'deploy/demo/dev-provider.ts'], {
      cwd: REPO_ROOT,
      env: { ...process.env, DEV_PROVIDER_PORT: '0' },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const pid = child.pid as number;
    let out = '';
    child.stdout.setEncoding('utf8');
    await new Promise<void>((resolveStarted, reject) => {
      child.stdout.on('data', (chunk: string) => {
        out += chunk;
        if (out.includes('\n')) resolveStarted();
      });
      child.once('exit', (code) => reject(new Error(`the dev provider exited (${String(code)}) before it started: ${out}`)));
    });
    expect(out).toMatch(/^dev provider: issuer http:\/\/127\.0\.0\.1:\d+ \(users: alice, bob\)\n$/);
    // tsx may keep an esbuild service as a child: it must go with its parent.
    const children = childrenOf(pid);
    const exited = once(child, 'exit');
    process.kill(pid, 'SIGINT');
    const [code, signal] = (await exited) as [number | null, NodeJS.Signals | null];
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    for (let attempt = 0; children.some(isRunning) && attempt < 50; attempt += 1) await new Promise((r) => setTimeout(r, 100));
    expect(children.filter(isRunning)).toEqual([]);
  }, 60_000);
});

describe('signing out at the dev provider as the demo runs it', () => {
  let dev: DevProvider;
  const redirect = 'http://127.0.0.1:1/callback';

  beforeAll(async () => {
    dev = await startDevProvider({
      logoutWithoutPrompt: true,
      clients: [{ client_id: 'demo', client_secret: 'demo-secret', redirect_uris: [redirect], post_logout_redirect_uris: ['http://127.0.0.1:1/'] }],
    });
  });
  afterAll(async () => {
    await dev?.stop();
  });

  it('ends the provider session without asking "sign out?", so the next login asks for the password', async () => {
    const providerJar = createCookieJar();
    const authorize = `${dev.issuer}/auth?client_id=demo&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(redirect)}&state=s1&nonce=n1`;
    await completeLogin(authorize, { jar: providerJar });
    expect(providerJar.get('_session')).toBeDefined();

    const endSession = `${dev.issuer}/session/end`;
    const page = await request(endSession, { headers: { cookie: providerJar.cookieHeader(endSession) ?? '' } });
    const html = await page.body.text();
    expect(html).not.toContain('Do you want to sign-out');
    expect(html).toContain('<input type="hidden" form="op.logoutForm" name="logout" value="yes">');
    expect(html).toContain("document.getElementById('op.logoutForm').submit()");

    // What the browser does on load: submit the form as it stands.
    const action = /<form id="op.logoutForm" method="post" action="([^"]+)">/.exec(html)?.[1] ?? '';
    const xsrf = /name="xsrf" value="([^"]+)"/.exec(html)?.[1] ?? '';
    const confirmed = await request(action, {
      method: 'POST',
      headers: { cookie: providerJar.cookieHeader(action) ?? '', 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ xsrf, logout: 'yes' }).toString(),
    });
    await confirmed.body.text();
    expect(confirmed.statusCode).toBe(303);
    const setCookie = confirmed.headers['set-cookie'];
    providerJar.setCookies(setCookie === undefined ? [] : Array.isArray(setCookie) ? setCookie : [setCookie], action);
    expect(providerJar.get('_session')).toBeUndefined();

    // Reopening the application: the provider shows its login form instead of signing her back in.
    const again = await request(authorize.replace('state=s1', 'state=s2'), { headers: { cookie: providerJar.cookieHeader(authorize) ?? '' } });
    await again.body.text();
    expect(again.statusCode).toBe(303);
    expect(String(again.headers.location)).toContain('/interaction/');
  });
});
