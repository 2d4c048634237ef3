import { afterEach, describe, expect, it } from 'vitest';
import { isOfaError, type OfaError } from '../../src/errors.js';
import { createProviderFetch, type ProviderFetch, type ProviderFetchOptions } from '../../src/oidc/http.js';
import { createTestLogger } from '../support/log.js';
import { makeClientConfig } from '../support/middleware-config.js';
import { findFreePort, startScriptedServer, type ScriptedHandler, type ScriptedServer } from '../support/scripted-server.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function serve(handler: ScriptedHandler): Promise<ScriptedServer> {
  const server = await startScriptedServer(handler);
  cleanups.push(() => server.stop());
  return server;
}

/** A fetch whose waits between attempts are recorded instead of slept. */
function makeFetch(
  client: Parameters<typeof makeClientConfig>[0] = {},
  options: ProviderFetchOptions = {},
): { fetch: ProviderFetch; waits: number[]; logs: ReturnType<typeof createTestLogger> } {
  const waits: number[] = [];
  const logs = createTestLogger();
  const fetch = createProviderFetch(makeClientConfig(client), logs.log, {
    retryDelayMs: (attempt) => attempt * 10,
    sleep: async (ms) => {
      waits.push(ms);
    },
    ...options,
  });
  cleanups.push(() => fetch.close());
  return { fetch, waits, logs };
}

async function rejection(promise: Promise<unknown>): Promise<OfaError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!isOfaError(error)) throw new Error(`expected an OfaError, got ${String(error)}`);
  return error;
}

describe('createProviderFetch', () => {
  it('returns the provider answer with its status, headers and body', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(201, { 'content-type': 'application/json', 'x-extra': 'yes' });
      res.end('{"ok":true}');
    });
    const { fetch } = makeFetch();
    const response = await fetch(`${server.url}/thing`, { method: 'GET', headers: { accept: 'application/json' } });
    expect(response.status).toBe(201);
    expect(response.headers.get('x-extra')).toBe('yes');
    expect(await response.json()).toEqual({ ok: true });
    expect(response).toBeInstanceOf(Response);
    expect(server.requests[0]?.headers.accept).toBe('application/json');
  });

  it('retries a GET answered 503 and returns the answer that follows', async () => {
    const server = await serve((_req, res, index) => {
      res.writeHead(index < 2 ? 503 : 200).end(index < 2 ? 'busy' : 'fine');
    });
    const { fetch, waits } = makeFetch({ maxRetries: 3 });
    const response = await fetch(server.url);
    expect(await response.text()).toBe('fine');
    expect(server.requests).toHaveLength(3);
    expect(waits).toEqual([10, 20]);
  });

  it.each([502, 504])('retries a GET answered %i', async (status) => {
    const server = await serve((_req, res, index) => {
      res.writeHead(index === 0 ? status : 200).end();
    });
    const { fetch } = makeFetch();
    expect((await fetch(server.url)).status).toBe(200);
    expect(server.requests).toHaveLength(2);
  });

  it('gives up after maxRetries retries with OFA_PROVIDER_UNAVAILABLE', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(503).end();
    });
    const { fetch, waits } = makeFetch({ maxRetries: 2 });
    const error = await rejection(fetch(server.url));
    expect(error.code).toBe('OFA_PROVIDER_UNAVAILABLE');
    expect(error.message).toContain('HTTP 503 after 3 attempt(s)');
    expect(server.requests).toHaveLength(3);
    expect(waits).toHaveLength(2);
  });

  it('does not retry with maxRetries 0', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(503).end();
    });
    const { fetch } = makeFetch({ maxRetries: 0 });
    expect((await rejection(fetch(server.url))).code).toBe('OFA_PROVIDER_UNAVAILABLE');
    expect(server.requests).toHaveLength(1);
  });

  it.each([400, 401, 404, 500])('hands a %i answer back without retrying', async (status) => {
    const server = await serve((_req, res) => {
      res.writeHead(status, { 'content-type': 'application/json' }).end('{"error":"invalid_request"}');
    });
    const { fetch } = makeFetch();
    const response = await fetch(server.url);
    expect(response.status).toBe(status);
    expect(await response.json()).toEqual({ error: 'invalid_request' });
    expect(server.requests).toHaveLength(1);
  });

  it('times out a stalling provider on every attempt, then fails with OFA_PROVIDER_TIMEOUT', async () => {
    const server = await serve(() => {
      // never answers
    });
    const { fetch } = makeFetch({ timeoutSeconds: 0.2, maxRetries: 1 });
    const error = await rejection(fetch(`${server.url}/slow`));
    expect(error.code).toBe('OFA_PROVIDER_TIMEOUT');
    expect(server.requests).toHaveLength(2);
  });

  it('does not send a POST again once it reached a provider that answered', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(503).end();
    });
    const { fetch, waits } = makeFetch();
    const response = await fetch(`${server.url}/token`, { method: 'POST', body: new URLSearchParams({ grant_type: 'refresh_token' }) });
    expect(response.status).toBe(503);
    expect(server.requests).toHaveLength(1);
    expect(waits).toEqual([]);
  });

  it('does not send a POST again after it timed out, since the provider may be processing it', async () => {
    const server = await serve(() => {
      // holds the token request
    });
    const { fetch } = makeFetch({ timeoutSeconds: 0.2, maxRetries: 3 });
    const error = await rejection(fetch(`${server.url}/token`, { method: 'POST', body: 'grant_type=authorization_code&code=c' }));
    expect(error.code).toBe('OFA_PROVIDER_TIMEOUT');
    expect(server.requests).toHaveLength(1);
  });

  it('retries a POST whose connection was refused, as the provider never saw it', async () => {
    const port = await findFreePort();
    const { fetch, waits } = makeFetch({ maxRetries: 2 });
    const error = await rejection(fetch(`http://127.0.0.1:${port}/token`, { method: 'POST', body: 'grant_type=x' }));
    expect(error.code).toBe('OFA_PROVIDER_UNAVAILABLE');
    expect(error.message).toContain('ECONNREFUSED');
    expect(waits).toHaveLength(2);
  });

  it('sends the same POST body again when a refused connection is followed by a listening provider', async () => {
    const port = await findFreePort();
    let late: ScriptedServer | undefined;
    const { fetch } = makeFetch({}, {
      sleep: async () => {
        if (late !== undefined) return;
        late = await startScriptedServer((_req, res) => {
          res.writeHead(200).end('issued');
        }, port);
        const started = late;
        cleanups.push(() => started.stop());
      },
    });
    const response = await fetch(`http://127.0.0.1:${port}/token`, { method: 'POST', body: new URLSearchParams({ code: 'abc' }) });
    expect(await response.text()).toBe('issued');
    expect(late?.requests.map((r) => r.body)).toEqual(['code=abc']);
  });

  it('waits as long as Retry-After says on a 429, then retries', async () => {
    const server = await serve((_req, res, index) => {
      res.writeHead(index === 0 ? 429 : 200, index === 0 ? { 'retry-after': '2' } : {}).end();
    });
    const { fetch, waits } = makeFetch();
    expect((await fetch(server.url)).status).toBe(200);
    expect(waits).toEqual([2000]);
  });

  it('gives up at once when Retry-After asks for longer than the cap', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(503, { 'retry-after': '3600' }).end();
    });
    const { fetch, waits } = makeFetch();
    const error = await rejection(fetch(server.url));
    expect(error.code).toBe('OFA_PROVIDER_UNAVAILABLE');
    expect(error.message).toContain('Retry-After');
    expect(waits).toEqual([]);
    expect(server.requests).toHaveLength(1);
  });

  it('refuses a body larger than the cap, streamed without a length', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = 'x'.repeat(64 * 1024);
      for (let i = 0; i < 40; i += 1) res.write(chunk);
      res.end();
    });
    const { fetch } = makeFetch();
    const error = await rejection(fetch(server.url));
    expect(error.code).toBe('OFA_PROVIDER_RESPONSE');
    expect(error.message).toContain('larger than 1048576 bytes');
    expect(server.requests).toHaveLength(1);
  });

  it('refuses a body whose declared length is over the cap before reading it', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': String(64) }).end('y'.repeat(64));
    });
    const { fetch } = makeFetch({}, { maxBodyBytes: 32 });
    expect((await rejection(fetch(server.url))).code).toBe('OFA_PROVIDER_RESPONSE');
  });

  it('stops at once when the caller aborts', async () => {
    let arrived!: () => void;
    const requestArrived = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const server = await serve(() => {
      arrived(); // and never answers
    });
    const { fetch, waits } = makeFetch({ timeoutSeconds: 30 });
    const controller = new AbortController();
    const pending = fetch(server.url, { signal: controller.signal });
    await requestArrived;
    controller.abort();
    const error = await rejection(pending);
    expect(error.code).toBe('OFA_PROVIDER_TIMEOUT');
    expect(waits).toEqual([]);
  });

  it('keeps query strings and credentials out of error messages and logs', async () => {
    const port = await findFreePort();
    const { fetch, logs } = makeFetch({ maxRetries: 1 });
    const error = await rejection(fetch(`http://user:hunter2@127.0.0.1:${port}/token?code=SECRET-CODE`));
    expect(error.message).not.toContain('SECRET-CODE');
    expect(error.message).not.toContain('hunter2');
    expect(logs.text()).not.toContain('SECRET-CODE');
    expect(logs.text()).not.toContain('hunter2');
    expect(error.message).toContain(`127.0.0.1:${port}/token`);
  });

  it('does not redirect on its own', async () => {
    const server = await serve((_req, res) => {
      res.writeHead(302, { location: '/elsewhere' }).end();
    });
    const { fetch } = makeFetch();
    const response = await fetch(server.url, { redirect: 'manual' });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/elsewhere');
    expect(server.requests).toHaveLength(1);
  });
});
