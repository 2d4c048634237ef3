/**
 * deploy/Dockerfile and the .dockerignore at the repository root, without a Docker engine (there
 * is none on the machines that run these tests): the Dockerfile's instructions are parsed and
 * checked for what a container runtime relies on, the HEALTHCHECK command is run for real with
 * this machine's node against a running service, a closed port, a failing and a stalled server,
 * and the .dockerignore patterns are evaluated, with Docker's rules, against the paths of this
 * checkout and against paths that must never reach an image.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { dirname, join, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ignore } from '@balena/dockerignore';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findFreePort, startScriptedServer, type ScriptedServer } from '../support/scripted-server.js';
import { startService, type TestService } from '../support/service.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PACKAGE = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string; license: string; description: string };

interface Instruction {
  /** Upper-case keyword: FROM, RUN, COPY, ... */
  readonly keyword: string;
  /** Everything after the keyword, continuation lines joined. */
  readonly args: string;
  readonly line: number;
}

interface Stage {
  readonly from: string;
  readonly name: string | undefined;
  readonly instructions: readonly Instruction[];
}

/**
 * Dockerfile syntax as its reference defines it for the default escape character: `#` lines are
 * comments (also between continued lines), a trailing `\` continues the instruction, keywords are
 * case-insensitive. Parser directives and heredocs are not used in our Dockerfile and not read.
 */
function parseDockerfile(text: string): Stage[] {
  const instructions: Instruction[] = [];
  let pending: { text: string; line: number } | undefined;
  text.split('\n').forEach((raw, index) => {
    const line = raw.trim();
    if (line.startsWith('#')) return;
    if (pending === undefined && line === '') return;
    const continued = line.endsWith('\\');
    const part = continued ? line.slice(0, -1) : line;
    pending = pending === undefined ? { text: part, line: index + 1 } : { text: `${pending.text} ${part}`, line: pending.line };
    if (continued) return;
    const match = /^(\S+)\s*([\s\S]*)$/.exec(pending.text.trim());
    if (match !== null) instructions.push({ keyword: (match[1] ?? '').toUpperCase(), args: (match[2] ?? '').trim(), line: pending.line });
    pending = undefined;
  });
  const stages: { from: string; name: string | undefined; instructions: Instruction[] }[] = [];
  for (const instruction of instructions) {
    if (instruction.keyword === 'FROM') {
      const [from = '', as, name] = instruction.args.split(/\s+/).filter((word) => !word.startsWith('--'));
      stages.push({ from, name: as?.toUpperCase() === 'AS' ? name : undefined, instructions: [] });
    } else {
      const stage = stages.at(-1);
      if (stage === undefined) throw new Error(`line ${instruction.line}: ${instruction.keyword} before FROM`);
      stage.instructions.push(instruction);
    }
  }
  return stages;
}

/** `--name=value` options in front of the arguments, as COPY, HEALTHCHECK and FROM take them. */
function splitOptions(args: string): { readonly options: Map<string, string>; readonly rest: string } {
  const options = new Map<string, string>();
  let rest = args;
  for (let match = /^--([a-z-]+)=(\S+)\s*/.exec(rest); match !== null; match = /^--([a-z-]+)=(\S+)\s*/.exec(rest)) {
    options.set(match[1] ?? '', match[2] ?? '');
    rest = rest.slice(match[0].length);
  }
  return { options, rest };
}

/** The exec (JSON array) form, or undefined for the shell form. */
function execForm(args: string): string[] | undefined {
  if (!args.startsWith('[')) return undefined;
  const parsed: unknown = JSON.parse(args);
  return Array.isArray(parsed) && parsed.every((item) => typeof item === 'string') ? parsed : undefined;
}

/** `KEY=value` pairs of ENV and LABEL, double-quoted values allowed. */
function keyValues(args: string): Map<string, string> {
  const pairs = new Map<string, string>();
  for (const match of args.matchAll(/([A-Za-z0-9_.-]+)=("((?:[^"\\]|\\.)*)"|\S+)/g)) {
    pairs.set(match[1] ?? '', match[3] !== undefined ? match[3].replace(/\\(.)/g, '$1') : (match[2] ?? ''));
  }
  return pairs;
}

function durationMs(value: string): number {
  const match = /^(\d+)(ms|s|m)$/.exec(value);
  if (match === null) throw new Error(`"${value}" is not a Docker duration this test reads`);
  return Number(match[1]) * { ms: 1, s: 1000, m: 60_000 }[match[2] as 'ms' | 's' | 'm'];
}

const stages = parseDockerfile(readFileSync(join(REPO, 'deploy/Dockerfile'), 'utf8'));
const build = stages[0];
const final = stages.at(-1);

function finalInstructions(keyword: string): Instruction[] {
  return (final?.instructions ?? []).filter((instruction) => instruction.keyword === keyword);
}

function lastFinal(keyword: string): Instruction | undefined {
  return finalInstructions(keyword).at(-1);
}

function finalEnvironment(): Map<string, string> {
  return new Map(finalInstructions('ENV').flatMap((instruction) => [...keyValues(instruction.args)]));
}

describe('the Dockerfile', () => {
  it('builds in one stage and runs from a second that takes only the build output from it', () => {
    expect(stages).toHaveLength(2);
    expect(build?.from).toMatch(/^node:\d+-slim$/);
    expect(final?.from).toBe(build?.from);
    const copies = finalInstructions('COPY').map((instruction) => splitOptions(instruction.args).options.get('from'));
    expect(copies.length).toBeGreaterThan(0);
    expect(copies.every((from) => from === build?.name)).toBe(true);
  });

  it('runs as a numeric non-root user, which Kubernetes’ runAsNonRoot can verify', () => {
    const user = lastFinal('USER')?.args ?? '';
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(user.split(':').map(Number).every((id) => id > 0)).toBe(true);
  });

  it('listens on every interface of the container at the port it exposes', () => {
    const listen = finalEnvironment().get('OIDC_FORWARD_AUTH_LISTEN') ?? '';
    expect(listen).toMatch(/^0\.0\.0\.0:\d+$/);
    const exposed = finalInstructions('EXPOSE').flatMap((instruction) => instruction.args.split(/\s+/));
    expect(exposed).toContain(listen.split(':')[1]);
  });

  it('stops with SIGTERM delivered to node itself (exec-form ENTRYPOINT, no shell in between)', () => {
    expect(lastFinal('STOPSIGNAL')?.args).toBe('SIGTERM');
    const entrypoint = execForm(lastFinal('ENTRYPOINT')?.args ?? '');
    expect(entrypoint?.[0]).toBe('node');
    expect(execForm(lastFinal('CMD')?.args ?? '')?.[0]).toBe('serve');
  });

  it('sizes V8’s young generation as the systemd unit does, and as the benchmark measures it (NODE_OPTIONS)', () => {
    const unit = readFileSync(join(REPO, 'deploy/systemd/oidc-forward-auth.service'), 'utf8');
    const unitValue = /^Environment=NODE_OPTIONS=(.*)$/m.exec(unit)?.[1];
    const benchService = readFileSync(join(REPO, 'test/bench/support/bench-service.ts'), 'utf8');
    const benchValue = /SHIPPED_NODE_FLAG = '([^']*)'/.exec(benchService)?.[1];

    expect(finalEnvironment().get('NODE_OPTIONS')).toBe('--max-semi-space-size=8');
    expect(unitValue).toBe(finalEnvironment().get('NODE_OPTIONS'));
    expect(benchValue).toBe(finalEnvironment().get('NODE_OPTIONS'));
  });

  it('is labelled with the package’s version, licence and description', () => {
    const labels = new Map(finalInstructions('LABEL').flatMap((instruction) => [...keyValues(instruction.args)]));
    expect(labels.get('org.opencontainers.image.title')).toBe('oidc-forward-auth');
    expect(labels.get('org.opencontainers.image.version')).toBe(PACKAGE.version);
    expect(labels.get('org.opencontainers.image.licenses')).toBe(PACKAGE.license);
    expect(labels.get('org.opencontainers.image.description')).toBe(PACKAGE.description);
  });
});

describe('the Dockerfile HEALTHCHECK, run with node', () => {
  const healthcheck = splitOptions(lastFinal('HEALTHCHECK')?.args ?? '');
  const command = execForm(healthcheck.rest.replace(/^CMD\s+/, '')) ?? [];
  /** Docker kills the check after this and counts it as failed. */
  const dockerTimeoutMs = durationMs(healthcheck.options.get('timeout') ?? '30s');

  let service: TestService;
  let failing: ScriptedServer;
  let stalled: { server: Server; sockets: Set<Socket>; port: number };

  /** Runs the check as Docker would, with the listen address a container would have. */
  function runCheck(port: number): Promise<{ readonly code: number | null; readonly killed: boolean }> {
    const [program, ...args] = command;
    expect(program).toBe('node');
    return new Promise((resolveRun) => {
      const child = execFile(
        process.execPath,
        args,
        { env: { PATH: process.env.PATH ?? '', OIDC_FORWARD_AUTH_LISTEN: `0.0.0.0:${port}` }, timeout: dockerTimeoutMs, killSignal: 'SIGKILL' },
        () => resolveRun({ code: child.exitCode, killed: child.signalCode !== null }),
      );
    });
  }

  beforeAll(async () => {
    service = await startService({ middlewares: [{ name: 'app' }], awaitProviders: false });
    failing = await startScriptedServer((_request, response) => {
      response.writeHead(503).end();
    });
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolveListen) => server.listen(0, '127.0.0.1', resolveListen));
    stalled = { server, sockets, port: (server.address() as AddressInfo).port };
  });

  afterAll(async () => {
    await service.stop();
    await failing.stop();
    for (const socket of stalled.sockets) socket.destroy();
    await new Promise<void>((resolveClose) => stalled.server.close(() => resolveClose()));
  });

  it('is a node -e script in exec form, with a timeout and retries', () => {
    expect(command.slice(0, 2)).toEqual(['node', '-e']);
    expect(command).toHaveLength(3);
    expect(Number(healthcheck.options.get('retries'))).toBeGreaterThan(0);
  });

  it('passes against the running service', async () => {
    expect(await runCheck(Number(new URL(service.origin).port))).toEqual({ code: 0, killed: false });
  });

  it('fails when nothing listens on the port', async () => {
    expect(await runCheck(await findFreePort())).toEqual({ code: 1, killed: false });
  });

  it('fails when the answer is not 200', async () => {
    expect(await runCheck(failing.port)).toEqual({ code: 1, killed: false });
    expect(failing.requests.map((request) => request.url)).toEqual(['/healthz']);
  });

  it('gives up on a server that never answers by itself, before Docker would kill it', async () => {
    expect(await runCheck(stalled.port)).toEqual({ code: 1, killed: false });
  });
});

// A CommonJS module whose types declare an ES default export: required, so both agree.
const dockerignore = createRequire(import.meta.url)('@balena/dockerignore') as typeof import('@balena/dockerignore').default;

/** `.dockerignore` rules read as Docker reads them (@balena/dockerignore ports Docker's matcher). */
function readDockerignore(text: string): Ignore {
  return dockerignore().add(text);
}

function isIgnored(rules: Ignore, path: string): boolean {
  return rules.ignores(path);
}

/** Files of this checkout under `dir`, relative to the repository root. */
function filesUnder(dir: string): string[] {
  return readdirSync(join(REPO, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => posix.join(posix.relative(REPO, entry.parentPath ?? entry.path), entry.name));
}

describe('the .dockerignore', () => {
  const patterns = readDockerignore(readFileSync(join(REPO, '.dockerignore'), 'utf8'));
  const ignored = (path: string): boolean => isIgnored(patterns, path);

  it('sends every file the build copies', () => {
    const sources = (build?.instructions ?? [])
      .filter((instruction) => instruction.keyword === 'COPY' && !splitOptions(instruction.args).options.has('from'))
      .flatMap((instruction) => splitOptions(instruction.args).rest.split(/\s+/).slice(0, -1));
    expect(sources).toEqual(expect.arrayContaining(['package.json', 'package-lock.json', 'src']));
    const files = sources.flatMap((source) => (source === 'src' ? filesUnder('src') : [source]));
    expect(files.length).toBeGreaterThan(sources.length);
    expect(files.filter(ignored)).toEqual([]);
  });

  it('leaves out dependencies, build output, git, tests and their artifacts, the demo and deploy files', () => {
    const paths = ['node_modules/yaml/package.json', 'dist/cli.js', '.git/HEAD', 'test/support/service.ts', 'deploy/Dockerfile'];
    const possible = ['.demo/config.yaml', 'test-artifacts/trace.zip', 'coverage/lcov.info', 'src/node_modules/x/index.js', 'src/dist/cli.js'];
    expect([...paths, ...possible].filter((path) => !ignored(path))).toEqual([]);
  });

  it('leaves out every .env file, key and log, wherever they are', () => {
    const secrets = ['.env', '.env.production', 'src/.env.local', 'key.pem', 'src/server/tls.key', 'src/cert.p12', 'client.pfx'];
    const logs = ['npm-debug.log', 'src/server/debug.log'];
    expect([...secrets, ...logs].filter((path) => !ignored(path))).toEqual([]);
  });

  it('is read with Docker’s rules: the last match wins, and a matching directory takes what is under it', () => {
    const rules = readDockerignore('*\n!src/\nsrc/secret\n');
    expect(isIgnored(rules, 'README.md')).toBe(true);
    expect(isIgnored(rules, 'src/index.ts')).toBe(false);
    expect(isIgnored(rules, 'src/secret/value.txt')).toBe(true);
    expect(isIgnored(readDockerignore('*.log\n'), 'src/debug.log')).toBe(false);
  });
});
