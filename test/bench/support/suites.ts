/**
 * What the benchmark starts and which cases it measures, as data: suites of services (the real CLI
 * with a config), sites (real nginx with the recipe in front of a service or of the floor) and
 * cases (a kind of request sent by wrk to a site). set-up-suite.ts starts them.
 *
 * Extension points: a service with other `server` options is one more entry in `services` plus a
 * site and a case (WORKERS_SUITE does that for `workers: 2`); a recipe variant (an nginx
 * micro-cache) is a site with `snippetPath`, see the commented entries in DEFAULT_SUITE.
 */
import { OAUTH2_PROXY_LABEL } from './bench-oauth2-proxy.js';
import type { MiddlewareOptions } from './bench-service.js';
import type { CpuList } from './processes.js';

// ---------------------------------------------------------------------------------------------
// The middleware under test

export const CLIENT_ID = 'bench';
/** The demo's rule: one term. */
export const ONE_TERM_RULE = 'Contains(`groups`, `admin`)';

/** Fifty distinct terms, all true for alice, joined with &&: every one is evaluated. */
export function fiftyTermRule(): string {
  const email = 'alice@example.com';
  const terms: string[] = [];
  for (let k = 0; k < 50; k += 1) {
    switch (k % 5) {
      case 0:
        terms.push(`OneOf(\`groups\`, \`team-${k}\`, \`admin\`)`);
        break;
      case 1:
        terms.push(`Prefix(\`email\`, \`${email.slice(0, 1 + (k % email.length))}\`)`);
        break;
      case 2:
        terms.push(`!Equals(\`preferred_username\`, \`user-${k}\`)`);
        break;
      case 3:
        terms.push(`Contains(\`groups\`, \`${k % 2 === 0 ? 'admin' : 'dev'}\`)`);
        break;
      default:
        terms.push(`(Equals(\`email_verified\`, \`true\`) || Equals(\`email\`, \`nobody-${k}@example.com\`))`);
    }
  }
  return terms.join(' && ');
}

export interface MiddlewareContext {
  readonly issuer: string;
  readonly clientSecret: string;
  readonly redisAddress: string | undefined;
}

/**
 * Realistic: a claims rule, the recipe's two identity headers, CSRF on; sliding off so a 2xx never
 * carries a renewed cookie (a renewal per request would measure the sealer, not the check).
 */
function benchMiddleware(context: MiddlewareContext, options: { readonly claims?: string; readonly redis?: boolean } = {}): MiddlewareOptions {
  if (options.redis === true && context.redisAddress === undefined) throw new Error('this suite starts no Redis');
  return {
    issuer: context.issuer,
    clientID: CLIENT_ID,
    clientSecret: context.clientSecret,
    scopes: ['openid', 'email', 'profile', 'groups'],
    redirectUrl: '/callback',
    logoutUrl: '/logout',
    postLogoutRedirectUrl: '/',
    claims: options.claims ?? ONE_TERM_RULE,
    forwardHeaders: { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups' },
    csrf: {},
    session: {
      sliding: false,
      ...(options.redis === true ? { store: { redis: { endpoints: [context.redisAddress] } } } : {}),
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Suites as data

export interface ServiceDefinition {
  readonly name: string;
  /** Merged into the config's `server` section. */
  readonly server?: Readonly<Record<string, unknown>>;
  readonly middlewares: (context: MiddlewareContext) => Readonly<Record<string, MiddlewareOptions>>;
  /** Discovery of many middlewares may take a while. */
  readonly readyWithinMs?: number;
  /**
   * When pinning, run this service on these CPUs instead of the servers' one: a service with
   * several workers needs several cores (on a 2-CPU machine it then shares CPU 1 with wrk).
   */
  readonly cpus?: CpuList;
}

/**
 * A site's backend that stands in for the service: a cache hit done with the service's own
 * libraries and nothing else (test/bench/cache-hit-stand-in.ts), what the architecture allows.
 */
export const CACHE_HIT_STAND_IN = 'cache-hit-stand-in';

/** A site's backend that is not one of our services: oauth2-proxy, signing in at the same provider. */
export const OAUTH2_PROXY = 'oauth2-proxy';

/**
 * A site that is Apache httpd with mod_auth_openidc, not nginx: it checks the session in-process
 * and serves the application itself, so nothing stands in front of it.
 */
export const MOD_AUTH_OPENIDC = 'mod_auth_openidc';
export const MOD_AUTH_OPENIDC_LABEL = 'Apache + mod_auth_openidc';

export interface SiteDefinition {
  readonly name: string;
  /** A service name, 'floor' for the empty Fastify route, CACHE_HIT_STAND_IN, OAUTH2_PROXY, or MOD_AUTH_OPENIDC (then Apache is the site). */
  readonly backend: string;
  /** The middleware in the recipe's /auth/NAME. */
  readonly middleware: string;
  /** A variant of nginx/oidc-forward-auth.conf, relative to the repository. */
  readonly snippetPath?: string;
}

export type RequestKind =
  /** GET the site's static application directly (no recipe). */
  | 'static'
  /** A signed-in API call: Accept: application/json and the cookies of a real sign-in. */
  | 'signed-in'
  /** The same with many distinct sessions (10,000 unless the case says), round-robin. */
  | 'many-sessions'
  /** An API call without a session: Accept: application/json, no cookie. */
  | 'anonymous-api'
  /** A page load without a session: the login starts (302 to the provider). */
  | 'page-load';

export interface CaseDefinition {
  readonly id: string;
  readonly title: string;
  readonly site: string;
  readonly request: RequestKind;
  /** For signed-in and many-sessions: the site whose sign-in provides the cookies (default `site`). */
  readonly sessionFrom?: string;
  /** For many-sessions: how many distinct sessions, round-robin (default MANY_SESSIONS). */
  readonly sessionCount?: number;
  /** The issue's target, as a share of `compareTo`'s median req/s. */
  readonly target?: number;
  /** Default: the case with id 'floor'. */
  readonly compareTo?: string;
  /**
   * The site's recipe caches the service's answers (nginx/oidc-forward-auth-microcache.conf): most
   * requests never reach the service, so its log holds fewer lines than nginx's decisions, and
   * the preflight checks that a repeated request is not asked again.
   */
  readonly proxyCache?: boolean;
  /**
   * A peer's case: the target for our `signed-in` median req/s over this case's, printed
   * after the table (the peers on the same core).
   */
  readonly peerTarget?: number;
}

export interface SuiteDefinition {
  readonly name: string;
  readonly redis: boolean;
  readonly services: readonly ServiceDefinition[];
  readonly sites: readonly SiteDefinition[];
  readonly cases: readonly CaseDefinition[];
  /** Whole logins timed outside the wrk runs, one row per site (when the selected cases started it). */
  readonly logins?: readonly { readonly title: string; readonly site: string }[];
  /**
   * The revocation delay, measured when this site's case runs: sign in and log out at `site`,
   * ask `replicaSite` (another instance of the service, the same middleware on the same Redis)
   * until it refuses.
   */
  readonly revocation?: { readonly site: string; readonly replicaSite: string };
}

export const MANY_SESSIONS = 10_000;

export const DEFAULT_SUITE: SuiteDefinition = {
  name: 'default',
  redis: true,
  services: [
    {
      name: 'main',
      middlewares: (context) => ({
        bench: benchMiddleware(context),
        'bench-redis': benchMiddleware(context, { redis: true }),
      }),
    },
    // A second instance on the same Redis, for the revocation delay only (no wrk case).
    { name: 'replica', middlewares: (context) => ({ 'bench-redis': benchMiddleware(context, { redis: true }) }) },
    // More services: see WORKERS_SUITE for one with `server.workers`.
  ],
  sites: [
    { name: 'main', backend: 'main', middleware: 'bench' },
    { name: 'redis', backend: 'main', middleware: 'bench-redis' },
    { name: 'floor', backend: 'floor', middleware: 'bench' },
    { name: 'stand-in', backend: CACHE_HIT_STAND_IN, middleware: 'bench' },
    // A recipe variant: the same service behind nginx's micro-cache of its 200s.
    { name: 'microcache', backend: 'main', middleware: 'bench', snippetPath: 'nginx/oidc-forward-auth-microcache.conf' },
    // The same server-block shape in front of oauth2-proxy's /oauth2/auth.
    { name: 'oauth2-proxy', backend: OAUTH2_PROXY, middleware: 'bench', snippetPath: 'test/bench/nginx/oauth2-proxy.conf' },
    // Apache itself, no nginx: mod_auth_openidc checks, Apache serves the page.
    { name: 'mod-auth-openidc', backend: MOD_AUTH_OPENIDC, middleware: 'bench' },
    { name: 'redis-replica', backend: 'replica', middleware: 'bench-redis' },
  ],
  logins: [
    { title: 'oidc-forward-auth', site: 'main' },
    { title: OAUTH2_PROXY_LABEL, site: 'oauth2-proxy' },
    { title: MOD_AUTH_OPENIDC_LABEL, site: 'mod-auth-openidc' },
  ],
  revocation: { site: 'redis', replicaSite: 'redis-replica' },
  cases: [
    { id: 'static', title: 'nginx static', site: 'main', request: 'static' },
    { id: 'floor', title: 'floor: recipe → empty Fastify', site: 'floor', request: 'signed-in', sessionFrom: 'main' },
    { id: 'signed-in', title: 'signed-in', site: 'main', request: 'signed-in', target: 0.9 },
    // No target: the ceiling a cache hit can reach with Fastify, pino and prom-client.
    { id: 'stand-in', title: 'stand-in: a cache hit, our libraries only', site: 'stand-in', request: 'signed-in', sessionFrom: 'main' },
    { id: 'sessions-10k', title: '10,000 distinct sessions', site: 'main', request: 'many-sessions', target: 0.8 },
    // More than any cache here holds: nearly every request opens its cookie.
    { id: 'sessions-100k', title: '100,000 distinct sessions', site: 'main', request: 'many-sessions', sessionCount: 100_000, target: 0.6 },
    { id: 'redis', title: 'Redis store, signed-in', site: 'redis', request: 'signed-in', target: 0.75 },
    { id: 'anonymous-api', title: 'anonymous API call (401)', site: 'main', request: 'anonymous-api', target: 0.8 },
    { id: 'page-load', title: 'anonymous page load (login start)', site: 'main', request: 'page-load' },
    { id: 'microcache', title: 'signed-in, nginx micro-cache (2 s)', site: 'microcache', request: 'signed-in', sessionFrom: 'main', target: 1.5, proxyCache: true },
    { id: 'oauth2-proxy', title: `${OAUTH2_PROXY_LABEL}, signed-in`, site: 'oauth2-proxy', request: 'signed-in', peerTarget: 1.0 },
    { id: 'mod-auth-openidc', title: `${MOD_AUTH_OPENIDC_LABEL}, signed-in`, site: 'mod-auth-openidc', request: 'signed-in', peerTarget: 1.4 },
  ],
};

export const SCALED_MIDDLEWARES = 1000;
const scaledName = (index: number): string => `m${String(index).padStart(4, '0')}`;

/** Throughput must stay flat from 1 to 1,000 middlewares and from a 1- to a 50-term rule. */
export const SCALING_SUITE: SuiteDefinition = {
  name: 'scaling',
  redis: false,
  services: [
    { name: 'one', middlewares: (context) => ({ [scaledName(0)]: benchMiddleware(context) }) },
    {
      name: 'thousand',
      readyWithinMs: 300_000,
      middlewares: (context) => {
        const middlewares: Record<string, MiddlewareOptions> = {};
        for (let i = 0; i < SCALED_MIDDLEWARES; i += 1) middlewares[scaledName(i)] = benchMiddleware(context);
        return middlewares;
      },
    },
    { name: 'rule50', middlewares: (context) => ({ [scaledName(0)]: benchMiddleware(context, { claims: fiftyTermRule() }) }) },
  ],
  sites: [
    { name: 'one', backend: 'one', middleware: scaledName(0) },
    // The first of the 1,000 is the one checked.
    { name: 'thousand', backend: 'thousand', middleware: scaledName(0) },
    { name: 'rule50', backend: 'rule50', middleware: scaledName(0) },
    { name: 'floor', backend: 'floor', middleware: scaledName(0) },
  ],
  cases: [
    { id: 'floor', title: 'floor: recipe → empty Fastify', site: 'floor', request: 'signed-in', sessionFrom: 'one' },
    { id: 'one', title: '1 middleware, 1-term rule', site: 'one', request: 'signed-in' },
    { id: 'thousand', title: '1,000 middlewares', site: 'thousand', request: 'signed-in', target: 0.9, compareTo: 'one' },
    { id: 'rule50', title: '50-term rule', site: 'rule50', request: 'signed-in', target: 0.9, compareTo: 'one' },
  ],
};

/**
 * `server.workers`: 1 against 2 workers. Both services may use both CPUs (one worker cannot use
 * more than one core anyway), nginx stays on CPU 0; on a 2-CPU machine the workers share CPU 1
 * with wrk, so the ratio understates what two workers give on a machine with cores to spare.
 */
export const WORKERS_SUITE: SuiteDefinition = {
  name: 'workers',
  redis: false,
  services: [
    { name: 'workers1', cpus: '0-1', middlewares: (context) => ({ bench: benchMiddleware(context) }) },
    { name: 'workers2', cpus: '0-1', server: { workers: 2 }, middlewares: (context) => ({ bench: benchMiddleware(context) }) },
  ],
  sites: [
    { name: 'workers1', backend: 'workers1', middleware: 'bench' },
    { name: 'workers2', backend: 'workers2', middleware: 'bench' },
    { name: 'floor', backend: 'floor', middleware: 'bench' },
  ],
  cases: [
    { id: 'floor', title: 'floor: recipe → empty Fastify', site: 'floor', request: 'signed-in', sessionFrom: 'workers1' },
    { id: 'workers1', title: 'signed-in, 1 worker', site: 'workers1', request: 'signed-in' },
    { id: 'workers2', title: 'signed-in, 2 workers', site: 'workers2', request: 'signed-in', target: 1.6, compareTo: 'workers1' },
  ],
};

export const SUITES: Readonly<Record<string, SuiteDefinition>> = { default: DEFAULT_SUITE, scaling: SCALING_SUITE, workers: WORKERS_SUITE };
