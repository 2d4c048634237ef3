/**
 * /auth/NAME answers any method (issue 17, item 21): a proxy that preserves the request's method
 * (Traefik's preserveRequestMethod) sends whatever the client used. PURGE, LINK and the WebDAV
 * methods used to get Fastify's 404, and CONNECT a closed connection.
 */
import { METHODS } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browserLogin } from '../support/forward-auth-client.js';
import { startTestProvider, TEST_APP_ORIGIN, type DevProvider } from '../support/op.js';
import { openConnection, parseRawAnswer, rawRequest } from '../support/raw-http.js';
import { startService, type TestService } from '../support/service.js';

const UNCOMMON_METHODS = ['PURGE', 'LINK', 'UNLINK', 'PROPFIND', 'PROPPATCH', 'MKCOL', 'COPY', 'MOVE', 'LOCK', 'REPORT', 'M-SEARCH', 'TRACE', 'CONNECT'];

describe('/auth/NAME with every method Node parses', () => {
  let op: DevProvider;
  let service: TestService;
  let port: number;
  let cookie: string;

  beforeAll(async () => {
    op = await startTestProvider();
    service = await startService({ middlewares: [{ name: 'app', issuer: op.issuer, forwardHeaders: { 'X-User': 'email' } }] });
    port = Number(new URL(service.origin).port);
    const { jar } = await browserLogin({ authAddress: service.authAddress('app'), url: `${TEST_APP_ORIGIN}/` });
    cookie = jar.cookieHeader(`${TEST_APP_ORIGIN}/`) ?? '';
    expect(cookie).toContain('app-session=');
  });

  afterAll(async () => {
    await service?.stop();
    await op?.stop();
  });

  const forwarded = (method: string): Record<string, string> => ({
    Accept: 'application/json',
    'X-Forwarded-Proto': 'http',
    'X-Forwarded-Host': new URL(TEST_APP_ORIGIN).host,
    'X-Forwarded-Uri': '/items',
    'X-Forwarded-Method': method,
  });

  it('lets a signed-in user through with her identity, whatever the method, CONNECT included', async () => {
    const methods = [...new Set([...UNCOMMON_METHODS, ...METHODS.filter((method) => method !== 'HEAD')])];
    for (const method of methods) {
      const answer = await rawRequest(port, method, '/auth/app', { ...forwarded(method), Cookie: cookie });
      expect({ method, status: answer.status, user: answer.headers['x-user'] }).toEqual({ method, status: 200, user: 'alice@example.com' });
    }
    const logged = service.logger.records.filter((record) => record.msg === 'forward-auth').map((record) => record.method);
    expect(logged).toEqual(expect.arrayContaining(UNCOMMON_METHODS));
  });

  it('refuses PURGE, PROPFIND and CONNECT without a session with the 401 of the check, not a 404 or silence', async () => {
    for (const method of ['PURGE', 'PROPFIND', 'CONNECT']) {
      const answer = await rawRequest(port, method, '/auth/app', forwarded(method));
      const { error } = JSON.parse(answer.body) as { error?: unknown };
      expect({ method, status: answer.status, error }).toEqual({ method, status: 401, error: 'OFA_LOGIN_REQUIRED' });
    }
  });

  it('answers an unknown middleware with its own 404 code for any method', async () => {
    for (const method of ['PURGE', 'LINK', 'CONNECT']) {
      const answer = await rawRequest(port, method, '/auth/nope', forwarded(method));
      expect(answer.status).toBe(404);
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'OFA_UNKNOWN_MIDDLEWARE' });
    }
  });

  it('takes a QUERY without a Content-Type (a proxy forwards the method, not the body)', async () => {
    const answer = await rawRequest(port, 'QUERY', '/auth/app', { ...forwarded('QUERY'), Cookie: cookie });
    expect(answer.status).toBe(200);
    expect(answer.headers['x-user']).toBe('alice@example.com');
  });

  it('survives a client that resets its CONNECT connection before the answer', async () => {
    for (let i = 0; i < 5; i += 1) {
      const connection = await openConnection(port, `CONNECT /auth/app HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Forwarded-Method: CONNECT\r\n\r\n`);
      connection.socket.resetAndDestroy();
      await connection.closed;
    }
    expect((await rawRequest(port, 'CONNECT', '/auth/app', forwarded('CONNECT'))).status).toBe(401);
  });

  it('closes a CONNECT connection after its answer and never reads what follows the request head', async () => {
    const head = Object.entries({ Host: '127.0.0.1', ...forwarded('CONNECT'), Cookie: cookie }).map(([name, value]) => `${name}: ${value}\r\n`);
    // Keep-alive asked for, and a second request right behind the first: a tunnel, or a parser
    // still reading, would answer it too.
    const connection = await openConnection(port, `CONNECT /auth/app HTTP/1.1\r\n${head.join('')}\r\nGET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`);
    await connection.closed;
    const text = connection.received();
    expect(parseRawAnswer(text).status).toBe(200);
    expect(text.match(/HTTP\/1\.1 /g)).toHaveLength(1);
  });
});
