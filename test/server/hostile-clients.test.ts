/**
 * What a hostile or broken client can make the listener do (issue 17, items 17 and 18): flood the
 * error log with its own mistakes, and hold connections by announcing a body it never sends.
 * A real listener on loopback, raw sockets, a real provider behind the middleware.
 */
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Config, ServerConfig } from '../../src/config/types.js';
import { buildApp, type App } from '../../src/server/app.js';
import { createTestLogger, type TestLogger } from '../support/log.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { startTestProvider, type DevProvider } from '../support/op.js';
import { openConnection, parseRawAnswer, rawRequest, type OpenConnection } from '../support/raw-http.js';
import { TEST_SECRET } from '../support/service.js';

/** Small, so that the tests wait little; the assertions never depend on how soon the close comes. */
const REQUEST_TIMEOUT_SECONDS = 0.5;
/** A generous bound on "the connection is closed", many times the configured timeout. */
const CLOSE_BOUND_MS = 15_000;

interface RunningApp {
  readonly app: App;
  readonly port: number;
  readonly logger: TestLogger;
  stop(): Promise<void>;
}

let op: DevProvider;
const running: RunningApp[] = [];

beforeAll(async () => {
  op = await startTestProvider();
});
afterEach(async () => {
  for (const started of running.splice(0)) await started.stop();
});
afterAll(async () => {
  await op?.stop();
});

async function startApp(server: Partial<ServerConfig>): Promise<RunningApp> {
  const middleware = makeMiddlewareConfig({ name: 'app', issuer: op.issuer, forwardHeaders: { 'X-User': 'email' } });
  const config: Config = {
    server: { listen: { host: '127.0.0.1', port: 0 }, secrets: [TEST_SECRET], trustedProxies: ['127.0.0.1/32'], logLevel: 'info', ...server },
    middlewares: { app: middleware },
    warnings: [],
  };
  const logger = createTestLogger('info');
  const app = buildApp(config, { log: logger.log });
  await app.fastify.listen({ host: '127.0.0.1', port: 0 });
  await Promise.all([...app.middlewares.values()].map((runtime) => runtime.provider.ready()));
  const started: RunningApp = {
    app,
    port: (app.fastify.server.address() as AddressInfo).port,
    logger,
    stop: async () => {
      await app.fastify.close();
      await app.stop();
    },
  };
  running.push(started);
  return started;
}

const POST_HEAD = (length: number, extra = ''): string =>
  `POST /auth/app HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/logout+jwt\r\nContent-Length: ${length}\r\n${extra}\r\n`;

/** Resolves when the server has closed the connection; fails the test past the generous bound. */
async function closedByServer(connection: OpenConnection): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`the server kept the connection open for ${CLOSE_BOUND_MS} ms`)), CLOSE_BOUND_MS);
  });
  try {
    await Promise.race([connection.closed, bound]);
  } finally {
    clearTimeout(timer);
  }
}

describe('client mistakes in the log', () => {
  it('a flood of oversized bodies, aborted requests and bad media types writes no error line and a bounded number of lines', async () => {
    const { port, logger } = await startApp({});
    const before = logger.records.length;

    for (let round = 0; round < 25; round += 1) {
      // Over the 64 KiB limit: Fastify's 413 (FST_ERR_CTP_BODY_TOO_LARGE) before any route.
      const tooLarge = await rawRequest(port, 'POST', '/auth/app', { 'Content-Type': 'application/logout+jwt', 'Content-Length': String(1024 * 1024) });
      expect(tooLarge.status).toBe(413);
      expect(JSON.parse(tooLarge.body)).toEqual({ error: 'OFA_REQUEST_INVALID', message: 'The request is malformed.' });
      // 415 (FST_ERR_CTP_INVALID_MEDIA_TYPE).
      expect((await rawRequest(port, 'POST', '/auth/app', { 'Content-Type': '/', 'Content-Length': '0' })).status).toBe(415);
      // Half a body, then the client goes away (ECONNRESET while the body is read).
      const aborted = await openConnection(port, `${POST_HEAD(1000)}logout_token=abc`);
      await new Promise((resolve) => setTimeout(resolve, 20));
      aborted.socket.resetAndDestroy();
      await aborted.closed;
    }
    // The last abort's error reaches the handler after the client's socket is gone: a request
    // behind it on a new connection is answered only after that.
    expect((await rawRequest(port, 'GET', '/healthz')).status).toBe(200);

    const lines = logger.records.slice(before);
    expect(lines.filter((record) => record.level >= 50)).toEqual([]);
    // 75 refusals: at most the window's 10 lines (the summary comes with the next window).
    expect(lines.length).toBeLessThanOrEqual(10);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.every((record) => record.level === 30 && record.msg === 'refused a request the client got wrong')).toBe(true);
    expect(new Set(lines.map((record) => record.code))).toEqual(new Set(['FST_ERR_CTP_BODY_TOO_LARGE', 'FST_ERR_CTP_INVALID_MEDIA_TYPE', 'ECONNRESET']));
  });

  it('still logs an error of its own at error level, with its code and without its message', async () => {
    const middleware = makeMiddlewareConfig({ name: 'app', issuer: op.issuer });
    const logger = createTestLogger('info');
    const app = buildApp(
      { server: { listen: { host: '127.0.0.1', port: 0 }, secrets: [TEST_SECRET], trustedProxies: [], logLevel: 'info' }, middlewares: { app: middleware }, warnings: [] },
      { log: logger.log },
    );
    try {
      app.fastify.get('/broken', async () => {
        throw Object.assign(new Error('a message that quotes app-session=abc'), { code: 'ERR_SOMETHING_OURS' });
      });
      const answer = await app.fastify.inject({ method: 'GET', url: '/broken' });
      expect(answer.statusCode).toBe(500);
      expect(logger.records.filter((record) => record.level >= 50)).toEqual([expect.objectContaining({ msg: 'unhandled error', code: 'ERR_SOMETHING_OURS' })]);
      expect(logger.text()).not.toContain('app-session=abc');
    } finally {
      await app.fastify.close();
      await app.stop();
    }
  });
});

describe('connections that hold the service', () => {
  it('closes a connection that announces a body and never sends it, with 408', async () => {
    const { port } = await startApp({ requestTimeoutSeconds: REQUEST_TIMEOUT_SECONDS });

    const connection = await openConnection(port, `${POST_HEAD(1000)}logout_token=`);
    await closedByServer(connection);

    expect(parseRawAnswer(connection.received()).status).toBe(408);
  });

  it('closes a connection whose headers never end, and one that never sends a byte', async () => {
    const { port } = await startApp({ requestTimeoutSeconds: REQUEST_TIMEOUT_SECONDS });

    const trickling = await openConnection(port, 'GET /auth/app HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Uri: /');
    const silent = await openConnection(port);
    await closedByServer(trickling);
    await closedByServer(silent);

    expect(parseRawAnswer(trickling.received()).status).toBe(408);
  });

  it('keeps an idle keep-alive connection open past the request timeout (the proxies pool them)', async () => {
    const { port } = await startApp({ requestTimeoutSeconds: REQUEST_TIMEOUT_SECONDS });
    const connection = await openConnection(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');

    await new Promise((resolve) => setTimeout(resolve, REQUEST_TIMEOUT_SECONDS * 1000 * 4));
    connection.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await closedByServer(connection);

    expect(connection.received().match(/HTTP\/1\.1 200 /g)).toHaveLength(2);
  });

  it('closes connections past server.maxConnections as they arrive, says so at warn, and takes new ones once some are gone', async () => {
    const { app, port, logger } = await startApp({ maxConnections: 2 });
    const held = [await openConnection(port), await openConnection(port)];
    await waitForConnections(app, 2);

    const refused = await openConnection(port, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    await closedByServer(refused);
    expect(refused.received()).toBe('');
    expect(logger.warnings()).toEqual([expect.objectContaining({ msg: 'server.maxConnections reached: closed a new connection', maxConnections: 2 })]);

    held[0]?.socket.destroy();
    await waitForConnections(app, 1);
    expect((await rawRequest(port, 'GET', '/healthz')).status).toBe(200);
    held[1]?.socket.destroy();
  });
  it('keeps the limits it started with on a reload that changes them, and says they need a restart', async () => {
    const { app } = await startApp({ requestTimeoutSeconds: 2, maxConnections: 100 });
    const server = app.fastify.server;
    const before = { requestTimeout: server.requestTimeout, headersTimeout: server.headersTimeout, maxConnections: server.maxConnections };
    expect(before).toEqual({ requestTimeout: 2000, headersTimeout: 2000, maxConnections: 100 });

    const middleware = makeMiddlewareConfig({ name: 'app', issuer: op.issuer, forwardHeaders: { 'X-User': 'email' } });
    const summary = app.reload({
      server: { listen: { host: '127.0.0.1', port: 0 }, secrets: [TEST_SECRET], trustedProxies: ['127.0.0.1/32'], logLevel: 'info', requestTimeoutSeconds: 30, maxConnections: 10 },
      middlewares: { app: middleware },
      warnings: [],
    });
    await summary.retired;

    expect(summary.needRestart).toEqual(['server.requestTimeoutSeconds', 'server.maxConnections']);
    expect({ requestTimeout: server.requestTimeout, headersTimeout: server.headersTimeout, maxConnections: server.maxConnections }).toEqual(before);
  });
});

/** Waits until the listener counts exactly `count` open connections (a close reaches it asynchronously). */
async function waitForConnections(app: App, count: number): Promise<void> {
  for (;;) {
    const open = await new Promise<number>((resolve, reject) => app.fastify.server.getConnections((error, n) => (error ? reject(error) : resolve(n))));
    if (open === count) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
