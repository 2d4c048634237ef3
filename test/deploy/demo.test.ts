/**
 * `bash deploy/demo/up.sh` as a user runs it: it prints the URL, alice can sign in through its
 * nginx and sees her identity on the echo page, and Ctrl-C leaves no process behind.
 * Everything goes to a temporary OFA_DEMO_DIR on free ports, so a demo the user has running is
 * left alone.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { EchoedRequest } from '../../deploy/demo/echo-upstream.js';
import { loginThroughProxy } from './http-browser.js';

const REPO_ROOT = resolve(import.meta.dirname, '../..');

/** PIDs of every live descendant of `root`, from /proc (Linux). */
function descendantsOf(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid) ?? [];
    list.push(Number(entry));
    children.set(ppid, list);
  }
  const found: number[] = [];
  const queue = [root];
  while (queue.length > 0) {
    for (const child of children.get(queue.shift() as number) ?? []) {
      found.push(child);
      queue.push(child);
    }
  }
  return found;
}

/** Running means present and not a zombie: an exited child its (re)parent has not reaped yet is gone. */
function isRunning(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0] !== 'Z';
  } catch {
    return false;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ').trim();
  } catch {
    return '';
  }
}

interface RunningDemo {
  /** A non-interactive shell that started up.sh in the background and waits for it. */
  readonly child: ChildProcess;
  /** up.sh itself, which began with SIGINT ignored, as a script's background job does. */
  readonly upPid: number;
  readonly site: string;
  readonly output: () => string;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/**
 * Starts up.sh the way a script does, in the background of a non-interactive shell (which
 * starts it with SIGINT ignored), and resolves once it printed the URL to open (everything is
 * listening by then).
 */
function startDemo(dir: string): Promise<RunningDemo> {
  const child = spawn('bash', ['-c', 'bash deploy/demo/up.sh & echo "up.sh pid $!"; wait $!'], {
    cwd: REPO_ROOT,
    env: {
      ...process.env,
      OFA_DEMO_DIR: dir,
      OFA_DEMO_NGINX_PORT: '0',
      OFA_DEMO_PROVIDER_PORT: '0',
      OFA_DEMO_AUTH_PORT: '0',
      OFA_DEMO_APP_PORT: '0',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once('exit', (code, signal) => done({ code, signal })),
  );
  return new Promise((resolvePromise, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      const site = /Open (http:\/\/127\.0\.0\.1:\d+)\/ /.exec(output)?.[1];
      const upPid = Number(/up\.sh pid (\d+)/.exec(output)?.[1]);
      if (site !== undefined && upPid > 0) {
        child.stdout?.off('data', onData);
        child.stdout?.on('data', (more: Buffer) => {
          output += more.toString('utf8');
        });
        resolvePromise({ child, upPid, site, output: () => output, exited });
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
    });
    child.once('error', reject);
    void exited.then(({ code, signal }) => reject(new Error(`up.sh exited (${String(code ?? signal)}) before printing the URL:\n${output}`)));
  });
}

describe('the demo (deploy/demo/up.sh)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ofa-demo-'));
  let demo: RunningDemo | undefined;
  let seen: number[] = [];

  afterAll(async () => {
    // Only if an assertion failed midway: stop what is still up, by PID.
    if (demo !== undefined && demo.child.exitCode === null && demo.child.signalCode === null) {
      demo.child.kill('SIGTERM');
      await demo.exited;
    }
    for (const pid of seen) if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts, lets alice sign in through nginx, and stops every process on Ctrl-C', { timeout: 180_000 }, async () => {
    demo = await startDemo(dir);
    const bashPid = demo.child.pid as number;
    seen = descendantsOf(bashPid);
    const commands = seen.map(commandOf).join('\n');
    expect(commands).toContain('deploy/demo/dev-provider.ts');
    expect(commands).toContain('deploy/demo/echo-upstream.ts');
    expect(commands).toContain('dist/cli.js serve --config');
    expect(commands).toContain('nginx: master process');
    expect(commands).toContain('nginx: worker process');
    expect(demo.output()).toContain('alice / alice');
    expect(existsSync(join(dir, 'config.yaml'))).toBe(true);

    const page = `${demo.site}/?format=json`;
    const login = await loginThroughProxy(page, 'alice');
    expect(login.callback.location).toBe(page);
    const landed = await login.browser.navigate(page);
    expect(landed.status).toBe(200);
    const echoed = JSON.parse(landed.body) as EchoedRequest;
    expect(echoed.headers['x-forwarded-user']).toBe('alice@example.com');
    expect(echoed.headers['x-forwarded-groups']).toBe('admin,dev');

    const html = await login.browser.navigate(`${demo.site}/`);
    expect(html.body).toContain('Signed in as <b>alice@example.com</b>');

    // A script stopping its background demo with `kill -INT PID` (Ctrl-C in a terminal sends the same).
    seen = [...new Set([...seen, ...descendantsOf(bashPid)])];
    process.kill(demo.upPid, 'SIGINT');
    const { code } = await demo.exited;
    expect(code).toBe(130);
    expect(seen.filter(isRunning).map((pid) => `${pid} ${commandOf(pid)}`)).toEqual([]);
    expect(demo.output()).toContain('demo: stopped');
  });
});
