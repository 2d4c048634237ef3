import { describe, expect, it } from 'vitest';
import type { Config } from '../../src/config/types.js';
import { buildApp } from '../../src/server/app.js';
import { createTestLogger } from '../support/log.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { TEST_SECRET } from '../support/service.js';

function configWith(overrides: Parameters<typeof makeMiddlewareConfig>[0]): Config {
  const middleware = makeMiddlewareConfig(overrides);
  return {
    server: { listen: { host: '127.0.0.1', port: 0 }, secrets: [TEST_SECRET], trustedProxies: [], logLevel: 'info' },
    middlewares: { [middleware.name]: middleware },
    warnings: [],
  };
}

describe('buildApp', () => {
  it('answers 404 for a middleware it does not have, including names inherited from Object', async () => {
    const app = buildApp(configWith({ name: 'app' }), { log: createTestLogger().log });
    try {
      for (const name of ['nope', 'constructor', '__proto__', 'toString']) {
        const response = await app.fastify.inject({ method: 'GET', url: `/auth/${name}` });
        expect(response.statusCode, name).toBe(404);
      }
      expect((await app.fastify.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    } finally {
      await app.fastify.close();
      await app.stop();
    }
  });
});

describe('answers from the one error table', () => {
  it('keeps Fastify’s own client-error status (413 for a body over the limit) with our error shape', async () => {
    const app = buildApp(configWith({ name: 'app' }), { log: createTestLogger().log });
    try {
      const response = await app.fastify.inject({ method: 'POST', url: '/auth/app', headers: { 'content-type': 'application/octet-stream' }, payload: Buffer.alloc(128 * 1024) });
      expect(response.statusCode).toBe(413);
      expect(response.json()).toEqual({ error: 'OFA_REQUEST_INVALID', message: 'The request is malformed.' });
    } finally {
      await app.fastify.close();
      await app.stop();
    }
  });

  it('answers a request it cannot place with 400 and no detail that echoes the input', async () => {
    const app = buildApp(configWith({ name: 'app' }), { log: createTestLogger().log });
    try {
      const response = await app.fastify.inject({ method: 'GET', url: '/auth/app', headers: { host: 'bad host\\x' } });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toEqual({ error: 'OFA_REQUEST_INVALID', message: 'The request is malformed.' });
    } finally {
      await app.fastify.close();
      await app.stop();
    }
  });
});
