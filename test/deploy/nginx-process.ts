/**
 * Runs a real nginx (Debian's binary) in the foreground on a free loopback port, with all its
 * files in a temporary directory, and stops it by PID. A missing binary is an error, never a
 * skip: install it with `bash deploy/install-deps.sh`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeNginxConf, type NginxConfOptions } from '../../deploy/demo/nginx-conf.js';
import { findBinary, startOnFreePort } from './binaries.js';

export interface RunningNginx {
  readonly url: string;
  readonly port: number;
  readonly prefix: string;
  /** What nginx wrote to stderr so far (its error log). */
  readonly log: () => string;
  readonly stop: () => Promise<void>;
}

export function findNginxBinary(): string {
  return findBinary('nginx', ['/usr/sbin', '/usr/local/sbin', '/usr/local/nginx/sbin']);
}

type Upstreams = Pick<NginxConfOptions, 'authAddress' | 'appAddress' | 'middleware' | 'snippet'>;

/**
 * Starts nginx on `port`, or on a free one. A test that had to promise its port to someone first
 * (the provider's redirect_uris) passes it and gets no retry.
 */
export async function startNginx(upstreams: Upstreams, port?: number): Promise<RunningNginx> {
  const binary = findNginxBinary();
  if (port !== undefined) return startOnPort(binary, port, upstreams);
  return startOnFreePort((free) => startOnPort(binary, free, upstreams));
}

async function startOnPort(binary: string, port: number, upstreams: Upstreams): Promise<RunningNginx> {
  const prefix = mkdtempSync(join(tmpdir(), 'ofa-nginx-'));
  chmodSync(prefix, 0o755);
  const conf = writeNginxConf({ ...upstreams, prefix, listen: `127.0.0.1:${port}` });
  const pidFile = join(prefix, 'nginx.pid');
  const child = spawn(binary, ['-p', prefix, '-c', conf, '-e', 'stderr', '-g', `daemon off; pid ${pidFile};`], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
    stderr += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('error', () => undefined);

  try {
    await waitUntilListening(child, exited, pidFile, () => stderr);
  } catch (error) {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
    rmSync(prefix, { recursive: true, force: true });
    throw error;
  }
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    prefix,
    log: () => stderr,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        // SIGQUIT is nginx's graceful stop; the master takes its workers down with it.
        process.kill(child.pid as number, 'SIGQUIT');
        await exited;
      }
      rmSync(prefix, { recursive: true, force: true });
    },
  };
}

/** nginx writes its pid file after it has bound the listening sockets, so it is the ready signal. */
async function waitUntilListening(
  child: ChildProcess,
  exited: Promise<number | null>,
  pidFile: string,
  stderr: () => string,
): Promise<void> {
  let done = false;
  const failure = exited.then((code) => {
    if (!done) throw new Error(`nginx exited (code ${String(code)}) before listening:\n${stderr()}`);
  });
  const ready = (async () => {
    for (let i = 0; i < 400 && !done; i += 1) {
      if (existsSync(pidFile)) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error(`nginx (pid ${String(child.pid)}) wrote no pid file:\n${stderr()}`);
  })();
  try {
    await Promise.race([ready, failure]);
  } finally {
    done = true;
  }
}
