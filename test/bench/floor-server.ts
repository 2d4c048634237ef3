/**
 * The floor of the architecture: what the recipe's auth_request costs when the service behind it
 * does nothing. A Fastify route shaped like the service's (/auth/:name) that answers 200 with no
 * body, no logger. Started by proxy-bench.ts: `node --import tsx test/bench/floor-server.ts PORT`.
 */
import Fastify from 'fastify';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port <= 0) throw new Error('usage: floor-server.ts PORT');

const app = Fastify({ logger: false });
app.get('/auth/:name', async (_request, reply) => reply.code(200).send());
await app.listen({ host: '127.0.0.1', port });
process.once('SIGTERM', () => {
  void app.close().then(() => process.exit(0));
});
