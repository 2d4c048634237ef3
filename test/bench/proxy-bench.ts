/**
 * The forward-auth check through real nginx, measured against the floor of the architecture.
 * Not part of the test suite (vitest runs *.test.ts only); see test/bench/README.md.
 *
 *   npx tsx test/bench/proxy-bench.ts [--duration 10] [--repeat 3] [--warmup 2] [--connections 50]
 *     [--suite default|scaling|workers] [--cases a,b] [--cpu-prof [--cpu-prof-dir DIR]] [--soak SECONDS]
 *     [--service-log pipe|file] [--logins N] [--revocation-delay N] [--build] [--no-pin] [--json FILE] [--keep]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { CLI_PATH, REPO_ROOT, type LogDestination } from './support/bench-service.js';
import { formatProfileSummary } from './support/cpu-profile-summary.js';
import { allowedCpus, createCleanup, findTaskset, processTree } from './support/processes.js';
import { formatLogCheck, formatPeerTargets, formatProblems, formatRssTarget, formatTable, summarize, type CaseRun } from './support/results-table.js';
import { setUp, UsageError, type ReadySuite } from './support/set-up-suite.js';
import { DEFAULT_SUITE, SUITES } from './support/suites.js';
import { runCase, settleLogs, type RunSettings } from './support/run-case.js';
import { formatLoginTable, timeLogins, type LoginTiming } from './support/login-timing.js';
import { formatRevocationDelay, measureRevocationDelay, type RevocationDelay } from './support/revocation-delay.js';
import { soak } from './support/soak.js';
import { findWrk, stopRunningWrk } from './support/wrk.js';

const USAGE = `usage: npx tsx test/bench/proxy-bench.ts [options]
  --duration S      seconds per measured run (default 10)
  --repeat N        repetitions, interleaved round-robin over the cases (default 3)
  --warmup S        seconds of unmeasured load per case before the first repetition (default 2)
  --connections N   wrk connections (default 50; wrk always runs one thread)
  --suite NAME      default | scaling | workers (default: default)
  --cases A,B       only these case ids of the suite
  --cpu-prof        run the service with node --cpu-prof; prints where the profiles went and their top functions
  --cpu-prof-dir D  where the .cpuprofile files go (default a new directory under ${tmpdir()})
  --soak S          one signed-in run of S seconds, RSS and req/s printed every 10 s
  --service-log D   pipe (default: read and counted by this process, as a container runtime would) | file
  --build           npm run build first (the service runs from dist/)
  --no-pin          do not pin (servers on CPU 0, wrk on CPU 1 by default)
  --logins N        after the table, time N whole logins per site: ours, oauth2-proxy's, mod_auth_openidc's (default 20; 0: none)
  --revocation-delay N  after the table, N rounds of logout on one instance → refused on another (default 50; 0: none)
  --json FILE       also write every run and the summary as JSON
  --keep            keep the temporary directory (configs, logs, headers)`;

interface Options {
  readonly durationSeconds: number;
  readonly repeat: number;
  readonly warmupSeconds: number;
  readonly connections: number;
  readonly suite: string;
  readonly caseIds: readonly string[] | undefined;
  readonly cpuProf: boolean;
  readonly cpuProfDir: string | undefined;
  readonly soakSeconds: number | undefined;
  readonly serviceLog: LogDestination;
  readonly build: boolean;
  readonly pin: boolean;
  readonly jsonPath: string | undefined;
  readonly logins: number;
  readonly revocationRounds: number;
  readonly keep: boolean;
}

function readOptions(): Options | undefined {
  const config = {
    options: {
      duration: { type: 'string' },
      repeat: { type: 'string' },
      warmup: { type: 'string' },
      connections: { type: 'string' },
      suite: { type: 'string' },
      cases: { type: 'string' },
      'cpu-prof': { type: 'boolean' },
      'cpu-prof-dir': { type: 'string' },
      soak: { type: 'string' },
      'service-log': { type: 'string' },
      build: { type: 'boolean' },
      'no-pin': { type: 'boolean' },
      json: { type: 'string' },
      logins: { type: 'string' },
      'revocation-delay': { type: 'string' },
      keep: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  } as const;
  let values: ReturnType<typeof parseArgs<typeof config>>['values'];
  try {
    ({ values } = parseArgs(config));
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
  if (values.help === true) return undefined;
  const positive = (value: string | undefined, fallback: number, name: string, allowZero = false): number => {
    if (value === undefined) return fallback;
    const number = Number(value);
    if (!Number.isInteger(number) || number < (allowZero ? 0 : 1)) throw new UsageError(`--${name} must be a whole number${allowZero ? '' : ' above 0'}`);
    return number;
  };
  const suite = values.suite ?? 'default';
  if (SUITES[suite] === undefined) throw new UsageError(`--suite must be one of ${Object.keys(SUITES).join(', ')}`);
  const serviceLog = values['service-log'] ?? 'pipe';
  if (serviceLog !== 'pipe' && serviceLog !== 'file') throw new UsageError('--service-log must be pipe or file');
  return {
    durationSeconds: positive(values.duration, 10, 'duration'),
    repeat: positive(values.repeat, 3, 'repeat'),
    warmupSeconds: positive(values.warmup, 2, 'warmup', true),
    connections: connectionsWithinNginxLimit(positive(values.connections, 50, 'connections')),
    suite,
    caseIds: values.cases?.split(',').map((id) => id.trim()).filter((id) => id !== ''),
    cpuProf: values['cpu-prof'] === true || values['cpu-prof-dir'] !== undefined,
    cpuProfDir: values['cpu-prof-dir'],
    soakSeconds: values.soak === undefined ? undefined : positive(values.soak, 300, 'soak'),
    serviceLog,
    build: values.build === true,
    pin: values['no-pin'] !== true,
    jsonPath: values.json,
    logins: positive(values.logins, 20, 'logins', true),
    revocationRounds: revocationRounds(positive(values['revocation-delay'], 50, 'revocation-delay', true)),
    keep: values.keep === true,
  };
}

/**
 * deploy/demo/nginx-conf.ts renders `worker_connections 256`, and one worker holds, per wrk
 * connection: the client's, one kept-alive connection to the service, and for a request being
 * answered by the application both ends of that connection (it is the same worker).
 */
const MAX_CONNECTIONS = Math.floor(256 / 4);

function connectionsWithinNginxLimit(connections: number): number {
  if (connections > MAX_CONNECTIONS) throw new UsageError(`--connections above ${MAX_CONNECTIONS} would exceed the rendered nginx.conf's worker_connections 256`);
  return connections;
}

/** Each round is a real login: a bound keeps a typo from running for an hour. */
const MAX_REVOCATION_ROUNDS = 1000;

function revocationRounds(rounds: number): number {
  if (rounds > MAX_REVOCATION_ROUNDS) throw new UsageError(`--revocation-delay above ${MAX_REVOCATION_ROUNDS} rounds: each is a whole login`);
  return rounds;
}

const say = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** Files under src/ newer than dist/cli.js (tsc rewrites every output on a build). */
function newerSources(): string[] {
  let built: number;
  try {
    built = statSync(CLI_PATH).mtimeMs;
  } catch {
    return ['(dist/cli.js is missing)'];
  }
  const newer: string[] = [];
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (statSync(path).mtimeMs > built) newer.push(relative(REPO_ROOT, path));
    }
  };
  walk(join(REPO_ROOT, 'src'));
  return newer;
}

function versionOf(command: string, args: readonly string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  return (`${result.stdout}${result.stderr}`.split('\n')[0] ?? '?').replace(/ \[.*$/, '').trim();
}

const SERVER_CPUS = '0';
const CLIENT_CPUS = '1';

function describeRun(run: CaseRun): string {
  const rss = run.backend === undefined ? '' : `, backend ${(run.backend.peakRssBytes / 2 ** 20).toFixed(0)} MB ${run.backend.cpuPercent.toFixed(0)}% CPU`;
  const core = run.serverCpu === undefined ? '' : `, CPU ${SERVER_CPUS} ${run.serverCpu.busyPercent.toFixed(0)}% busy`;
  return `${Math.round(run.wrk.requestsPerSecond).toLocaleString('en-US')} req/s, p50 ${run.wrk.latencyMs.p50.toFixed(2)} ms, p99 ${run.wrk.latencyMs.p99.toFixed(2)} ms, errors ${run.errors}${rss}${run.nginxCpuPercent === undefined ? '' : `, nginx ${run.nginxCpuPercent.toFixed(0)}% CPU`}${core}`;
}

function pinningReport(ready: ReadySuite, options: Options): string {
  if (!options.pin) return 'pinning: off (--no-pin)';
  const servers = new Set<string>();
  for (const c of ready.cases) {
    for (const pid of [...processTree(c.nginx.masterPid), ...(c.backend === undefined ? [] : processTree(c.backend.pid))]) servers.add(allowedCpus(pid));
  }
  return `pinning: the servers (nginx master and worker, services, floor, peers, redis-server) on CPU ${SERVER_CPUS} (checked: ${[...servers].join(', ')}); wrk and this process on CPU ${CLIENT_CPUS}`;
}

async function main(): Promise<number> {
  const options = readOptions();
  if (options === undefined) {
    say(USAGE);
    return 0;
  }
  findWrk();
  if (options.pin) {
    findTaskset();
    if (cpus().length < 2) throw new Error('pinning needs two CPUs (run with --no-pin to measure unpinned)');
  }
  if (options.build) {
    say('building (npm run build)');
    execFileSync('npm', ['run', '--silent', 'build'], { cwd: REPO_ROOT, stdio: 'inherit' });
  }
  const stale = newerSources();

  const cleanup = createCleanup(say);
  let interrupted = false;
  const interrupt = (signal: NodeJS.Signals): void => {
    if (interrupted) return;
    interrupted = true;
    say(`\n${signal}: stopping everything this run started`);
    void stopRunningWrk()
      .then(() => cleanup.runAll())
      .finally(() => process.exit(130));
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);

  // This process (and the dev provider in it) keeps off the servers' CPU.
  if (options.pin) execFileSync(findTaskset(), ['-a', '-p', '-c', CLIENT_CPUS, String(process.pid)], { stdio: 'ignore' });
  const cpuProfDir = options.cpuProf ? (options.cpuProfDir ?? mkdtempSync(join(tmpdir(), 'ofa-bench-cpuprof-'))) : undefined;
  const suite = options.soakSeconds === undefined ? (SUITES[options.suite] ?? DEFAULT_SUITE) : DEFAULT_SUITE;
  const settings: RunSettings = {
    connections: options.connections,
    clientCpus: options.pin ? CLIENT_CPUS : undefined,
    serverCpu: options.pin ? Number(SERVER_CPUS) : undefined,
  };
  const loadBefore = loadavg();
  try {
    say(`oidc-forward-auth proxy benchmark: setting up the ${suite.name} suite`);
    const ready = await setUp(suite, {
      serverCpus: options.pin ? SERVER_CPUS : undefined,
      cpuProfDir,
      serviceLog: options.serviceLog,
      cleanup,
      keepDir: options.keep,
      caseIds: options.soakSeconds === undefined ? options.caseIds : ['signed-in'],
      revocation: options.soakSeconds === undefined && options.revocationRounds > 0,
      log: (line) => say(`  ${line}`),
    });
    const cpuModel = cpus()[0]?.model ?? '?';
    say(`machine: ${cpuModel}, ${cpus().length} CPUs, Linux ${release()}; node ${process.version}; ${versionOf('nginx', ['-v'])}; ${versionOf(findWrk(), ['--version'])}`);
    say(`load average before: ${loadBefore.map((value) => value.toFixed(2)).join(' ')}`);
    say(pinningReport(ready, options));
    say(`service log: ${options.serviceLog === 'pipe' ? 'stdout is a pipe this process reads' : 'stdout appended to a file'}`);
    say(`service: node dist/cli.js serve${stale.length === 0 ? ' (dist/ is up to date with src/)' : `; WARNING: ${stale.length} file(s) in src/ are newer than dist/cli.js (${stale.slice(0, 3).join(', ')}${stale.length > 3 ? ', …' : ''}): run with --build to measure them`}`);
    if (options.keep) say(`files: ${ready.dir}`);

    if (options.soakSeconds !== undefined) {
      await soak(ready, settings, options.soakSeconds, say);
    } else {
      if (options.warmupSeconds > 0) {
        say(`warm-up: ${options.warmupSeconds} s per case, not measured`);
        for (const c of ready.cases) await runCase(c, settings, options.warmupSeconds, 0);
        await settleLogs(ready);
      }
      say(`measuring: ${options.repeat} repetition(s) × ${ready.cases.length} case(s) × ${options.durationSeconds} s, wrk -t1 -c${options.connections}, round-robin`);
      const runs: CaseRun[] = [];
      for (let repetition = 1; repetition <= options.repeat; repetition += 1) {
        for (const c of ready.cases) {
          const run = await runCase(c, settings, options.durationSeconds, repetition);
          runs.push(run);
          say(`  ${repetition}/${options.repeat} ${c.definition.id}: ${describeRun(run)}`);
        }
      }
      const leftover = await settleLogs(ready);
      const summaries = summarize(ready.cases, runs);
      const loadAfter = loadavg();
      say('');
      say(`Results (medians over ${options.repeat} repetition(s) of ${options.durationSeconds} s; ratio = median req/s ÷ the floor's unless named):`);
      say(formatTable(summaries));
      for (const line of formatPeerTargets(summaries)) say(line);
      for (const line of formatRssTarget(summaries, ready.cases)) say(line);
      say(`load average after: ${loadAfter.map((value) => value.toFixed(2)).join(' ')} (${cpus().length} CPUs: above ~${cpus().length} means other work shared the machine)`);
      const problems = formatProblems(runs, ready.cases);
      if (problems.length > 0) say(['problems:', ...problems].join('\n'));
      for (const line of formatLogCheck(runs, leftover)) say(line);
      for (const note of ready.notes) say(`note: ${note}`);
      const logins: LoginTiming[] = [];
      if (options.logins > 0 && ready.logins.length > 0) {
        for (const target of ready.logins) logins.push(await timeLogins(target, options.logins));
        say('');
        say(`Whole logins, one after the other, outside the wrk runs (page load → provider form → callback → page; the provider runs in this process, on CPU ${CLIENT_CPUS}):`);
        say(formatLoginTable(logins));
      }
      let revocation: RevocationDelay | undefined;
      if (ready.revocation !== undefined) {
        revocation = await measureRevocationDelay(ready.revocation, options.revocationRounds);
        say('');
        for (const line of formatRevocationDelay(revocation)) say(line);
      }
      if (options.jsonPath !== undefined) {
        writeFileSync(options.jsonPath, `${JSON.stringify({ options, loadBefore, loadAfter, runs, summaries, logins, revocation }, null, 2)}\n`);
        say(`JSON: ${options.jsonPath}`);
      }
    }
  } finally {
    await cleanup.runAll();
  }
  if (cpuProfDir !== undefined) {
    // The service writes its profile when it exits, so only now.
    const profiles = readdirSync(cpuProfDir).filter((name) => name.endsWith('.cpuprofile'));
    say(`CPU profiles (whole life of each service process; use --cases to profile one case): ${cpuProfDir}`);
    for (const name of profiles) say(formatProfileSummary(join(cpuProfDir, name)));
  }
  return 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`proxy-bench: ${error.message}\n${USAGE}\n`);
      process.exit(2);
    }
    process.stderr.write(`proxy-bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
