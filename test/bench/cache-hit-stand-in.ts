/**
 * A measuring stick, not the service: what a signed-in check that hits a cache costs when it
 * does only what such an answer must, with the service's own libraries. It finds the session
 * cookie by scanning the Cookie header, looks its value up in a Map, sends the two identity
 * headers and Cache-Control, observes one prom-client histogram with bound labels and writes one
 * pino access line to stdout (asynchronous; the benchmark reads the pipe as it reads the
 * service's). No decryption, no claims rule, no URL rebuilt, no revocation epoch, no tracing.
 *
 * The service's signed-in ratio against this one's is what the architecture leaves to win.
 * Started by proxy-bench.ts: `node --import tsx test/bench/cache-hit-stand-in.ts PORT`.
 */
import Fastify from 'fastify';
import { pino } from 'pino';
import { Histogram } from 'prom-client';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error('usage: cache-hit-stand-in.ts PORT');

const log = pino({ base: { service: 'stand-in' } }, pino.destination({ dest: 1, sync: false, minLength: 8 * 1024 }));
const decisions = new Histogram({ name: 'stand_in_decision_seconds', help: 'decisions', labelNames: ['middleware', 'outcome'], buckets: [0.001, 0.005, 0.01, 0.05] });

interface Verdict {
  readonly user: string;
  readonly groups: string;
}
const verdicts = new Map<string, Verdict>();
const allowedBy = new Map<string, ReturnType<typeof decisions.labels>>();

function sessionCookie(header: string | undefined, prefix: string): string | undefined {
  if (header === undefined) return undefined;
  let start = prefix.length;
  if (!header.startsWith(prefix)) {
    const at = header.indexOf(`; ${prefix}`);
    if (at < 0) return undefined;
    start += at + 2;
  }
  const end = header.indexOf(';', start);
  return end < 0 ? header.slice(start) : header.slice(start, end);
}

const app = Fastify({ logger: false });
app.get('/auth/:name', async (request, reply) => {
  const started = performance.now();
  const name = (request.params as { name: string }).name;
  const value = sessionCookie(request.headers.cookie, `${name}-session=`);
  if (value === undefined) return reply.code(401).send();
  let verdict = verdicts.get(value);
  if (verdict === undefined) {
    verdict = { user: 'alice@example.com', groups: 'admin,dev' };
    verdicts.set(value, verdict);
  }
  reply.header('cache-control', 'no-store').header('x-forwarded-user', verdict.user).header('x-forwarded-groups', verdict.groups).code(200).send();
  const ms = performance.now() - started;
  let allowed = allowedBy.get(name);
  if (allowed === undefined) allowedBy.set(name, (allowed = decisions.labels(name, 'allowed')));
  allowed.observe(ms / 1000);
  log.info({ method: request.headers['x-forwarded-method'], host: request.headers['x-forwarded-host'], path: request.headers['x-forwarded-uri'], status: 200, decision: 'allow', clientusername: verdict.user, ms }, 'forward-auth');
  return reply;
});
await app.listen({ host: '127.0.0.1', port });
process.once('SIGTERM', () => {
  void app.close().then(() => {
    log.flush();
    process.exit(0);
  });
});
