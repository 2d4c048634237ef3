/**
 * Starts what a suite's chosen cases need, on loopback free ports, each server pinned: the floor,
 * redis-server, one nginx per site, the dev provider (in this process), the services (the real
 * CLI), oauth2-proxy, Apache with mod_auth_openidc (a site of its own, no nginx); then signs in
 * for real through each site and makes every case ready. Each start registers its stop with the
 * cleanup, so a failure or Ctrl-C half-way still stops everything by PID.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { startDevProvider, type DevProvider } from '../../../deploy/demo/dev-provider.js';
import { startRedisServer } from '../../support/redis.js';
import { reservePort, type ReservedPort } from '../../support/scripted-server.js';
import { startBenchNginx, writeStaticPage, type BenchNginx } from './bench-nginx.js';
import { REPO_ROOT, SHIPPED_NODE_FLAG, startBenchService, type BenchService, type LogDestination, type MiddlewareOptions } from './bench-service.js';
import { signInThroughProxy } from './browser-login.js';
import type { RevocationSites } from './revocation-delay.js';
import { mintSessionCookies } from './minted-sessions.js';
import { isRunning, pinProcessTree, spawnPinned, stopChild, type Cleanup, type CpuList } from './processes.js';
import { readyCase, type ReadyCase } from './ready-case.js';
import { startBenchOauth2Proxy, OAUTH2_PROXY_LABEL } from './bench-oauth2-proxy.js';
import { APACHE_REDIRECT_PATH, startBenchApache } from './bench-apache.js';
import { CACHE_HIT_STAND_IN, CLIENT_ID, MANY_SESSIONS, MOD_AUTH_OPENIDC, MOD_AUTH_OPENIDC_LABEL, OAUTH2_PROXY, type CaseDefinition, type MiddlewareContext, type SiteDefinition, type SuiteDefinition } from './suites.js';

/** A site whose whole login is timed: a page through its nginx, and the process that answers its auth_request. */
export interface LoginTarget {
  readonly title: string;
  readonly pageUrl: string;
  readonly backendPid: number;
}

export interface ReadySuite {
  readonly dir: string;
  readonly cases: readonly ReadyCase[];
  readonly services: readonly BenchService[];
  readonly logins: readonly LoginTarget[];
  /** Where the revocation delay is measured: the same middleware through two service instances. */
  readonly revocation: RevocationSites | undefined;
  readonly notes: readonly string[];
}

export interface SetUpOptions {
  /** Where nginx, the services, the floor and Redis run; undefined: unpinned. */
  readonly serverCpus: CpuList | undefined;
  readonly cpuProfDir: string | undefined;
  readonly serviceLog: LogDestination;
  readonly cleanup: Cleanup;
  readonly keepDir: boolean;
  /** Only these cases (and what they need). */
  readonly caseIds: readonly string[] | undefined;
  /** Start what the suite's revocation-delay measurement needs (when its site's case runs). */
  readonly revocation: boolean;
  readonly log: (line: string) => void;
}

/** A mistake in the command line: reported as a message, without a stack. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The floor's name where a site names its backend. */
const FLOOR = 'floor';

/**
 * Backends that are a script of ours standing in for the service, by the site's backend name. The
 * cache-hit stand-in runs with the service's node flags, so that the two compare like for like;
 * the floor is the bare Fastify route, as node starts it.
 */
const STAND_INS: Readonly<Record<string, { readonly script: string; readonly nodeFlags: readonly string[] }>> = {
  [FLOOR]: { script: 'floor-server.ts', nodeFlags: [] },
  [CACHE_HIT_STAND_IN]: { script: 'cache-hit-stand-in.ts', nodeFlags: [SHIPPED_NODE_FLAG] },
};

function selectCases(suite: SuiteDefinition, caseIds: readonly string[] | undefined): CaseDefinition[] {
  if (caseIds === undefined) return [...suite.cases];
  const unknown = caseIds.filter((id) => !suite.cases.some((c) => c.id === id));
  if (unknown.length > 0) throw new UsageError(`unknown case(s) ${unknown.join(', ')}; the ${suite.name} suite has ${suite.cases.map((c) => c.id).join(', ')}`);
  return suite.cases.filter((c) => caseIds.includes(c.id));
}

const sessionSite = (c: CaseDefinition): string => c.sessionFrom ?? c.site;
const needsSession = (c: CaseDefinition): boolean => c.request === 'signed-in' || c.request === 'many-sessions';

export async function setUp(suite: SuiteDefinition, options: SetUpOptions): Promise<ReadySuite> {
  const { cleanup, serverCpus: cpus } = options;
  const cases = selectCases(suite, options.caseIds);
  const siteOf = (name: string): SiteDefinition => {
    const site = suite.sites.find((candidate) => candidate.name === name);
    if (site === undefined) throw new Error(`no site ${name} in the ${suite.name} suite`);
    return site;
  };
  const siteNames = new Set(cases.flatMap((c) => [c.site, ...(needsSession(c) ? [sessionSite(c)] : [])]));
  const revocation = options.revocation && suite.revocation !== undefined && siteNames.has(suite.revocation.site) ? suite.revocation : undefined;
  if (revocation !== undefined) siteNames.add(revocation.replicaSite);
  const sites = [...siteNames].map(siteOf);
  const services = suite.services.filter((service) => sites.some((site) => site.backend === service.name));

  const dir = mkdtempSync(join(tmpdir(), 'ofa-bench-'));
  cleanup.add('the temporary directory', async () => {
    if (!options.keepDir) rmSync(dir, { recursive: true, force: true });
  });
  writeStaticPage(dir);

  // Ports first: nginx must know where the services will listen, the provider nginx's callbacks.
  // Each port is held (reservePort) until its server is about to start: a probe closed at once
  // leaves it free for the next bind to port 0 (nginx, the provider).
  const reservations = new Map<number, ReservedPort>();
  const pickPort = async (): Promise<number> => {
    const reserved = await reservePort();
    reservations.set(reserved.port, reserved);
    return reserved.port;
  };
  const release = async (port: number | undefined): Promise<void> => {
    if (port !== undefined) await reservations.get(port)?.release();
  };
  cleanup.add('the port reservations', async () => {
    for (const reserved of reservations.values()) await reserved.release();
  });
  const backendPorts = new Map<string, number>();
  for (const service of services) backendPorts.set(service.name, await pickPort());
  for (const site of sites) if (site.backend === OAUTH2_PROXY && !backendPorts.has(OAUTH2_PROXY)) backendPorts.set(OAUTH2_PROXY, await pickPort());
  // Apache is its own site: its listen port, and its callback for the provider.
  const apacheSite = sites.find((site) => site.backend === MOD_AUTH_OPENIDC);
  const apachePort = apacheSite === undefined ? undefined : await pickPort();
  const standInPids = new Map<string, number>();
  for (const [name, standIn] of Object.entries(STAND_INS)) {
    if (!sites.some((site) => site.backend === name)) continue;
    const port = await pickPort();
    backendPorts.set(name, port);
    await release(port);
    standInPids.set(name, await startStandIn(name, standIn, port, cpus, cleanup));
  }
  const redisAddress = suite.redis && services.length > 0 ? await startPinnedRedis(cpus, cleanup) : undefined;
  // The server each site's requests go to: its nginx, or Apache for the mod_auth_openidc site.
  const nginxBySite = new Map<string, BenchNginx>();
  for (const site of sites) if (site !== apacheSite) nginxBySite.set(site.name, await startSite(site, backendPorts, dir, cpus, cleanup));

  const clientSecret = randomBytes(24).toString('base64url');
  const sessionSecret = randomBytes(32).toString('base64url');
  const callbackOf = (site: SiteDefinition): string =>
    site === apacheSite
      ? `http://127.0.0.1:${apachePort as number}${APACHE_REDIRECT_PATH}`
      : `${(nginxBySite.get(site.name) as BenchNginx).url}${site.backend === OAUTH2_PROXY ? '/oauth2/callback' : '/callback'}`;
  const provider = await startProvider(sites.map(callbackOf), [...nginxBySite.values()].map((nginx) => `${nginx.url}/`), clientSecret, cleanup);
  const context: MiddlewareContext = { issuer: provider.issuer, clientSecret, redisAddress };

  let apachePid: number | undefined;
  if (apacheSite !== undefined) {
    await release(apachePort);
    const apache = await startBenchApache({ port: apachePort as number, issuer: provider.issuer, clientID: CLIENT_ID, clientSecret }, { cpus });
    cleanup.add('Apache', apache.stop);
    nginxBySite.set(apacheSite.name, apache);
    apachePid = apache.masterPid;
    options.log(`${MOD_AUTH_OPENIDC_LABEL} (${apache.version}): ready`);
  }

  let oauth2ProxyPid: number | undefined;
  const oauth2ProxySite = sites.find((site) => site.backend === OAUTH2_PROXY);
  if (oauth2ProxySite !== undefined) {
    await release(backendPorts.get(OAUTH2_PROXY));
    const proxy = await startBenchOauth2Proxy(
      { port: backendPorts.get(OAUTH2_PROXY) as number, issuer: provider.issuer, clientID: CLIENT_ID, clientSecret, site: (nginxBySite.get(oauth2ProxySite.name) as BenchNginx).url },
      { dir, cpus },
    );
    cleanup.add('oauth2-proxy', proxy.stop);
    oauth2ProxyPid = proxy.pid;
    options.log(`${OAUTH2_PROXY_LABEL}: ready`);
  }

  const notes: string[] = [];
  const started = new Map<string, { service: BenchService; middlewares: Readonly<Record<string, MiddlewareOptions>> }>();
  for (const definition of services) {
    const middlewares = definition.middlewares(context);
    await release(backendPorts.get(definition.name));
    const service = await startBenchService(
      { name: definition.name, port: backendPorts.get(definition.name) as number, secrets: [sessionSecret], middlewares, ...(definition.server === undefined ? {} : { server: definition.server }) },
      {
        dir,
        // A service may ask for other CPUs (several workers need several cores); never when unpinned.
        cpus: cpus === undefined ? undefined : (definition.cpus ?? cpus),
        log: options.serviceLog,
        ...(options.cpuProfDir === undefined ? {} : { cpuProfDir: options.cpuProfDir }),
        ...(definition.readyWithinMs === undefined ? {} : { readyWithinMs: definition.readyWithinMs }),
      },
    );
    cleanup.add(`service ${definition.name}`, service.stop);
    started.set(definition.name, { service, middlewares });
    const count = Object.keys(middlewares).length;
    options.log(`service ${definition.name}: ${count} middleware${count === 1 ? '' : 's'}, ready ${service.readyMs} ms after start`);
    if (count > 1) notes.push(`service ${definition.name}: ${count} middlewares, ready ${(service.readyMs / 1000).toFixed(1)} s after start`);
  }

  // Real sign-ins, one per site whose session a case uses.
  const cookieBySite = new Map<string, string>();
  for (const name of new Set(cases.filter(needsSession).map(sessionSite))) {
    if (STAND_INS[siteOf(name).backend] !== undefined) throw new Error(`site ${name}: a stand-in cannot sign anyone in (give the case a sessionFrom)`);
    cookieBySite.set(name, await signInThroughProxy(`${(nginxBySite.get(name) as BenchNginx).url}/app/`, 'alice'));
  }

  const backendOf = (site: SiteDefinition): ReadyCase['backend'] => {
    if (site.backend === OAUTH2_PROXY) return { label: OAUTH2_PROXY_LABEL, pid: oauth2ProxyPid as number, service: undefined };
    // The front is the backend: Apache's process tree does the whole request.
    if (site.backend === MOD_AUTH_OPENIDC) return { label: MOD_AUTH_OPENIDC_LABEL, pid: apachePid as number, service: undefined };
    const backing = started.get(site.backend)?.service;
    if (backing === undefined) return { label: site.backend, pid: standInPids.get(site.backend) as number, service: undefined };
    return { label: `service ${backing.name}`, pid: backing.pid, service: backing };
  };
  const ready = cases.map((definition) => {
    const site = siteOf(definition.site);
    const backend = definition.request === 'static' ? undefined : backendOf(site);
    const signedIn = needsSession(definition) ? (cookieBySite.get(sessionSite(definition)) as string) : undefined;
    let cookies = signedIn === undefined ? [] : [signedIn];
    if (definition.request === 'many-sessions' && signedIn !== undefined) {
      const from = siteOf(sessionSite(definition));
      cookies = mintSessionCookies({
        cookieHeader: signedIn,
        cookieName: `${from.middleware}-session`,
        secrets: [sessionSecret],
        middleware: { name: from.middleware, issuer: provider.issuer, clientID: CLIENT_ID },
        count: definition.sessionCount ?? MANY_SESSIONS,
      });
    }
    return readyCase({ definition, dir, nginx: nginxBySite.get(definition.site) as BenchNginx, backend, issuer: provider.issuer, cookies });
  });
  for (const c of ready) await c.preflight();
  const logins = (suite.logins ?? []).flatMap((login): LoginTarget[] => {
    const nginx = nginxBySite.get(login.site);
    if (nginx === undefined) return [];
    const backendName = siteOf(login.site).backend;
    const backendPid = backendName === OAUTH2_PROXY ? oauth2ProxyPid : backendName === MOD_AUTH_OPENIDC ? apachePid : started.get(backendName)?.service.pid;
    return backendPid === undefined ? [] : [{ title: login.title, pageUrl: `${nginx.url}/app/`, backendPid }];
  });
  const revocationUrls: RevocationSites | undefined =
    revocation === undefined
      ? undefined
      : {
          site: (nginxBySite.get(revocation.site) as BenchNginx).url,
          replicaSite: (nginxBySite.get(revocation.replicaSite) as BenchNginx).url,
          replicaOrigin: (started.get(siteOf(revocation.replicaSite).backend) as { service: BenchService }).service.origin,
        };
  return { dir, cases: ready, services: [...started.values()].map((entry) => entry.service), logins, revocation: revocationUrls, notes };
}

/**
 * A stand-in (the floor, the cache-hit stand-in), pinned like the service; ready when its route
 * answers. Its stdout is a pipe this process reads and drops, as it reads the service's log.
 * Returns its PID.
 */
async function startStandIn(name: string, standIn: (typeof STAND_INS)[string], port: number, cpus: CpuList | undefined, cleanup: Cleanup): Promise<number> {
  const path = join(REPO_ROOT, 'test', 'bench', standIn.script);
  const child = spawnPinned(cpus, process.execPath, [...standIn.nodeFlags, '--import', 'tsx', path, String(port)], { stdio: ['ignore', 'pipe', 'inherit'], cwd: REPO_ROOT });
  child.stdout?.resume();
  cleanup.add(`the ${name} stand-in`, () => stopChild(child));
  for (let i = 0; i < 300; i += 1) {
    if (!isRunning(child)) throw new Error(`the ${name} stand-in exited`);
    try {
      const answer = await request(`http://127.0.0.1:${port}/auth/${FLOOR}`);
      await answer.body.dump();
      // The cache-hit stand-in refuses a request without a session: an answer is what counts.
      if (answer.statusCode < 500 && child.pid !== undefined) return child.pid;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the ${name} stand-in did not start`);
}

/** Server side, so on the servers' CPU. Returns host:port. */
async function startPinnedRedis(cpus: CpuList | undefined, cleanup: Cleanup): Promise<string> {
  const redis = await startRedisServer();
  cleanup.add('redis-server', () => redis.destroy());
  if (cpus !== undefined) await pinProcessTree(redis.pid, cpus);
  return redis.address;
}

async function startSite(site: SiteDefinition, backendPorts: ReadonlyMap<string, number>, dir: string, cpus: CpuList | undefined, cleanup: Cleanup): Promise<BenchNginx> {
  const port = backendPorts.get(site.backend);
  if (port === undefined) throw new Error(`site ${site.name}: no backend ${site.backend}`);
  const nginx = await startBenchNginx({
    authAddress: `127.0.0.1:${port}`,
    middleware: site.middleware,
    staticDir: dir,
    cpus,
    ...(site.snippetPath === undefined ? {} : { snippetPath: join(REPO_ROOT, site.snippetPath) }),
  });
  cleanup.add(`nginx (${site.name})`, nginx.stop);
  return nginx;
}

async function startProvider(redirectUris: readonly string[], postLogoutRedirectUris: readonly string[], clientSecret: string, cleanup: Cleanup): Promise<DevProvider> {
  const provider = await startDevProvider({
    host: '127.0.0.1',
    port: 0,
    clients: [
      {
        client_id: CLIENT_ID,
        client_secret: clientSecret,
        redirect_uris: [...redirectUris],
        post_logout_redirect_uris: [...postLogoutRedirectUris],
      },
    ],
    // As the demo: JWT access tokens, so sessions carry verified access-token claims too.
    jwtAccessTokens: true,
    // No refresh during a long soak.
    ttl: { AccessToken: 24 * 3600 },
  });
  cleanup.add('the dev provider', provider.stop);
  return provider;
}
