/**
 * Runs a real Caddy (Debian's 2.6.2, or the current v2 line that deploy/peers/build.sh builds) in
 * the foreground on a loopback port, with the shipped example rendered into a temporary directory
 * that is also its HOME and XDG dirs (Caddy writes autosave.json and its storage there), and stops
 * it by PID. A missing binary is an error, never
 * a skip: install it with `bash deploy/install-deps.sh`.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeCaddyfile, type CaddyfileOptions } from '../../deploy/caddy/caddyfile.js';
import { peerBinary } from '../support/peers.js';
import { findBinary, startOnFreePort } from './binaries.js';

/** Which Caddy: Debian's package (2.6.2) or the pinned current v2 release. */
export type CaddyBuild = 'debian' | 'current';

/** Every Caddy the Caddy tests run against. */
export const CADDY_BUILDS: readonly CaddyBuild[] = ['debian', 'current'];

export interface RunningCaddy {
  readonly url: string;
  readonly port: number;
  readonly dir: string;
  /** What Caddy wrote to stderr so far (its JSON log). */
  readonly log: () => string;
  readonly stop: () => Promise<void>;
}

export function findCaddyBinary(build: CaddyBuild = 'debian'): string {
  return build === 'current' ? peerBinary('caddy') : findBinary('caddy', ['/usr/bin', '/usr/local/bin']);
}

/**
 * The version the binary says it is, e.g. "v2.6.2" (Debian's `caddy version` prints "2.6.2"); a
 * build from the module proxy says "unknown" there, so its Go build information is read instead.
 */
export function caddyVersion(build: CaddyBuild = 'debian'): string {
  if (build === 'current') {
    const info = spawnSync('go', ['version', '-m', findCaddyBinary(build)], { encoding: 'utf8' });
    if (info.status !== 0) throw new Error(`go version -m failed (Go is needed to read the build's module version): ${info.stderr}`);
    const match = /^\s*(?:mod|dep)\s+github\.com\/caddyserver\/caddy\/v2\s+(v\S+)/m.exec(info.stdout);
    if (match === null) throw new Error('caddy: no caddy module in the binary\'s build information');
    return match[1]!;
  }
  const result = spawnSync(findCaddyBinary(build), ['version'], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`caddy version failed: ${result.stderr}`);
  return result.stdout.trim().split(/\s+/)[0] ?? '';
}

/** Environment that keeps every file Caddy writes inside `dir`. */
function caddyEnv(dir: string): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: dir,
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_DATA_HOME: join(dir, 'data'),
  };
}

/** Validates a rendered Caddyfile with `caddy adapt --validate`; returns Caddy's stderr on failure. */
export function validateCaddyfile(options: Omit<CaddyfileOptions, 'listen'>, build: CaddyBuild = 'debian'): { ok: boolean; output: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ofa-caddy-'));
  try {
    const file = writeCaddyfile(join(dir, 'Caddyfile'), { ...options, listen: '127.0.0.1:8080' });
    const result = spawnSync(findCaddyBinary(build), ['adapt', '--config', file, '--adapter', 'caddyfile', '--validate'], {
      encoding: 'utf8',
      env: caddyEnv(dir),
    });
    return { ok: result.status === 0, output: result.stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

type CaddyUpstreams = Omit<CaddyfileOptions, 'listen' | 'adminAddress'>;

/**
 * Starts Caddy on `port`, or on a free one. A test that had to promise its port to someone
 * first (the provider's redirect_uris) passes it and gets no retry.
 */
export async function startCaddy(upstreams: CaddyUpstreams, port?: number, build: CaddyBuild = 'debian'): Promise<RunningCaddy> {
  const binary = findCaddyBinary(build);
  if (port !== undefined) return startOnPort(binary, port, upstreams);
  return startOnFreePort((free) => startOnPort(binary, free, upstreams));
}

async function startOnPort(binary: string, port: number, upstreams: CaddyUpstreams): Promise<RunningCaddy> {
  const dir = mkdtempSync(join(tmpdir(), 'ofa-caddy-'));
  const file = writeCaddyfile(join(dir, 'Caddyfile'), { ...upstreams, listen: `127.0.0.1:${port}` });
  const child = spawn(binary, ['run', '--config', file, '--adapter', 'caddyfile'], {
    cwd: dir,
    env: caddyEnv(dir),
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    markReady = resolve;
  });
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
    // Logged once the listeners are bound and the config is live.
    if (stderr.includes('"msg":"serving initial configuration"')) markReady();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('error', () => undefined);

  const stopChild = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, signal);
      await exited;
    }
  };
  const failed = exited.then((code) => {
    throw new Error(`caddy exited (code ${String(code)}) before serving:\n${stderr}`);
  });
  failed.catch(() => undefined);
  try {
    await Promise.race([ready, failed]);
  } catch (error) {
    await stopChild('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    dir,
    log: () => stderr,
    stop: async () => {
      // Caddy shuts its servers down gracefully on SIGTERM.
      await stopChild('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
