/**
 * `server.workers: 2` with cookie sessions: node:cluster hands each new connection to either
 * worker, so a logout one worker heard of must be refused by the other at once, and by a worker
 * that starts later. A cookie copied before a logout (through the service, or back-channel by
 * `sid` or by `sub` from the real provider) is replayed on 24 new connections: none may get 200;
 * the logout token itself, replayed to either worker, is refused as a replay.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserLogin, NAVIGATION_HEADERS } from '../support/forward-auth-client.js';
import { signOutAtProvider, startTestProvider, TEST_APP_ORIGIN, TEST_CLIENT, TEST_CLIENT_SECRET, type DevProvider } from '../support/op.js';
import { findFreePort, startScriptedServer, type ScriptedServer } from '../support/scripted-server.js';

const CLI = ['--import', 'tsx', join(import.meta.dirname, '../../src/cli.ts')];
const REPLAYS = 24;
const BY_SID = 'bysid';
const BY_SUB = 'bysub';

interface Answer {
  readonly status: number;
  readonly location: string | undefined;
}

/** One request on a connection of its own, so the cluster hands it to either worker. */
function onNewConnection(port: number, path: string, headers: Record<string, string>, method = 'GET', body?: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port, path, method, headers, agent: false }, (response) => {
      response.resume();
      const location = response.headers.location;
      response.on('end', () => resolve({ status: response.statusCode ?? 0, location }));
    });
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

async function eventually(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}: ${output.slice(-3000)}`);
}

/** Everything the service wrote, for the log lines and for a timeout's message. */
let output = '';

const backchannelPath = (name: string): string => `/${name}/backchannel-logout`;

describe('serve with server.workers: 2 and cookie sessions: one verdict on every worker', () => {
  let op: DevProvider;
  let proxy: ScriptedServer;
  let dir: string;
  let port: number;
  let child: ChildProcess | undefined;
  /** Logout tokens the provider sent, with the service's answer to each. */
  const delivered: { readonly name: string; readonly token: string; readonly status: number }[] = [];

  const lines = (): Record<string, unknown>[] =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  const serving = (): Record<string, unknown>[] => lines().filter((line) => line['msg'] === 'oidc-forward-auth is serving');

  /** The direct route of the nginx and Caddy recipes, on a new connection each time. */
  const postLogoutToken = (name: string, token: string): Promise<Answer> =>
    onNewConnection(
      port,
      `/auth/${name}`,
      {
        'content-type': 'application/x-www-form-urlencoded',
        'x-forwarded-proto': 'http',
        'x-forwarded-host': new URL(proxy.url).host,
        'x-forwarded-uri': backchannelPath(name),
        'x-forwarded-method': 'POST',
      },
      'POST',
      new URLSearchParams({ logout_token: token }).toString(),
    );

  beforeAll(async () => {
    // The provider's back-channel requests go through this stand-in for the proxy.
    proxy = await startScriptedServer(async (req, res) => {
      const name = req.url.split('/')[1] ?? '';
      const token = new URLSearchParams(req.body).get('logout_token') ?? '';
      const answer = await postLogoutToken(name, token);
      delivered.push({ name, token, status: answer.status });
      res.writeHead(answer.status).end();
    });
    const client = (id: string, sidRequired: boolean) => ({
      ...TEST_CLIENT,
      client_id: id,
      backchannel_logout_uri: `${proxy.url}${backchannelPath(id)}`,
      backchannel_logout_session_required: sidRequired,
    });
    op = await startTestProvider({ clients: [TEST_CLIENT, client(BY_SID, true), client(BY_SUB, false)] });
    dir = await mkdtemp(join(tmpdir(), 'ofa-workers-revocations-'));
    port = await findFreePort();
    const file = join(dir, 'config.yaml');
    const middleware = (name: string, clientID: string, extra: string) => `  ${name}:
    issuer: ${op.issuer}
    clientID: ${clientID}
    clientSecret: "${TEST_CLIENT_SECRET}"
    redirectUrl: /callback
    session: { name: ${name}-session }
${extra}`;
    await writeFile(
      file,
      `server:
  listen: "127.0.0.1:${port}"
  workers: 2
  secrets: ["workers-revocation-secret-workers-revocation-1"]
  trustedProxies: ["127.0.0.1/32"]
middlewares:
${middleware('app', TEST_CLIENT.client_id, '    logoutUrl: /logout\n')}${middleware(BY_SID, BY_SID, `    backchannelLogoutUrl: ${backchannelPath(BY_SID)}\n    backchannelLogoutSessionsRequired: true\n`)}${middleware(BY_SUB, BY_SUB, `    backchannelLogoutUrl: ${backchannelPath(BY_SUB)}\n`)}`,
    );
    child = spawn(process.execPath, [...CLI, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    await eventually('both workers', () => serving().length === 2);
  }, 60_000);

  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((resolve) => child?.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await proxy?.stop();
    await op?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function signIn(name: string, providerJar?: Parameters<typeof browserLogin>[0]['providerJar']) {
    const login = await browserLogin({
      authAddress: `http://127.0.0.1:${port}/auth/${name}`,
      url: `${TEST_APP_ORIGIN}/`,
      addAuthCookiesToResponse: [`${name}-session`],
      ...(providerJar === undefined ? {} : { providerJar }),
    });
    expect(login.final.status).toBe(200);
    return { cookie: login.jar.cookieHeader(new URL(TEST_APP_ORIGIN)) ?? '', providerJar: login.providerJar };
  }

  /** The statuses of REPLAYS API calls carrying exactly this Cookie header, each on a new connection. */
  function replay(name: string, cookie: string): Promise<number[]> {
    const headers = { 'x-forwarded-proto': 'http', 'x-forwarded-host': new URL(TEST_APP_ORIGIN).host, 'x-forwarded-uri': '/api', accept: 'application/json', cookie };
    return Promise.all(Array.from({ length: REPLAYS }, async () => (await onNewConnection(port, `/auth/${name}`, headers)).status));
  }

  const count = (statuses: readonly number[], status: number): number => statuses.filter((s) => s === status).length;

  const cookies: Record<string, string> = {};

  it('refuses on every worker a cookie copied before a logout through the service', { timeout: 60_000 }, async () => {
    const { cookie } = await signIn('app');
    // Both workers let the session in before the logout.
    expect(count(await replay('app', cookie), 200)).toBe(REPLAYS);

    const logout = await onNewConnection(port, '/auth/app', {
      ...NAVIGATION_HEADERS,
      'x-forwarded-proto': 'http',
      'x-forwarded-host': new URL(TEST_APP_ORIGIN).host,
      'x-forwarded-uri': '/logout',
      cookie,
    });
    expect(logout.status).toBe(302);
    expect(logout.location?.startsWith(`${op.issuer}/session/end`)).toBe(true);

    const after = await replay('app', cookie);
    expect(count(after, 200)).toBe(0);
    expect(count(after, 401)).toBe(REPLAYS);
    cookies['app'] = cookie;
  });

  it('refuses on every worker the sessions a back-channel logout ended, by sid and by sub, and refuses the token replayed', { timeout: 60_000 }, async () => {
    const bySid = await signIn(BY_SID);
    const bySub = await signIn(BY_SUB, bySid.providerJar);
    expect(count(await replay(BY_SID, bySid.cookie), 200)).toBe(REPLAYS);
    expect(count(await replay(BY_SUB, bySub.cookie), 200)).toBe(REPLAYS);

    await signOutAtProvider(op.issuer, bySid.providerJar);
    expect(delivered.map(({ name, status }) => [name, status]).sort()).toEqual([
      [BY_SID, 200],
      [BY_SUB, 200],
    ]);

    for (const [name, cookie] of [
      [BY_SID, bySid.cookie],
      [BY_SUB, bySub.cookie],
    ] as const) {
      const after = await replay(name, cookie);
      expect(count(after, 200)).toBe(0);
      expect(count(after, 401)).toBe(REPLAYS);
      cookies[name] = cookie;
    }

    // Whichever worker a replayed logout token reaches, it was used already.
    for (const { name, token } of delivered) {
      const replays = await Promise.all(Array.from({ length: REPLAYS }, () => postLogoutToken(name, token)));
      expect(replays.map((answer) => answer.status)).toEqual(Array.from({ length: REPLAYS }, () => 400));
    }
  });

  it('refuses them on workers that started after the logouts', { timeout: 90_000 }, async () => {
    expect(Object.keys(cookies).sort()).toEqual(['app', BY_SID, BY_SUB].sort());
    // Both original workers are replaced, one after the other: what serves now started later.
    for (const workerId of [1, 2]) {
      const before = serving().length;
      const pid = serving().find((line) => line['worker'] === workerId)?.['pid'];
      if (typeof pid !== 'number') throw new Error(`no pid for worker ${workerId} in the log`);
      process.kill(pid, 'SIGKILL');
      await eventually(`a worker replacing worker ${workerId}`, () => serving().length === before + 1);
    }
    for (const [name, cookie] of Object.entries(cookies)) {
      const after = await replay(name, cookie);
      expect({ name, allowed: count(after, 200) }).toEqual({ name, allowed: 0 });
    }
    // A new sign-in still works on them.
    const fresh = await signIn('app');
    expect(count(await replay('app', fresh.cookie), 200)).toBe(REPLAYS);
    expect(output).not.toContain(TEST_CLIENT_SECRET);
  });
});
