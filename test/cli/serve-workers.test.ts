/**
 * `server.workers: 2`: two processes serve one address with the same keys (a session made by one
 * opens in the other), reload together on SIGHUP, come back when one dies, stop together, and
 * their metrics are served summed by the primary on metricsListen.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { request } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserLogin } from '../support/forward-auth-client.js';
import { startTestProvider, TEST_APP_ORIGIN, TEST_CLIENT_SECRET, type DevProvider } from '../support/op.js';
import { findFreePort } from '../support/scripted-server.js';

const CLI = ['--import', 'tsx', join(import.meta.dirname, '../../src/cli.ts')];

/** One request on a connection of its own, so the cluster hands it to either worker. */
function freshConnectionGet(port: number, path: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port, path, headers, agent: false }, (response) => {
      response.resume();
      response.on('end', () => resolve(response.statusCode ?? 0));
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

async function eventually(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('serve with server.workers: 2', () => {
  let op: DevProvider;
  let dir: string;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    op = await startTestProvider();
    dir = await mkdtemp(join(tmpdir(), 'ofa-workers-'));
  });
  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
    await op?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('shares the address and the keys, reloads, restarts a dead worker, sums metrics and stops', { timeout: 120_000 }, async () => {
    const port = await findFreePort();
    const metricsPort = await findFreePort();
    const file = join(dir, 'config.yaml');
    await writeFile(
      file,
      `server:
  listen: "127.0.0.1:${port}"
  metricsListen: "127.0.0.1:${metricsPort}"
  workers: 2
  secrets: ["workers-test-secret-workers-test-secret-1"]
  trustedProxies: ["127.0.0.1/32"]
middlewares:
  app:
    issuer: ${op.issuer}
    clientID: forward-auth
    clientSecret: "${TEST_CLIENT_SECRET}"
    redirectUrl: /callback
    session: { name: app-session }
`,
    );
    child = spawn(process.execPath, [...CLI, 'serve', '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child?.on('exit', (code) => resolve(code)));
    const lines = (): Record<string, unknown>[] =>
      output
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);

    await eventually('both workers', () => lines().filter((line) => line['msg'] === 'oidc-forward-auth is serving').length === 2);
    await eventually('readiness', async () => (await freshConnectionGet(port, '/readyz', {}).catch(() => 0)) === 200 && (await freshConnectionGet(port, '/readyz', {}).catch(() => 0)) === 200);
    const { jar } = await browserLogin({ authAddress: `http://127.0.0.1:${port}/auth/app`, url: `${TEST_APP_ORIGIN}/`, addAuthCookiesToResponse: ['app-session'] });
    const cookie = jar.cookieHeader(new URL(TEST_APP_ORIGIN)) ?? '';
    const forwarded = { 'x-forwarded-proto': 'http', 'x-forwarded-host': new URL(TEST_APP_ORIGIN).host, 'x-forwarded-uri': '/api', accept: 'application/json', cookie };

    // Forty requests on forty connections: both workers open the session one of them sealed.
    const statuses = await Promise.all(Array.from({ length: 40 }, () => freshConnectionGet(port, '/auth/app', forwarded)));
    expect(statuses.every((status) => status === 200)).toBe(true);
    // Access lines are written in buffered batches, within a second.
    const allowedBy = () => new Set(lines().filter((line) => line['msg'] === 'forward-auth' && line['status'] === 200).map((line) => line['worker']));
    await eventually('access lines from both workers', () => allowedBy().size === 2);
    expect([...allowedBy()].sort()).toEqual([1, 2]);

    // The primary sums both workers' counters.
    const scrape = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const allowed = /ofa_decisions_total\{middleware="app",outcome="allowed",code=""\} (\d+)/.exec(scrape)?.[1];
    expect(Number(allowed)).toBe(41);

    // SIGHUP to the primary reaches both workers.
    child.kill('SIGHUP');
    await eventually('both workers to reload', () => lines().filter((line) => line['msg'] === 'configuration reloaded').length === 2);

    // A worker that dies is replaced, and the address keeps answering.
    const victim = lines().find((line) => line['msg'] === 'oidc-forward-auth is serving' && line['worker'] === 1)?.['pid'];
    if (typeof victim !== 'number') throw new Error('no worker pid in the log');
    process.kill(victim, 'SIGKILL');
    await eventually('a replacement worker', () => lines().filter((line) => line['msg'] === 'oidc-forward-auth is serving').length === 3);
    expect(await freshConnectionGet(port, '/auth/app', forwarded)).toBe(200);

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('stopping the workers');
    expect(output).not.toContain(TEST_CLIENT_SECRET);
    for (const line of lines()) if (typeof line['pid'] === 'number') expect(isRunning(line['pid'])).toBe(false);
  });
});
