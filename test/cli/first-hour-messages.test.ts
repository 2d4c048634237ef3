/**
 * What `check` and `claims` say about the mistakes a newcomer makes: each message points at the
 * fix (gen-secret, the path actually tried, Contains), and one mistake gives one line.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCheckCommand } from '../../src/cli/check-command.js';
import { runClaimsCommand } from '../../src/cli/claims-command.js';
import type { CliIo } from '../../src/cli/io.js';

const SECRET = 'session-secret-0123456789-abcdefghij';

function captureIo(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { stdout: (text) => void (out += text), stderr: (text) => void (err += text), env: {}, out: () => out, err: () => err };
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ofa-first-hour-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function check(name: string, server: string, app: string): Promise<{ code: number; lines: string[] }> {
  const file = join(dir, name);
  await writeFile(file, `server: { ${server} }\nmiddlewares:\n  app: { ${app} }\n`);
  const io = captureIo();
  const code = await runCheckCommand(['--config', file], io);
  return { code, lines: io.err().trimEnd().split('\n').map((line) => line.slice(file.length + 2)) };
}

const APP = 'issuer: "https://id.example.com", redirectUrl: /cb, clientID: c, clientSecret: s';

describe('check', () => {
  it('warns that an http:// issuer sends tokens in the clear, and still exits 0', async () => {
    const { code, lines } = await check('http-issuer.yaml', `secrets: ["${SECRET}"]`, APP.replace('https://id', 'http://id'));
    expect(code).toBe(0);
    expect(lines[0]).toBe(
      'warning: middlewares.app.issuer: is http://: the code exchange, tokens and signing keys would travel unencrypted; use https (plain http is fine only for a provider on this machine)',
    );
  });

  it('leaves an http:// issuer on this machine alone (the dev provider)', async () => {
    const { lines } = await check('loopback-issuer.yaml', `secrets: ["${SECRET}"]`, APP.replace('https://id.example.com', 'http://127.0.0.1:9090'));
    expect(lines).toEqual(['valid (1 middleware: app)']);
  });

  it('points a short secret at gen-secret', async () => {
    const { code, lines } = await check('short-secret.yaml', 'secrets: ["too-short"]', APP);
    expect(code).toBe(1);
    expect(lines[0]).toBe('server.secrets[0]: must be at least 32 characters long (make one with "oidc-forward-auth gen-secret")');
  });

  it('names the path a relative file: reference was read from', async () => {
    const { lines } = await check('relative-file.yaml', `secrets: ["${SECRET}"]`, APP.replace('clientSecret: s', 'clientSecret: "file:secrets/client"'));
    expect(lines[0]).toBe(`middlewares.app.clientSecret: file:secrets/client could not be read (read as ${join(dir, 'secrets', 'client')}): no such file`);
  });

  it('reports a mistyped required option once, with its correct name', async () => {
    const { code, lines } = await check('typo.yaml', `secrets: ["${SECRET}"]`, APP.replace('clientID: c', 'clientId: c'));
    expect(code).toBe(1);
    expect(lines).toEqual(['middlewares.app.clientId: unknown option (did you mean "clientID"?)', 'invalid (1 problem)']);
  });
});

describe('claims', () => {
  it('hints at Contains when Equals meets an array claim', async () => {
    const claims = join(dir, 'groups.json');
    await writeFile(claims, JSON.stringify({ groups: ['admin', 'dev'] }));
    const io = captureIo();
    expect(await runClaimsCommand(['--expr', 'Equals(`groups`, `admin`)', '--id-token-claims', claims], io)).toBe(0);
    expect(io.out()).toBe(
      ['false', 'false Equals(`groups`, `admin`)  [array of 2]  (Equals is false on an array: use Contains or OneOf to test its elements)', ''].join('\n'),
    );
    const contains = captureIo();
    await runClaimsCommand(['--expr', 'Contains(`groups`, `admin`)', '--id-token-claims', claims], contains);
    expect(contains.out()).not.toContain('is false on an array');
  });
});
