/**
 * The README's install: `npm pack` the built checkout and `npm install -g` the tarball. An
 * `oidc-forward-auth` must then be on the prefix's PATH and run, not only exist: a package without
 * dist/ in it installs a bin that points at nothing. Runs the real npm into a temporary prefix
 * (dependencies come from npm's cache when it holds them, else the registry).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const REPO_ROOT = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'ofa-install-'));
const prefix = join(work, 'prefix');
const bin = join(prefix, 'bin', 'oidc-forward-auth');

describe('a global install from the packed checkout', () => {
  beforeAll(async () => {
    expect(existsSync(join(REPO_ROOT, 'dist', 'cli.js')), 'run `npm run build` first').toBe(true);
    const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: REPO_ROOT });
    const [packed] = JSON.parse(stdout) as { filename: string }[];
    await run(
      'npm',
      ['install', '--global', '--prefix', prefix, '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', join(work, String(packed?.filename))],
      { cwd: work },
    );
  }, 180_000);

  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('puts an executable oidc-forward-auth on the PATH that prints a secret', async () => {
    expect(statSync(bin).mode & 0o111).not.toBe(0);
    const { stdout } = await run('oidc-forward-auth', ['gen-secret'], { env: { ...process.env, PATH: `${join(prefix, 'bin')}:${process.env.PATH ?? ''}` } });
    expect(stdout.trim()).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  it('checks a configuration with the installed command', async () => {
    const config = join(work, 'config.yaml');
    writeFileSync(
      config,
      [
        'server:',
        '  secrets: [ "0123456789abcdef0123456789abcdef" ]',
        'middlewares:',
        '  app: { issuer: "https://login.example.com", clientID: app, clientSecret: s, redirectUrl: /callback }',
        '',
      ].join('\n'),
    );
    const { stderr } = await run(bin, ['check', '--config', config]);
    expect(stderr).toContain('valid (1 middleware: app)');
  });

  it('ships the recipes beside the code, and no tests', async () => {
    const root = join(prefix, 'lib', 'node_modules', 'oidc-forward-auth');
    expect(existsSync(join(root, 'nginx', 'oidc-forward-auth.conf'))).toBe(true);
    expect(existsSync(join(root, 'deploy', 'caddy', 'Caddyfile'))).toBe(true);
    expect(existsSync(join(root, 'test'))).toBe(false);
    expect(existsSync(join(root, 'src'))).toBe(false);
  });
});
