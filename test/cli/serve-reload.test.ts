/**
 * `serve` reloads its configuration while serving: a valid file takes over without failing a
 * request and without signing anyone out; an invalid one is reported as `check` reports it and
 * changes nothing; a `file:` secret is read again; SIGHUP reloads too. The real CLI runs as a
 * child process against a real provider, under a steady load of signed-in and anonymous requests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CookieJar } from '../support/cookie-jar.js';
import { createCookieJar } from '../support/cookie-jar.js';
import { browserLogin, forwardAuth, type ForwardAuthOptions } from '../support/forward-auth-client.js';
import { startTestProvider, TEST_APP_ORIGIN, TEST_CLIENT_SECRET, type DevProvider } from '../support/op.js';
import { findFreePort } from '../support/scripted-server.js';

const CLI = ['--import', 'tsx', join(import.meta.dirname, '../../src/cli.ts')];
const SECRET = 'reload-test-secret-reload-test-secret-01';
const TRAEFIK: ForwardAuthOptions = {
  addAuthCookiesToResponse: ['app-session'],
  authResponseHeaders: ['X-User', 'X-Reloaded'],
};

interface Serving {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  /** Every JSON log line so far. */
  lines(): Record<string, unknown>[];
  output(): string;
}

function serve(file: string): Serving {
  const child = spawn(process.execPath, [...CLI, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const lines = (): Record<string, unknown>[] =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { child, exited, lines, output: () => output };
}

async function eventually(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('serve: configuration reload', () => {
  let op: DevProvider;
  let dir: string;
  let port: number;
  let file: string;
  let serving: Serving | undefined;

  beforeAll(async () => {
    op = await startTestProvider();
    dir = await mkdtemp(join(tmpdir(), 'ofa-reload-'));
    port = await findFreePort();
    file = join(dir, 'config.yaml');
    await writeFile(join(dir, 'client-secret'), `${TEST_CLIENT_SECRET}\n`);
  });
  afterAll(async () => {
    if (serving !== undefined && serving.child.exitCode === null) {
      serving.child.kill('SIGKILL');
      await serving.exited;
    }
    await op?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  /** Written beside and renamed into place, as editors and configuration tools do. */
  async function writeConfig(middlewares: string): Promise<void> {
    const text = `server:
  listen: "127.0.0.1:${port}"
  secrets: ["${SECRET}"]
  trustedProxies: ["127.0.0.1/32"]
middlewares:
${middlewares}`;
    await writeFile(`${file}.new`, text);
    await rename(`${file}.new`, file);
  }

  const app = (extraHeaders = ''): string => `  app:
    issuer: ${op.issuer}
    clientID: forward-auth
    clientSecret: file:client-secret
    redirectUrl: /callback
    session: { name: app-session }
    forwardHeaders:
      X-User: sub
${extraHeaders}`;
  const other = (name: string): string => `  ${name}:
    issuer: ${op.issuer}
    clientID: forward-auth
    clientSecret: file:client-secret
    redirectUrl: /callback
`;

  const address = (name: string): string => `http://127.0.0.1:${port}/auth/${name}`;
  const check = (name: string, jar: CookieJar) =>
    forwardAuth(address(name), { url: `${TEST_APP_ORIGIN}/api/data`, headers: { accept: 'application/json' } }, jar, TRAEFIK);
  const reloads = (result: string): Record<string, unknown>[] =>
    serving?.lines().filter((line) => line['msg'] === (result === 'success' ? 'configuration reloaded' : undefined)) ?? [];

  it('takes a valid file and leaves an invalid one, under load, with no failed request and the session kept', { timeout: 120_000 }, async () => {
    await writeConfig(app() + other('retired'));
    serving = serve(file);
    await eventually('readiness', async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => undefined))?.status === 200);
    const { jar } = await browserLogin({ authAddress: address('app'), url: `${TEST_APP_ORIGIN}/`, ...TRAEFIK });
    expect((await check('retired', createCookieJar())).status).toBe(401);

    // The steady load: signed-in and anonymous requests back to back until told to stop.
    let running = true;
    const failures: string[] = [];
    let answered = 0;
    let sawReloadedHeader = false;
    const worker = async (): Promise<void> => {
      while (running) {
        const signedIn = await check('app', jar);
        if (signedIn.status !== 200 || signedIn.forwardedHeaders['x-user'] === undefined) failures.push(`signed in: ${signedIn.status}`);
        if (signedIn.forwardedHeaders['x-reloaded'] !== undefined) sawReloadedHeader = true;
        const anonymous = await check('app', createCookieJar());
        if (anonymous.status !== 401) failures.push(`anonymous: ${anonymous.status}`);
        answered += 2;
      }
    };
    const load = Promise.all([worker(), worker(), worker()]);

    // Valid: a header added to `app`, `retired` removed, `added` new. The file change alone triggers it.
    await writeConfig(app('      X-Reloaded: sub\n') + other('added'));
    await eventually('the reload to serve', () => sawReloadedHeader);
    expect((await check('retired', createCookieJar())).status).toBe(404);
    expect((await check('added', createCookieJar())).status).toBe(401);
    // Log lines reach stdout in batches, within a second.
    await eventually('the reload log line', () => serving!.lines().some((line) => line['msg'] === 'configuration reloaded'));
    const reloaded = serving.lines().find((line) => line['msg'] === 'configuration reloaded');
    expect(reloaded).toMatchObject({ added: ['added'], removed: ['retired'], changed: ['app'] });
    // The provider client was kept: no second discovery for `app`.
    const discoveries = () => serving?.lines().filter((line) => line['msg'] === 'identity provider discovered' && line['middleware'] === 'app').length;
    expect(discoveries()).toBe(1);

    // Invalid: reported line by line as `check` prints it; the previous configuration keeps serving.
    await writeConfig(app('      X-Reloaded: sub\n') + `  broken:\n    issuer: ${op.issuer}\n    redirectUrl: /callback\n    scopes: [email]\n`);
    await eventually('the invalid file to be reported', () => serving?.output().includes(`${file}: invalid (`) ?? false);
    const reported = serving.lines().filter((line) => line['level'] === 50).map((line) => line['msg']);
    expect(reported).toContain(`${file}: middlewares.broken.clientID: is required`);
    expect(reported).toContain(`${file}: middlewares.broken.scopes: must include "openid"`);
    answered = 0;
    await eventually('more requests after the invalid file', () => answered > 30);
    expect((await check('added', createCookieJar())).status).toBe(401);
    expect((await check('broken', createCookieJar())).status).toBe(404);

    // A file: secret the configuration references is watched and read again: `app` is rebuilt.
    await writeConfig(app('      X-Reloaded: sub\n'));
    await eventually('the third reload', () => serving!.lines().filter((line) => line['msg'] === 'configuration reloaded').length === 2);
    await writeFile(join(dir, 'client-secret'), `${TEST_CLIENT_SECRET} \n`);
    await eventually('the secret change to reload', () => serving!.lines().filter((line) => line['msg'] === 'configuration reloaded').length === 3);
    expect(serving.lines().filter((line) => line['msg'] === 'configuration reloaded').at(-1)).toMatchObject({ changed: ['app'], trigger: 'file change' });

    // SIGHUP reloads even when no file changed (urn:k8s:secret references are read again that way).
    serving.child.kill('SIGHUP');
    await eventually('the SIGHUP reload', () => serving!.lines().some((line) => line['msg'] === 'configuration reloaded' && line['trigger'] === 'SIGHUP'));

    answered = 0;
    await eventually('more requests after the last reload', () => answered > 30);
    running = false;
    await load;
    expect(failures).toEqual([]);
    expect((await check('app', jar)).status).toBe(200);
    expect(reloads('success').length).toBe(4);

    serving.child.kill('SIGTERM');
    expect(await serving.exited).toBe(0);
    expect(serving.output()).not.toContain(TEST_CLIENT_SECRET);
    expect(serving.output()).not.toContain(SECRET);
  });
});
