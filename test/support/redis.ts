/**
 * Real Redis processes for tests (Debian's redis-server and redis-sentinel): single servers, a
 * Cluster, and a Sentinel group, each process on a free loopback port with its files in its own
 * temporary directory, stopped by PID. A missing binary fails the test (it never skips).
 *
 * Every process also listens on a Unix socket in its directory, and the helpers talk to it there
 * (readiness, cluster and replication set-up): a TLS-only port that demands a client certificate
 * then needs none from us, and a test's view of the TCP port is never touched by the harness.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { findBinary, startOnFreePort } from '../deploy/binaries.js';
import { findFreePort } from './scripted-server.js';

export interface RedisEndpoint {
  readonly host: '127.0.0.1';
  readonly port: number;
}

export interface RedisServerOptions {
  /** requirepass (the default user). Also used as masterauth, so servers of one test can replicate. */
  readonly password?: string;
  /** ACL users with full access (~* &* +@all). */
  readonly users?: readonly { name: string; password: string }[];
  /** The port speaks TLS only (plain `port 0`). */
  readonly tls?: { ca: string; cert: string; key: string; requireClientCert: boolean };
  readonly replicaOf?: RedisEndpoint & { password?: string };
  readonly clusterEnabled?: boolean;
}

export interface RedisServer {
  readonly endpoint: RedisEndpoint;
  /** The PID of the running process (the last one after stop()). */
  readonly pid: number;
  /** `${host}:${port}` */
  readonly address: string;
  /** SIGTERM (SIGKILL after a grace) and wait for exit; data dir kept so start() brings the same data back. */
  stop(): Promise<void>;
  /** Starts again on the same port with the same options and data dir; resolves when it accepts commands. */
  start(): Promise<void>;
  /** stop() and remove the data dir. */
  destroy(): Promise<void>;
}

export interface RedisCluster {
  readonly nodes: readonly RedisServer[];
  readonly endpoints: readonly string[];
  destroy(): Promise<void>;
}

export interface RedisSentinelGroup {
  readonly masterSet: string;
  /** Three sentinels, quorum 2. */
  readonly sentinels: readonly RedisServer[];
  readonly sentinelEndpoints: readonly string[];
  /** [initial master, replica] */
  readonly servers: readonly RedisServer[];
  /** The endpoint the sentinels currently name as master (the majority of those that answer). */
  currentMaster(): Promise<RedisEndpoint>;
  /**
   * SENTINEL FAILOVER and resolve once the sentinels name the other server as master and it
   * answers ROLE master. First waits until the replica has everything the master has, so data
   * written before is not lost; afterwards makes the old master a replica of the new one (what
   * the sentinels themselves would do some seconds later), so no write lands on it by mistake
   * and failover() can be called again.
   */
  failover(): Promise<RedisEndpoint>;
  destroy(): Promise<void>;
}

const HOST = '127.0.0.1';
const BINARY_DIRS = ['/usr/bin', '/usr/local/bin', '/usr/sbin'];
const READY_WITHIN_MS = 10_000;
const SETTLED_WITHIN_MS = 30_000;
const STOP_GRACE_MS = 5_000;
const LOG_LINES_SHOWN = 40;
const MASTER_SET = 'ofa-test';

/** A process this module started: its directory, its admin socket, and what it is. */
interface ManagedServer extends RedisServer {
  readonly port: number;
  /** The cluster bus port, for CLUSTER MEET. */
  readonly clusterPort: number | undefined;
  isRunning(): boolean;
  /** Runs `use` on a fresh connection over the Unix socket, as the default user. */
  admin<T>(use: (client: Redis) => Promise<T>): Promise<T>;
}

interface ProcessSpec {
  readonly binary: string;
  readonly label: string;
  readonly dir: string;
  readonly port: number;
  readonly clusterPort: number | undefined;
  /** The default user's password, for the admin connection. */
  readonly password: string | undefined;
}

// A crashed or interrupted test run must not leave servers behind: whatever is still running when
// this worker exits is killed by its PID.
const runningChildren = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of runningChildren) child.kill('SIGKILL');
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** A config argument Redis reads back verbatim, whatever the password holds (spaces, quotes). */
function quote(value: string): string {
  const escaped = value.replace(/[\\"]/g, (c) => `\\${c}`).replace(/\n/g, '\\n').replace(/\r/g, '\\r');
  return `"${escaped}"`;
}

function openAdminClient(socket: string, password: string | undefined): Redis {
  const client = new Redis({
    path: socket,
    password,
    lazyConnect: true,
    enableReadyCheck: false,
    retryStrategy: null,
    maxRetriesPerRequest: 0,
    connectTimeout: 2_000,
    commandTimeout: 5_000,
    protocol: 2,
    disableClientInfo: true,
  });
  // Failures reach the awaited connect() or command; the event would only repeat them.
  client.on('error', () => undefined);
  return client;
}

function manageProcess(spec: ProcessSpec): ManagedServer {
  const configFile = join(spec.dir, 'redis.conf');
  const socket = join(spec.dir, 'redis.sock');
  const address = `${HOST}:${spec.port}`;
  let child: ChildProcess | undefined;
  let closed: Promise<void> = Promise.resolve();
  let pid = -1;
  let output = '';
  let alive = false;

  const isRunning = (): boolean => alive;
  const logTail = (): string => output.split('\n').slice(-LOG_LINES_SHOWN).join('\n');

  async function admin<T>(use: (client: Redis) => Promise<T>): Promise<T> {
    const client = openAdminClient(socket, spec.password);
    try {
      await client.connect();
      return await use(client);
    } finally {
      client.disconnect();
    }
  }

  async function waitUntilReady(proc: ChildProcess): Promise<void> {
    const deadline = Date.now() + READY_WITHIN_MS;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      if (!alive || proc.exitCode !== null || proc.signalCode !== null) {
        await closed; // the whole log, including the reason it gave up
        const how =
          proc.exitCode !== null ? `code ${proc.exitCode}` : proc.signalCode !== null ? `signal ${proc.signalCode}` : 'not started';
        throw new Error(`${spec.label} on ${address} exited (${how}) before accepting commands:\n${logTail()}`);
      }
      try {
        // PING is refused while the append-only file loads, so an answer means "accepts commands".
        await admin((client) => client.ping());
        return;
      } catch (error) {
        last = messageOf(error);
      }
      await sleep(50);
    }
    throw new Error(
      `${spec.label} on ${address} (pid ${pid}) did not accept commands within ${READY_WITHIN_MS / 1000} s (last: ${last}):\n${logTail()}`,
    );
  }

  async function stop(): Promise<void> {
    const proc = child;
    if (proc === undefined || !isRunning()) {
      await closed;
      return;
    }
    proc.kill('SIGTERM');
    const kill = setTimeout(() => proc.kill('SIGKILL'), STOP_GRACE_MS);
    await closed;
    clearTimeout(kill);
  }

  async function start(): Promise<void> {
    if (isRunning()) return;
    output = '';
    const proc = spawn(spec.binary, [configFile], { cwd: spec.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    child = proc;
    pid = proc.pid ?? -1;
    runningChildren.add(proc);
    const collect = (chunk: string): void => {
      // Only the tail is ever shown; keep memory bounded for long-running servers.
      output = (output + chunk).slice(-16_384);
    };
    proc.stdout?.setEncoding('utf8').on('data', collect);
    proc.stderr?.setEncoding('utf8').on('data', collect);
    alive = true;
    closed = new Promise<void>((resolve) => {
      const gone = (): void => {
        alive = false;
        runningChildren.delete(proc);
        resolve();
      };
      proc.once('close', gone);
      proc.once('error', (error) => {
        collect(`\n[spawn] ${error.message}\n`);
        // A process that never started emits no 'close'.
        if (proc.pid === undefined) gone();
      });
    });
    try {
      await waitUntilReady(proc);
    } catch (error) {
      if (isRunning()) proc.kill('SIGKILL');
      await closed;
      throw error;
    }
  }

  return {
    endpoint: { host: HOST, port: spec.port },
    address,
    port: spec.port,
    clusterPort: spec.clusterPort,
    get pid() {
      return pid;
    },
    isRunning,
    admin,
    start,
    stop,
    async destroy() {
      await stop();
      await rm(spec.dir, { recursive: true, force: true });
    },
  };
}

/** Makes a directory, writes the config into it, and starts; on failure leaves nothing behind. */
async function launch(
  binary: string,
  label: string,
  port: number,
  options: { clusterPort?: number; password: string | undefined },
  writeFiles: (dir: string) => Promise<void>,
): Promise<ManagedServer> {
  const dir = await mkdtemp(join(tmpdir(), `ofa-${label}-`));
  try {
    await writeFiles(dir);
    const server = manageProcess({ binary, label, dir, port, clusterPort: options.clusterPort, password: options.password });
    await server.start();
    return server;
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

function commonLines(dir: string): string[] {
  return [
    `bind ${HOST}`,
    'daemonize no',
    // Loopback only, so protected mode has nothing to protect; it would refuse password-less tests.
    'protected-mode no',
    `dir ${quote(dir)}`,
    'logfile ""',
    `unixsocket ${quote(join(dir, 'redis.sock'))}`,
    'unixsocketperm 700',
  ];
}

async function writeServerFiles(dir: string, port: number, options: RedisServerOptions, clusterPort: number | undefined): Promise<void> {
  const lines = [
    ...commonLines(dir),
    options.tls === undefined ? `port ${port}` : 'port 0',
    // stop()/start() must bring every acknowledged write back.
    'appendonly yes',
    'appendfsync always',
    'save ""',
  ];
  if (options.password !== undefined) lines.push(`requirepass ${quote(options.password)}`);
  const masterAuth = options.replicaOf?.password ?? options.password;
  if (masterAuth !== undefined) lines.push(`masterauth ${quote(masterAuth)}`);
  for (const user of options.users ?? []) {
    lines.push(`user ${quote(user.name)} on ${quote(`>${user.password}`)} ~* &* +@all`);
  }
  if (options.replicaOf !== undefined) lines.push(`replicaof ${options.replicaOf.host} ${options.replicaOf.port}`);
  if (options.tls !== undefined) {
    await writeFile(join(dir, 'tls-ca.pem'), options.tls.ca);
    await writeFile(join(dir, 'tls-cert.pem'), options.tls.cert);
    await writeFile(join(dir, 'tls-key.pem'), options.tls.key, { mode: 0o600 });
    lines.push(
      `tls-port ${port}`,
      `tls-ca-cert-file ${quote(join(dir, 'tls-ca.pem'))}`,
      `tls-cert-file ${quote(join(dir, 'tls-cert.pem'))}`,
      `tls-key-file ${quote(join(dir, 'tls-key.pem'))}`,
      `tls-auth-clients ${options.tls.requireClientCert ? 'yes' : 'no'}`,
    );
    if (options.replicaOf !== undefined) lines.push('tls-replication yes');
  }
  if (clusterPort !== undefined) {
    lines.push(
      'cluster-enabled yes',
      `cluster-config-file ${quote(join(dir, 'nodes.conf'))}`,
      // Explicit, because the default (port + 10000) can be past 65535 or taken.
      `cluster-port ${clusterPort}`,
      'cluster-node-timeout 5000',
    );
  }
  await writeFile(join(dir, 'redis.conf'), `${lines.join('\n')}\n`);
}

async function startDataServer(options: RedisServerOptions): Promise<ManagedServer> {
  const binary = findBinary('redis-server', BINARY_DIRS);
  return startOnFreePort(async (port) => {
    const clusterPort = options.clusterEnabled === true ? await findFreePort() : undefined;
    return launch(binary, 'redis-server', port, { clusterPort, password: options.password }, (dir) =>
      writeServerFiles(dir, port, options, clusterPort),
    );
  });
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  return startDataServer(options);
}

/** Starts all at once; if any fails, destroys the others and rethrows the first failure. */
async function startAll(starts: readonly (() => Promise<ManagedServer>)[]): Promise<ManagedServer[]> {
  const results = await Promise.allSettled(starts.map((start) => start()));
  const started = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
  const failure = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
  if (failure !== undefined) {
    await destroyAll(started);
    throw failure.reason;
  }
  return started;
}

async function destroyAll(servers: readonly RedisServer[]): Promise<void> {
  await Promise.all(servers.map((server) => server.destroy()));
}

/** Polls `check` until it says yes; errors count as "not yet" and the last one is reported. */
async function waitFor(what: string, check: () => Promise<boolean>, withinMs = SETTLED_WITHIN_MS): Promise<void> {
  const deadline = Date.now() + withinMs;
  let last = 'not yet';
  for (;;) {
    try {
      if (await check()) return;
    } catch (error) {
      last = messageOf(error);
    }
    if (Date.now() >= deadline) throw new Error(`${what}: not reached within ${withinMs / 1000} s (last: ${last})`);
    await sleep(100);
  }
}

function infoField(info: unknown, field: string): string | undefined {
  if (typeof info !== 'string') return undefined;
  const match = new RegExp(`^${field}:(.*)$`, 'm').exec(info);
  return match?.[1]?.trim();
}

/** A flat [key, value, key, value…] reply (SENTINEL MASTER, SENTINEL REPLICAS entries) as a record. */
function pairsToRecord(reply: unknown): Record<string, string> {
  const record: Record<string, string> = {};
  if (!Array.isArray(reply)) return record;
  for (let i = 0; i + 1 < reply.length; i += 2) {
    const key: unknown = reply[i];
    const value: unknown = reply[i + 1];
    if (typeof key === 'string' && typeof value === 'string') record[key] = value;
  }
  return record;
}

export async function startRedisCluster(options: { masters?: number; password?: string } = {}): Promise<RedisCluster> {
  const masters = options.masters ?? 3;
  if (!Number.isInteger(masters) || masters < 1) throw new TypeError(`masters must be a positive integer (got ${masters})`);
  const nodes = await startAll(
    Array.from({ length: masters }, () => () => startDataServer({ password: options.password, clusterEnabled: true })),
  );
  try {
    await formCluster(nodes);
  } catch (error) {
    await destroyAll(nodes);
    throw error;
  }
  return {
    nodes,
    endpoints: nodes.map((node) => node.address),
    destroy: () => destroyAll(nodes),
  };
}

async function formCluster(nodes: readonly ManagedServer[]): Promise<void> {
  const share = Math.floor(16384 / nodes.length);
  await Promise.all(
    nodes.map((node, index) =>
      node.admin(async (client) => {
        // Distinct epochs up front, as redis-cli --cluster create does: no collision to resolve later.
        await client.call('CLUSTER', 'SET-CONFIG-EPOCH', String(index + 1));
        const first = index * share;
        const last = index === nodes.length - 1 ? 16383 : first + share - 1;
        await client.call('CLUSTER', 'ADDSLOTSRANGE', String(first), String(last));
      }),
    ),
  );
  const [seed, ...others] = nodes;
  if (seed !== undefined && others.length > 0) {
    await seed.admin(async (client) => {
      for (const other of others) {
        await client.call('CLUSTER', 'MEET', HOST, String(other.port), String(other.clusterPort));
      }
    });
  }
  await waitFor('cluster_state:ok with every node and slot known on every node', async () => {
    const infos = await Promise.all(nodes.map((node) => node.admin((client) => client.call('CLUSTER', 'INFO'))));
    return infos.every(
      (info) =>
        infoField(info, 'cluster_state') === 'ok' &&
        infoField(info, 'cluster_known_nodes') === String(nodes.length) &&
        infoField(info, 'cluster_slots_assigned') === '16384',
    );
  });
}

interface SentinelGroupOptions {
  password?: string;
  sentinelPassword?: string;
  sentinelUser?: string;
}

async function startSentinel(masterPort: number, options: SentinelGroupOptions): Promise<ManagedServer> {
  const binary = findBinary('redis-sentinel', BINARY_DIRS);
  return startOnFreePort((port) =>
    launch(binary, 'redis-sentinel', port, { password: options.sentinelPassword }, async (dir) => {
      const lines = [
        ...commonLines(dir),
        `port ${port}`,
        'sentinel resolve-hostnames no',
        'sentinel announce-hostnames no',
        `sentinel monitor ${MASTER_SET} ${HOST} ${masterPort} 2`,
        // Small, for quick automatic failovers in tests, yet above what a busy CI machine can stall
        // a loopback PING for: a spurious failover would move the master under a running test.
        `sentinel down-after-milliseconds ${MASTER_SET} 2000`,
        `sentinel failover-timeout ${MASTER_SET} 10000`,
        `sentinel parallel-syncs ${MASTER_SET} 1`,
      ];
      if (options.password !== undefined) lines.push(`sentinel auth-pass ${MASTER_SET} ${quote(options.password)}`);
      if (options.sentinelPassword !== undefined) {
        // Sentinels talk to each other too: they need the password they ask of clients.
        lines.push(`requirepass ${quote(options.sentinelPassword)}`, `sentinel sentinel-pass ${quote(options.sentinelPassword)}`);
      }
      if (options.sentinelUser !== undefined && options.sentinelPassword !== undefined) {
        lines.push(`user ${quote(options.sentinelUser)} on ${quote(`>${options.sentinelPassword}`)} ~* &* +@all`);
      }
      // Sentinel rewrites this file as it learns; it must be its own, writable copy.
      await writeFile(join(dir, 'redis.conf'), `${lines.join('\n')}\n`);
    }),
  );
}

/**
 * One master, one replica, three sentinels (quorum 2), optional passwords: `password` for the data
 * servers, `sentinelPassword` for the sentinels (requirepass in sentinel config), optional
 * `sentinelUser` (an ACL user on the sentinels with `sentinelPassword`).
 */
export async function startRedisSentinelGroup(options: SentinelGroupOptions = {}): Promise<RedisSentinelGroup> {
  if (options.sentinelUser !== undefined && options.sentinelPassword === undefined) {
    throw new TypeError('sentinelUser needs sentinelPassword');
  }
  const data: ManagedServer[] = [];
  let sentinels: ManagedServer[] = [];
  try {
    const master = await startDataServer({ password: options.password });
    data.push(master);
    const replica = await startDataServer({ password: options.password, replicaOf: { ...master.endpoint, password: options.password } });
    data.push(replica);
    await waitFor(`${replica.address} in sync with ${master.address}`, async () =>
      infoField(await replica.admin((client) => client.info('replication')), 'master_link_status') === 'up',
    );
    sentinels = await startAll([0, 1, 2].map(() => () => startSentinel(master.port, options)));
    await waitFor('every sentinel sees the master, the replica and the two other sentinels', async () => {
      const views = await Promise.all(
        sentinels.map((sentinel) =>
          sentinel.admin(async (client) => ({
            master: pairsToRecord(await client.call('SENTINEL', 'MASTER', MASTER_SET)),
            replicas: ((await client.call('SENTINEL', 'REPLICAS', MASTER_SET)) as unknown[]).map(pairsToRecord),
          })),
        ),
      );
      return views.every(
        ({ master: seen, replicas }) =>
          seen['flags'] === 'master' &&
          seen['num-other-sentinels'] === '2' &&
          replicas.some((r) => r['port'] === String(replica.port) && r['flags'] === 'slave' && r['master-link-status'] === 'ok'),
      );
    });
    return sentinelGroup(data, sentinels);
  } catch (error) {
    // Sentinels first, so none of them fails over while the data servers go.
    await destroyAll(sentinels);
    await destroyAll(data);
    throw error;
  }
}

function sentinelGroup(servers: readonly ManagedServer[], sentinels: readonly ManagedServer[]): RedisSentinelGroup {
  /** The master port each running sentinel names. */
  async function namedMasterPorts(): Promise<number[]> {
    const answers = await Promise.all(
      sentinels
        .filter((sentinel) => sentinel.isRunning())
        .map((sentinel) =>
          sentinel
            .admin((client) => client.call('SENTINEL', 'GET-MASTER-ADDR-BY-NAME', MASTER_SET))
            .then((reply) => (Array.isArray(reply) && typeof reply[1] === 'string' ? Number(reply[1]) : undefined))
            .catch(() => undefined),
        ),
    );
    return answers.filter((port): port is number => port !== undefined);
  }

  function serverOn(port: number): ManagedServer {
    const server = servers.find((candidate) => candidate.port === port);
    if (server === undefined) throw new Error(`the sentinels name ${HOST}:${port}, which is not one of this group's servers`);
    return server;
  }

  async function currentMaster(): Promise<RedisEndpoint> {
    const ports = await namedMasterPorts();
    if (ports.length === 0) throw new Error('no sentinel of the group answered');
    const votes = new Map<number, number>();
    for (const port of ports) votes.set(port, (votes.get(port) ?? 0) + 1);
    let named = ports[0] ?? 0;
    for (const [port, count] of votes) if (count > (votes.get(named) ?? 0)) named = port;
    return serverOn(named).endpoint;
  }

  async function replicationOffset(server: ManagedServer): Promise<number> {
    return Number(infoField(await server.admin((client) => client.info('replication')), 'master_repl_offset') ?? NaN);
  }

  async function failover(): Promise<RedisEndpoint> {
    const old = serverOn((await currentMaster()).port);
    const target = servers.find((server) => server !== old);
    if (target === undefined) throw new Error('the group has no second server');

    if (old.isRunning()) {
      const written = await replicationOffset(old);
      await waitFor(`${target.address} to catch up with ${old.address}`, async () => (await replicationOffset(target)) >= written);
    }
    // INPROG (a failover still finishing) and NOGOODSLAVE (the replica not yet seen as healthy) pass.
    await waitFor('a sentinel to accept SENTINEL FAILOVER', async () => {
      let last: unknown;
      for (const sentinel of sentinels.filter((s) => s.isRunning())) {
        try {
          await sentinel.admin((client) => client.call('SENTINEL', 'FAILOVER', MASTER_SET));
          return true;
        } catch (error) {
          last = error;
        }
      }
      throw last ?? new Error('no sentinel is running');
    });
    await waitFor(`every sentinel to name ${target.address} as master, and it to answer ROLE master`, async () => {
      const ports = await namedMasterPorts();
      if (ports.length === 0 || ports.some((port) => port !== target.port)) return false;
      const role = await target.admin((client) => client.call('ROLE'));
      return Array.isArray(role) && role[0] === 'master';
    });
    if (old.isRunning()) {
      await old.admin(async (client) => {
        await client.call('REPLICAOF', HOST, String(target.port));
        await client.call('CONFIG', 'REWRITE');
      });
      await waitFor(`${old.address} to replicate from ${target.address}`, async () =>
        infoField(await old.admin((client) => client.info('replication')), 'master_link_status') === 'up',
      );
    }
    return target.endpoint;
  }

  return {
    masterSet: MASTER_SET,
    sentinels,
    sentinelEndpoints: sentinels.map((sentinel) => sentinel.address),
    servers,
    currentMaster,
    failover,
    async destroy() {
      await destroyAll(sentinels);
      await destroyAll(servers);
    },
  };
}
