/**
 * deploy/systemd/oidc-forward-auth.service, checked by systemd's own tools and against the
 * service it runs.
 *
 * `systemd-analyze verify` reads it as systemd would load it; it also insists that ExecStart's
 * program exists, so it is given a copy whose ExecStart names the node running this test (the
 * unit says /usr/bin/node, where packages put it). `systemd-analyze security --offline` scores its
 * sandbox; the score and the exact list of checks it does not pass are pinned, each with the
 * reason the service needs it that way.
 *
 * No systemd runs on the machines that run these tests, so the sandbox is never applied here.
 * What can be checked without it is checked: the service is started the way ExecStart starts it,
 * under strace, through a sign-in (provider discovery, Redis, the code exchange), a reload on
 * SIGHUP and a stop on SIGTERM; every system call it made must be one the unit's
 * SystemCallFilter allows (expanded by systemd-analyze), and every socket one of the families
 * RestrictAddressFamilies allows.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserLogin } from '../support/forward-auth-client.js';
import { startTestProvider, TEST_APP_ORIGIN, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type DevProvider } from '../support/op.js';
import { startRedisServer, type RedisServer } from '../support/redis.js';
import { findFreePort } from '../support/scripted-server.js';
import { findBinary } from './binaries.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const UNIT_NAME = 'oidc-forward-auth.service';
const UNIT_TEXT = readFileSync(join(REPO, 'deploy/systemd', UNIT_NAME), 'utf8');
/** How long the service drains after SIGTERM (SHUTDOWN_GRACE_MS in src/cli/serve-command.ts). */
const SERVICE_DRAIN_SECONDS = 10;
/** Measured with systemd 252 (Debian 12); a lower score is welcome, a higher one is a regression. */
const MAX_EXPOSURE = 1.1;

/**
 * The sandbox checks the unit does not pass, and why: systemd-analyze security names each one.
 * Adding a hardening setting shortens this list (update it); losing one lengthens it (a bug).
 */
const ACCEPTED_EXPOSURES: Readonly<Record<string, string>> = {
  'RootDirectory=/RootImage=': 'node and the package are read from the host',
  'MemoryDenyWriteExecute=': 'V8 makes JIT-compiled code executable at run time',
  'ProcSubset=': 'V8 sizes its heap from /proc/meminfo and /proc/sys/vm/overcommit_memory',
  'PrivateNetwork=': 'a network service',
  'RestrictAddressFamilies=~AF_(INET|INET6)': 'a network service',
  'RestrictAddressFamilies=~AF_UNIX': 'Redis may be reached through a Unix socket',
  'RestrictAddressFamilies=~AF_NETLINK': 'Fastify lists the interfaces when listening on 0.0.0.0',
  'IPAddressDeny=': 'the provider and Redis addresses are each site’s own',
  'DeviceAllow=': 'ProtectClock= itself allows reading the RTC',
};

/** [Section] → key → values, in order; `#` and `;` lines are comments. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section !== null) {
      current = new Map();
      sections.set(section[1] ?? '', current);
      continue;
    }
    const equals = line.indexOf('=');
    if (current === undefined || equals < 0) throw new Error(`unexpected line in the unit: ${line}`);
    const key = line.slice(0, equals).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(equals + 1).trim()]);
  }
  return sections;
}

const unit = parseUnit(UNIT_TEXT);
const service = unit.get('Service') ?? new Map<string, string[]>();
const setting = (key: string): string | undefined => service.get(key)?.at(-1);
const settings = (key: string): readonly string[] => service.get(key) ?? [];

function seconds(span: string): number {
  const match = /^(\d+)(ms|s|min)?$/.exec(span);
  if (match === null) throw new Error(`"${span}" is not a time span this test reads`);
  return Number(match[1]) * { ms: 0.001, s: 1, min: 60 }[(match[2] ?? 's') as 'ms' | 's' | 'min'];
}

interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function run(binary: string, args: readonly string[], cwd: string): Promise<RunResult> {
  return new Promise((resolveRun) => {
    execFile(binary, args, { cwd, encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      const code = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolveRun({ code, stdout, stderr });
    });
  });
}

/** A copy of the unit in a directory of its own, ExecStart's program replaced by this node. */
function unitCopy(edit: (text: string) => string = (text) => text): { readonly dir: string; readonly path: string } {
  const dir = mkdtempSync(join(tmpdir(), 'ofa-unit-'));
  const path = join(dir, UNIT_NAME);
  writeFileSync(path, edit(UNIT_TEXT.replace(/^ExecStart=\S+/m, `ExecStart=${process.execPath}`)));
  return { dir, path };
}

describe('the systemd unit, read by systemd-analyze', () => {
  const analyze = findBinary('systemd-analyze', ['/usr/bin', '/bin']);
  const dirs: string[] = [];
  const copy = (edit?: (text: string) => string): string => {
    const made = unitCopy(edit);
    dirs.push(made.dir);
    return made.path;
  };

  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('verifies without a complaint', async () => {
    const path = copy();
    const result = await run(analyze, ['verify', path], dirname(path));
    expect(result.stderr.split('\n').filter((line) => line.includes(UNIT_NAME) || line.includes(dirname(path)))).toEqual([]);
    expect(result.code).toBe(0);
  });

  it('would complain about a misspelt setting and a missing program', async () => {
    const misspelt = copy((text) => text.replace('ProtectSystem=strict', 'ProtectSytem=strict'));
    expect((await run(analyze, ['verify', misspelt], dirname(misspelt))).stderr).toMatch(/Unknown key (name )?'ProtectSytem'/);
    const missing = copy((text) => text.replace(/^ExecStart=\S+/m, 'ExecStart=/nonexistent/node'));
    const result = await run(analyze, ['verify', missing], dirname(missing));
    expect(result.stderr).toMatch(/\/nonexistent\/node is not executable/);
    expect(result.code).not.toBe(0);
  });

  it(`has an exposure of at most ${MAX_EXPOSURE}, failing only the checks the service needs failed`, async () => {
    const path = copy();
    const text = await run(analyze, ['security', '--offline=true', path], dirname(path));
    expect(text.code).toBe(0);
    const score = /Overall exposure level for \S+: (\d+\.\d+)/.exec(text.stdout)?.[1];
    expect(Number(score)).toBeLessThanOrEqual(MAX_EXPOSURE);

    const json = await run(analyze, ['security', '--offline=true', '--json=short', path], dirname(path));
    const checks = JSON.parse(json.stdout) as readonly { readonly name: string; readonly set: boolean }[];
    expect(checks.length).toBeGreaterThan(50);
    expect(checks.filter((check) => !check.set).map((check) => check.name).sort()).toEqual(Object.keys(ACCEPTED_EXPOSURES).sort());
  });
});

describe('the systemd unit’s settings', () => {
  it('stops with SIGTERM and waits longer than the service drains; reloads with SIGHUP', () => {
    expect(setting('KillSignal')).toBe('SIGTERM');
    expect(seconds(setting('TimeoutStopSec') ?? '90s')).toBeGreaterThan(SERVICE_DRAIN_SECONDS);
    expect(setting('ExecReload')).toBe('/bin/kill -HUP $MAINPID');
    expect(['simple', 'exec']).toContain(setting('Type'));
    expect(setting('Restart')).toBe('on-failure');
  });

  it('runs as a dynamic user without capabilities, privileges to gain or a writable system', () => {
    expect(setting('DynamicUser')).toBe('yes');
    expect(setting('CapabilityBoundingSet')).toBe('');
    expect(setting('NoNewPrivileges')).toBe('yes');
    expect(setting('ProtectSystem')).toBe('strict');
    expect(setting('ProtectHome')).toBe('yes');
    expect(setting('PrivateTmp')).toBe('yes');
    expect(settings('SystemCallFilter')[0]?.split(/\s+/)).toContain('@system-service');
    expect(setting('MemoryDenyWriteExecute')).toBeUndefined();
  });

  it('reads /etc/oidc-forward-auth/config.yaml, and secrets only from credentials the unit loads', () => {
    expect(setting('ConfigurationDirectory')).toBe('oidc-forward-auth');
    expect(setting('ExecStart')).toMatch(/ serve --config \/etc\/oidc-forward-auth\/config\.yaml$/);
    const loaded = settings('LoadCredential').map((entry) => {
      const [id = '', source = ''] = entry.split(':');
      expect(source).toMatch(/^\/etc\/oidc-forward-auth\/credentials\//);
      return id;
    });
    const referenced = [...UNIT_TEXT.matchAll(/file:\/run\/credentials\/([^/\s]+)\/([^\s\]]+)/g)].map((match) => {
      expect(match[1]).toBe(UNIT_NAME);
      return match[2];
    });
    expect(referenced.length).toBeGreaterThan(0);
    expect(new Set(referenced)).toEqual(new Set(loaded));
  });
});

interface SyscallFilterGroups {
  readonly groups: ReadonlyMap<string, readonly string[]>;
}

/** Every @group with its members, as this systemd defines them (members may be groups). */
async function readSyscallGroups(analyze: string): Promise<SyscallFilterGroups> {
  const result = await run(analyze, ['syscall-filter'], tmpdir());
  const groups = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of result.stdout.split('\n')) {
    if (/^@\S+$/.test(line)) {
      current = [];
      groups.set(line, current);
    } else if (/^\s+[@a-z0-9_-]+$/.test(line)) {
      current?.push(line.trim());
    } else if (line.trim() === '') current = undefined;
  }
  return { groups };
}

function expand(name: string, filter: SyscallFilterGroups, seen = new Set<string>()): string[] {
  if (!name.startsWith('@')) return [name];
  if (seen.has(name)) return [];
  seen.add(name);
  const members = filter.groups.get(name);
  if (members === undefined) throw new Error(`systemd-analyze does not know ${name}`);
  return members.flatMap((member) => expand(member, filter, seen));
}

/** systemd's rule: allow lists add up, `~` lists then take out. */
function allowedSyscalls(lines: readonly string[], filter: SyscallFilterGroups): Set<string> {
  const allowed = new Set<string>();
  for (const line of lines.filter((entry) => !entry.startsWith('~'))) {
    for (const name of line.split(/\s+/)) for (const call of expand(name, filter)) allowed.add(call);
  }
  for (const line of lines.filter((entry) => entry.startsWith('~'))) {
    for (const name of line.slice(1).trim().split(/\s+/)) for (const call of expand(name, filter)) allowed.delete(call);
  }
  return allowed;
}

interface TracedRun {
  readonly trace: string;
  readonly stdout: string;
  readonly exitCode: number | null;
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await check())) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the service ended before ${what}:\n${output()}`);
    if (Date.now() > deadline) throw new Error(`${what}: not reached within 60 s:\n${output()}`);
    await new Promise((resolveWait) => setTimeout(resolveWait, 100));
  }
}

describe('the service run as ExecStart runs it, traced', () => {
  const strace = findBinary('strace', ['/usr/bin']);
  const analyze = findBinary('systemd-analyze', ['/usr/bin', '/bin']);
  let provider: DevProvider;
  let redis: RedisServer;
  let work: string;
  let traced: TracedRun;
  let signedIn: number;

  beforeAll(async () => {
    const cli = join(REPO, 'dist/cli.js');
    try {
      accessSync(cli, constants.R_OK);
    } catch {
      throw new Error('dist/cli.js is missing: run `npm run build` first (npm test does)');
    }
    provider = await startTestProvider();
    const redisPassword = 'redis-password-for-the-traced-run';
    redis = await startRedisServer({ password: redisPassword });
    // The trace is written outside the configuration's directories: the service watches those.
    work = mkdtempSync(join(tmpdir(), 'ofa-traced-'));
    const configDir = mkdtempSync(join(work, 'etc-'));
    const credentials = mkdtempSync(join(work, 'credentials-'));
    writeFileSync(join(credentials, 'session-secret'), `${'s'.repeat(48)}\n`);
    writeFileSync(join(credentials, 'client-secret'), `${TEST_CLIENT_SECRET}\n`);
    const port = await findFreePort();
    const configPath = join(configDir, 'config.yaml');
    writeFileSync(
      configPath,
      JSON.stringify({
        server: { listen: `127.0.0.1:${port}`, secrets: [`file:${credentials}/session-secret`], trustedProxies: ['127.0.0.1/32'] },
        middlewares: {
          app: {
            issuer: provider.issuer,
            clientID: TEST_CLIENT_ID,
            clientSecret: `file:${credentials}/client-secret`,
            redirectUrl: '/callback',
            session: { store: { redis: { endpoints: [redis.address], password: 'env:REDIS_PASSWORD' } } },
          },
        },
      }),
    );

    // ExecStart's command line, with this checkout for /opt/oidc-forward-auth.
    const execStart = (setting('ExecStart') ?? '').split(/\s+/);
    const args = execStart.slice(1).map((arg) =>
      arg.replace('/opt/oidc-forward-auth', REPO).replace('/etc/oidc-forward-auth/config.yaml', configPath),
    );
    expect(args.slice(0, 2)).toEqual([cli, 'serve']);
    const environment = Object.fromEntries(settings('Environment').map((entry) => [entry.slice(0, entry.indexOf('=')), entry.slice(entry.indexOf('=') + 1)] as [string, string]));
    const tracePath = join(work, 'trace');
    const child = spawn(strace, ['-f', '-qq', '-o', tracePath, '--', process.execPath, ...args], {
      env: { PATH: process.env.PATH ?? '', ...environment, REDIS_PASSWORD: redisPassword },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    const exited = new Promise<number | null>((resolveExit) => child.on('exit', (code) => resolveExit(code)));
    const output = (): string => stdout.slice(-4000);
    try {
      const origin = `http://127.0.0.1:${port}`;
      await waitFor('/readyz answered 200', async () => (await fetch(`${origin}/readyz`).catch(() => undefined))?.status === 200, child, output);
      const login = await browserLogin({ authAddress: `${origin}/auth/app`, url: `${TEST_APP_ORIGIN}/` });
      signedIn = login.final.status;
      await fetch(`${origin}/metrics`);
      // strace's own process is the parent; the service is its child.
      const servicePid = Number(readFileSync(`/proc/${child.pid}/task/${child.pid}/children`, 'utf8').trim().split(/\s+/)[0]);
      process.kill(servicePid, 'SIGHUP');
      await waitFor('the reload on SIGHUP', () => stdout.includes('"configuration reloaded"'), child, output);
      process.kill(servicePid, 'SIGTERM');
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
    traced = { exitCode: await exited, stdout, trace: readFileSync(tracePath, 'utf8') };
  });

  afterAll(async () => {
    await redis?.destroy();
    await provider?.stop();
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  });

  it('signs a user in, reloads on SIGHUP and exits 0 on SIGTERM', () => {
    expect(signedIn).toBe(200);
    expect(traced.stdout).toContain('"configuration reloaded"');
    expect(traced.exitCode).toBe(0);
  });

  it('makes only system calls the unit’s SystemCallFilter allows', async () => {
    const allowed = allowedSyscalls(settings('SystemCallFilter'), await readSyscallGroups(analyze));
    const made = new Set<string>();
    for (const match of traced.trace.matchAll(/^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)/gm)) made.add(match[1] ?? '');
    expect(made.size).toBeGreaterThan(30);
    expect([...made].filter((call) => !allowed.has(call)).sort()).toEqual([]);
  });

  it('opens only sockets of the families RestrictAddressFamilies allows', () => {
    const allowed = new Set((setting('RestrictAddressFamilies') ?? '').split(/\s+/));
    const families = new Set([...traced.trace.matchAll(/^\d+\s+socket\((AF_[A-Z0-9]+)/gm)].map((match) => match[1] ?? ''));
    expect(families).toContain('AF_INET');
    expect([...families].filter((family) => !allowed.has(family))).toEqual([]);
  });

  it('makes memory executable while it runs, which MemoryDenyWriteExecute= would refuse', () => {
    expect(traced.trace).toMatch(/^\d+\s+(?:pkey_)?mprotect\([^\n]*PROT_EXEC/m);
  });
});
