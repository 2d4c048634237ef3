/**
 * What an authenticated forward-auth check costs against an empty hop, over real HTTP in one run.
 * Run: npx tsx test/bench/forward-auth.bench.ts
 * Baseline: a Fastify server whose route answers 200 with nothing. Measured: our /auth/NAME with a
 * valid session cookie, claims and forwarded headers configured, once with the cookie store and
 * once with the Redis store (a real redis-server on loopback, started here), and once with a new
 * session on every request (cookies minted like proxy-bench's, never one seen before: each request
 * opens its cookie, what a cache miss costs without nginx in the way). Both servers run in a child
 * process (the load client must not share their event loop); rounds alternate and the median is
 * reported. The ratio is what matters. Numbers only; no assertions.
 */
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import pino from 'pino';
import { Pool } from 'undici';
import type { Config } from '../../src/config/types.js';
import type { ProviderClient } from '../../src/oidc/discovery.js';
import { buildApp } from '../../src/server/app.js';
import { newSessionId } from '../../src/session/session.js';
import { mintSessionCookies } from './support/minted-sessions.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { makeRedisStoreConfig } from '../support/redis-service.js';
import { startRedisServer } from '../support/redis.js';
import { awaitSessionStores } from '../support/service.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 10_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const CONCURRENCY = 16;
/** Unmeasured requests before each measurement. */
const WARM_UP_REQUESTS = 500;
/** Requests one measurement sends, warm-up included: each needs its own cookie in the miss case. */
const REQUESTS_PER_MEASURE = WARM_UP_REQUESTS + REQUESTS;

/** The authenticated path never talks to the provider; discovery is not what is measured. */
const idleProvider: ProviderClient = {
  issuer: 'https://idp.example',
  fetch: Object.assign(async () => new Response(null, { status: 503 }), { close: async () => undefined }),
  state: () => ({ status: 'ready', since: 0 }),
  current: () => undefined,
  ready: async () => undefined,
  discover: async () => ({ status: 'ready', since: 0 }),
  stop: () => undefined,
};

const SECRET = 'benchmark-secret-benchmark-secret-0001';
const BENCH_MIDDLEWARE = makeMiddlewareConfig({
  name: 'bench',
  claims: 'Contains(`groups`, `admin`) && Equals(`email_verified`, `true`)',
  forwardHeaders: { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups' },
  usernameClaim: 'preferred_username',
});

/** `cookies`: a Cookie header per request, in turn; none: `headers` as they are. */
async function measure(origin: string, path: string, headers: Record<string, string>, cookies?: readonly string[]): Promise<number> {
  const pool = new Pool(origin, { connections: CONCURRENCY });
  let sent = 0;
  const one = async (): Promise<void> => {
    const cookie = cookies === undefined ? headers.cookie : cookies[sent % cookies.length];
    sent += 1;
    const response = await pool.request({ method: 'GET', path, headers: { ...headers, cookie } });
    await response.body.dump();
    if (response.statusCode !== 200) throw new Error(`unexpected status ${response.statusCode}`);
  };
  for (let i = 0; i < WARM_UP_REQUESTS; i += 1) await one();
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        next += 1;
        await one();
      }
    }),
  );
  const micros = Number(process.hrtime.bigint() - started) / 1000 / REQUESTS;
  await pool.close();
  return micros;
}

interface ServerInfo {
  readonly baseline: string;
  readonly app: string;
  readonly headers: Record<string, string>;
  /** The same request for the middleware whose sessions live in Redis. */
  readonly redisHeaders: Record<string, string>;
}

/** The child: both servers, their addresses and the request headers printed as one JSON line. */
async function serve(): Promise<void> {
  const baseline = Fastify({ logger: false });
  baseline.get('/auth/empty', async (_request, reply) => reply.code(200).send());
  await baseline.listen({ host: '127.0.0.1', port: 0 });

  const redisMiddleware = {
    ...BENCH_MIDDLEWARE,
    name: 'bench-redis',
    session: { ...BENCH_MIDDLEWARE.session, name: 'bench-redis-session', store: { redis: makeRedisStoreConfig({ endpoints: [process.env.BENCH_REDIS ?? ''] }) } },
  };
  const config: Config = {
    server: { listen: { host: '127.0.0.1', port: 0 }, secrets: [SECRET], trustedProxies: ['127.0.0.1/32'], logLevel: 'info' },
    middlewares: { bench: BENCH_MIDDLEWARE, 'bench-redis': redisMiddleware },
    warnings: [],
  };
  // The access log line is part of the cost: written to a discarding stream, not switched off.
  const log = pino({ level: process.env.BENCH_LOG_LEVEL ?? 'info' }, { write: () => undefined });
  const app = buildApp(config, { log, providers: { bench: idleProvider, 'bench-redis': idleProvider } });
  await app.fastify.listen({ host: '127.0.0.1', port: 0 });
  await awaitSessionStores(app);

  const sessionCookie = async (name: string): Promise<string> => {
    const runtime = app.middlewares.get(name);
    if (runtime === undefined) throw new Error('no runtime');
    const now = Math.floor(Date.now() / 1000);
    return runtime.store.create({
      v: 1,
      id: newSessionId(),
      issuer: 'https://idp.example',
      subject: 'alice',
      idClaims: { sub: 'alice', email: 'alice@example.com', email_verified: true, groups: ['admin', 'dev'], preferred_username: 'alice' },
      createdAt: now,
      renewedAt: now,
      expiresAt: now + 86400,
    }, now);
  };
  const headers = {
    'x-forwarded-proto': 'https',
    'x-forwarded-host': 'app.example.com',
    'x-forwarded-uri': '/dashboard?tab=1',
    'x-forwarded-method': 'GET',
    accept: 'application/json',
  };
  const info: ServerInfo = {
    baseline: `http://127.0.0.1:${(baseline.server.address() as AddressInfo).port}`,
    app: `http://127.0.0.1:${(app.fastify.server.address() as AddressInfo).port}`,
    headers: { ...headers, cookie: `bench-session=${await sessionCookie('bench')}; theme=dark` },
    redisHeaders: { ...headers, cookie: `bench-redis-session=${await sessionCookie('bench-redis')}; theme=dark` },
  };
  process.stdout.write(`${JSON.stringify(info)}\n`);
  process.once('SIGTERM', () => process.exit(0));
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const redis = await startRedisServer();
  const child = spawn(process.execPath, [...process.execArgv, process.argv[1] ?? '', 'serve'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    env: { ...process.env, BENCH_REDIS: redis.address },
  });
  try {
    const [line] = await Promise.all([
      new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve)),
    ]);
    const info = JSON.parse(line) as ServerInfo;
    // Never one cookie twice: more than every round's requests (and the warm-ups) together.
    const newSessions = mintSessionCookies({
      cookieHeader: info.headers.cookie as string,
      cookieName: BENCH_MIDDLEWARE.session.name,
      secrets: [SECRET],
      middleware: { name: BENCH_MIDDLEWARE.name, issuer: BENCH_MIDDLEWARE.issuer, clientID: BENCH_MIDDLEWARE.clientID },
      count: ROUNDS * REQUESTS_PER_MEASURE,
    });
    const empty: number[] = [];
    const check: number[] = [];
    const redisCheck: number[] = [];
    const missCheck: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      empty.push(await measure(info.baseline, '/auth/empty', info.headers));
      check.push(await measure(info.app, '/auth/bench', info.headers));
      redisCheck.push(await measure(info.app, '/auth/bench-redis', info.redisHeaders));
      const unseen = newSessions.slice(round * REQUESTS_PER_MEASURE, (round + 1) * REQUESTS_PER_MEASURE);
      missCheck.push(await measure(info.app, '/auth/bench', info.headers, unseen));
    }
    console.log(`requests: ${ROUNDS} rounds × ${REQUESTS}, concurrency: ${CONCURRENCY}`);
    console.log(`empty hop:                         ${median(empty).toFixed(1)} µs/request (median)`);
    console.log(`authenticated check, cookie store: ${median(check).toFixed(1)} µs/request, ratio ${(median(check) / median(empty)).toFixed(2)}`);
    console.log(`authenticated check, Redis store:  ${median(redisCheck).toFixed(1)} µs/request, ratio ${(median(redisCheck) / median(empty)).toFixed(2)}`);
    console.log(`a new session every request:       ${median(missCheck).toFixed(1)} µs/request, ratio ${(median(missCheck) / median(empty)).toFixed(2)}`);
  } finally {
    child.kill('SIGTERM');
    await redis.destroy();
  }
}

await (process.argv[2] === 'serve' ? serve() : main());
