import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestProvider, type DevProvider } from '../support/op.js';
import { findFreePort } from '../support/scripted-server.js';

const CLI = ['--import', 'tsx', join(import.meta.dirname, '../../src/cli.ts')];

interface Run {
  readonly child: ChildProcess;
  readonly exited: Promise<number | null>;
  output(): string;
}

function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Run {
  const child = spawn(process.execPath, [...CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

async function waitForStatus(url: string, status: number): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt += 1) {
    try {
      if ((await fetch(url)).status === status) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`${url} never answered ${status}`);
}

describe('oidc-forward-auth serve', () => {
  let op: DevProvider;
  let dir: string;

  beforeAll(async () => {
    op = await startTestProvider();
    dir = await mkdtemp(join(tmpdir(), 'ofa-serve-'));
  });
  afterAll(async () => {
    await op?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  async function writeConfig(port: number, extra = ''): Promise<string> {
    const file = join(dir, `config-${port}.yaml`);
    await writeFile(
      file,
      `server:
  listen: "127.0.0.1:${port}"
  secrets: ["serve-test-secret-serve-test-secret-0001"]
  trustedProxies: ["127.0.0.1/32"]
middlewares:
  app:
    issuer: ${op.issuer}
    redirectUrl: /callback
    clientID: forward-auth
    clientSecret: env:TEST_CLIENT_SECRET
${extra}`,
    );
    return file;
  }

  it('serves health and readiness, finds its config in OIDC_FORWARD_AUTH_CONFIG, and exits 0 on SIGTERM', async () => {
    const port = await findFreePort();
    const file = await writeConfig(port);
    const run = runCli(['serve'], { OIDC_FORWARD_AUTH_CONFIG: file, TEST_CLIENT_SECRET: 'test-client-secret-0123456789abcdef' });
    try {
      await waitForStatus(`http://127.0.0.1:${port}/healthz`, 200);
      await waitForStatus(`http://127.0.0.1:${port}/readyz`, 200);
      const auth = await fetch(`http://127.0.0.1:${port}/auth/app`, { headers: { accept: 'application/json', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example', 'x-forwarded-uri': '/' } });
      expect(auth.status).toBe(401);
    } finally {
      run.child.kill('SIGTERM');
    }
    expect(await run.exited).toBe(0);
    expect(run.output()).toContain('shutting down');
    expect(run.output()).not.toContain('test-client-secret-0123456789abcdef');
    expect(run.output()).not.toContain('serve-test-secret');
  });

  it('writes one access line per decision and loses none of them when stopped (SIGTERM or SIGINT)', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const port = await findFreePort();
      const file = await writeConfig(port);
      const run = runCli(['serve', '--config', file], { TEST_CLIENT_SECRET: 'test-client-secret-0123456789abcdef' });
      let sent = 0;
      try {
        await waitForStatus(`http://127.0.0.1:${port}/readyz`, 200);
        const headers = { accept: 'application/json', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.example', 'x-forwarded-uri': '/' };
        for (let batch = 0; batch < 10; batch += 1) {
          await Promise.all(Array.from({ length: 25 }, () => fetch(`http://127.0.0.1:${port}/auth/app`, { headers }).then((r) => r.arrayBuffer())));
          sent += 25;
        }
      } finally {
        // At once: the buffered lines of the last requests are still in the process.
        run.child.kill(signal);
      }
      expect(await run.exited).toBe(0);
      const accessLines = run.output().split('\n').filter((line) => line.includes('"msg":"forward-auth"'));
      expect(accessLines.length).toBe(sent);
    }
  });

  it('refuses to start with an invalid configuration, listing every problem with its path, and exits 1', async () => {
    const port = await findFreePort();
    const file = await writeConfig(port, '    scopes: [email]\n    session: { expiry: 0, sameSite: sometimes }\n');
    const run = runCli(['serve', '--config', file], { TEST_CLIENT_SECRET: 'test-client-secret-0123456789abcdef' });
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain('middlewares.app.scopes: must include "openid"');
    expect(run.output()).toContain('middlewares.app.session.expiry');
    expect(run.output()).toContain('middlewares.app.session.sameSite');
    expect(run.output()).not.toContain('test-client-secret-0123456789abcdef');
  });

  it('refuses to start when a secret reference cannot be resolved', async () => {
    const port = await findFreePort();
    const file = await writeConfig(port);
    const run = runCli(['serve', '--config', file], { TEST_CLIENT_SECRET: '' });
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain('middlewares.app.clientSecret');
  });

  it('answers usage errors with exit 2', async () => {
    const run = runCli(['serve', '--bogus']);
    expect(await run.exited).toBe(2);
    expect(run.output()).toContain('usage: oidc-forward-auth serve');
    const unknown = runCli(['frobnicate']);
    expect(await unknown.exited).toBe(2);
  });
});
