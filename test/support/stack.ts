/**
 * The integration tests' one fixture: the real provider, our service, and as the test asks Redis,
 * the demo's echo application and real proxies in front of them, all on 127.0.0.1. Started in the
 * order their addresses allow and stopped in one teardown, in reverse; what is a process (Redis, a
 * proxy) is stopped by its PID. A start that fails half-way stops what it started. A missing
 * binary fails the test, never skips it.
 */
import { afterAll, beforeAll } from 'vitest';
import { startEchoUpstream, type EchoUpstream } from '../../deploy/demo/echo-upstream.js';
import { proxyOrigin, startProxy, type ProxySpec, type RunningProxy } from '../deploy/proxy.js';
import type { MiddlewareOverrides } from './middleware-config.js';
import { startTestProvider, TEST_CLIENT, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type DevClient, type DevProvider, type TestProviderOptions } from './op.js';
import { startRedisServer, type RedisServer, type RedisServerOptions } from './redis.js';
import { reservePort, type ReservedPort } from './scripted-server.js';
import { startService, type TestService, type TestServiceOptions } from './service.js';

/** The middleware a proxy asks (/auth/app) unless its spec names another: the shipped recipes' own. */
export const PROXIED_MIDDLEWARE = 'app';

/** What the middlewares are written from, known once the provider (and Redis) run. */
export interface StackAddresses {
  readonly issuer: string;
  readonly op: DevProvider;
  /** Set when the stack runs Redis. */
  readonly redis: RedisServer | undefined;
  /** Each proxy's origin, in the order of `proxies`. */
  readonly sites: readonly string[];
}

export interface StackOptions {
  /** The provider's options. Its client, unless `clients` is given: TEST_CLIENT registered at every proxy's origin. */
  readonly provider?: TestProviderOptions;
  /** Registers `${site}${path}` as the client's back-channel logout URI (the first proxy's site), sessions required. */
  readonly backchannelLogoutPath?: string;
  /** A Redis server of its own (its options, or true for the defaults). */
  readonly redis?: boolean | RedisServerOptions;
  /** The demo's echo application (started whenever there is a proxy). */
  readonly upstream?: boolean;
  /** Real proxies in front of the service; `proxies[0]` is the stack's `proxy`. */
  readonly proxies?: readonly ProxySpec[];
  readonly service: Omit<TestServiceOptions, 'middlewares' | 'port'> & {
    readonly middlewares: (addresses: StackAddresses) => readonly MiddlewareOverrides[];
  };
}

export interface Stack {
  readonly op: DevProvider;
  readonly service: TestService;
  readonly redis: RedisServer | undefined;
  readonly upstream: EchoUpstream | undefined;
  readonly proxies: readonly RunningProxy[];
  /** The first proxy (a test without one must not ask). */
  readonly proxy: RunningProxy;
  /** The first proxy's origin: where the browser goes. */
  readonly site: string;
  /** host:port the proxies were told the service is at. */
  readonly authAddress: string;
  stop(): Promise<void>;
}

/** The client a stack registers: its callback and post-logout page at every site. */
function clientFor(sites: readonly string[], backchannelLogoutPath: string | undefined): DevClient {
  if (sites.length === 0 && backchannelLogoutPath === undefined) return TEST_CLIENT;
  return {
    client_id: TEST_CLIENT_ID,
    client_secret: TEST_CLIENT_SECRET,
    redirect_uris: sites.map((site) => `${site}/callback`),
    post_logout_redirect_uris: sites.map((site) => `${site}/`),
    ...(backchannelLogoutPath === undefined
      ? {}
      : { backchannel_logout_uri: `${sites[0] ?? ''}${backchannelLogoutPath}`, backchannel_logout_session_required: true }),
  };
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const stops: (() => Promise<void>)[] = [];
  const stop = async (): Promise<void> => {
    for (const stopOne of stops.splice(0).reverse()) await stopOne();
  };
  try {
    const proxySpecs = options.proxies ?? [];
    const wantsUpstream = options.upstream ?? proxySpecs.length > 0;
    const [redis, upstream] = await Promise.all([
      options.redis === undefined || options.redis === false ? undefined : startRedisServer(options.redis === true ? {} : options.redis),
      wantsUpstream ? startEchoUpstream() : undefined,
    ]);
    if (redis !== undefined) stops.push(() => redis.destroy());
    if (upstream !== undefined) stops.push(() => upstream.close());

    // The provider must know each proxy's callback URL, the service the provider's issuer, and a
    // proxy the service's address: the proxies' ports are chosen first and the proxies started
    // last (Traefik logs an error for every call to a service that is not listening yet).
    // Held until the proxies start: other test files bind ports while the provider and service start.
    const reserved: ReservedPort[] = [];
    for (const _spec of proxySpecs) reserved.push(await reservePort());
    stops.push(() => Promise.all(reserved.map((port) => port.release())).then(() => undefined));
    const proxyPorts = reserved.map((port) => port.port);
    const sites = proxySpecs.map((spec, index) => proxyOrigin(spec, proxyPorts[index] ?? 0));

    const { clients, ...provider } = options.provider ?? {};
    const op = await startTestProvider({ ...provider, clients: clients ?? [clientFor(sites, options.backchannelLogoutPath)] });
    stops.push(() => op.stop());

    const { middlewares, ...serviceOptions } = options.service;
    const service = await startService({ ...serviceOptions, middlewares: middlewares({ issuer: op.issuer, op, redis, sites }) });
    stops.push(() => service.stop());

    const authAddress = new URL(service.origin).host;
    const upstreams = { authAddress, appAddress: `127.0.0.1:${upstream?.port ?? 0}`, middleware: PROXIED_MIDDLEWARE };
    await Promise.all(reserved.map((port) => port.release()));
    // Side by side: each proxy's start is mostly waiting for it to listen.
    const started = await Promise.allSettled(proxySpecs.map((spec, index) => startProxy(spec, upstreams, proxyPorts[index] ?? 0)));
    const proxies: RunningProxy[] = [];
    for (const outcome of started) {
      if (outcome.status === 'fulfilled') {
        stops.push(() => outcome.value.stop());
        proxies.push(outcome.value);
      }
    }
    const failed = started.find((outcome) => outcome.status === 'rejected');
    if (failed !== undefined) throw failed.reason;

    return {
      op,
      service,
      redis,
      upstream,
      proxies,
      get proxy(): RunningProxy {
        const first = proxies[0];
        if (first === undefined) throw new Error('this stack runs no proxy');
        return first;
      },
      site: sites[0] ?? '',
      authAddress,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/**
 * The stack of the enclosing describe block: started before its first test, stopped after its
 * last. `options` may be a function, read when the stack starts (after the outer beforeAll hooks).
 */
export function useStack(options: StackOptions | (() => StackOptions | Promise<StackOptions>)): () => Stack {
  let stack: Stack | undefined;
  beforeAll(async () => {
    stack = await startStack(typeof options === 'function' ? await options() : options);
  });
  afterAll(async () => {
    await stack?.stop();
    stack = undefined;
  });
  return () => {
    if (stack === undefined) throw new Error('the stack is not running (its beforeAll failed, or this runs outside its describe)');
    return stack;
  };
}
