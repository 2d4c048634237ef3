/**
 * Bearer tokens through real nginx and Caddy (issue 12): the shipped recipes with their commented
 * Authorization lines turned on and left off, checked end to end against the echo application.
 * The service can only add headers to its 2xx answer, so how the Authorization header is kept
 * from the application is each proxy's business:
 * - nginx: `proxy_set_header Authorization` from the auth answer (empty, hence dropped, unless the
 *   middleware's passToApplication puts it there), shipped commented out in both nginx recipes
 *   (issue 17, item 14);
 * - Caddy: `request_header -Authorization` after forward_auth (left out where tokens go on).
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CADDYFILE_PATH } from '../../deploy/caddy/caddyfile.js';
import { SNIPPET_PATH } from '../../deploy/demo/nginx-conf.js';
import { startEchoUpstream, type EchoedRequest, type EchoUpstream } from '../../deploy/demo/echo-upstream.js';
import type { BearerTokensConfig } from '../../src/config/types.js';
import { startTestProvider, type DevProvider } from '../support/op.js';
import { obtainScriptTokens } from '../support/script-tokens.js';
import { startService, type TestService } from '../support/service.js';
import { startCaddy, type RunningCaddy } from './caddy-process.js';
import { startNginx, type RunningNginx } from './nginx-process.js';

const FORWARD_HEADERS = { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups' };

/** The nginx recipes; each ships the two Authorization lines commented out. */
const NGINX_RECIPES = { shipped: SNIPPET_PATH, 'micro-cache': resolve(dirname(SNIPPET_PATH), 'oidc-forward-auth-microcache.conf') } as const;
const NGINX_AUTHORIZATION_LINES = ['auth_request_set $oidc_authorization $upstream_http_authorization;', 'proxy_set_header Authorization $oidc_authorization;'];

/** The line proposed for deploy/caddy/Caddyfile, after the forward_auth block (left out with passToApplication). */
const CADDY_AUTHORIZATION_LINE = `
		# Bearer tokens (bearerTokens): runs after forward_auth, so the service saw the token
		# and the application does not. Leave it out where passToApplication is on.
		request_header -Authorization
`;

/** The recipe as shipped, or with its commented Authorization lines turned on (each must be there once, commented). */
function nginxRecipe(path: string, authorizationLines: 'commented' | 'uncommented'): string {
  let snippet = readFileSync(path, 'utf8');
  for (const line of NGINX_AUTHORIZATION_LINES) {
    const commented = `        # ${line}\n`;
    expect(snippet.split(commented)).toHaveLength(2);
    expect(snippet.split(`        ${line}\n`)).toHaveLength(1);
    if (authorizationLines === 'uncommented') snippet = snippet.replace(commented, `        ${line}\n`);
  }
  return snippet;
}

function withCaddyLine(): string {
  const text = readFileSync(CADDYFILE_PATH, 'utf8');
  const anchor = '\t\t# Reached only on a 2xx.';
  expect(text.split(anchor)).toHaveLength(2);
  return text.replace(anchor, `${CADDY_AUTHORIZATION_LINE}\n${anchor}`);
}

function bearerTokens(overrides: Partial<BearerTokensConfig>): BearerTokensConfig {
  return { audiences: [], allowPlainJwt: false, introspection: undefined, passToApplication: false, ...overrides };
}

interface ProxyAnswer {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

async function call(site: string, authorization: string): Promise<ProxyAnswer> {
  const response = await request(`${site}/api/items`, { headers: { accept: 'application/json', authorization } });
  return { status: response.statusCode, headers: response.headers, body: await response.body.text() };
}

function echoed(answer: ProxyAnswer): EchoedRequest {
  expect(answer.status).toBe(200);
  return JSON.parse(answer.body) as EchoedRequest;
}

let op: DevProvider;
let service: TestService;
let upstream: EchoUpstream;
let accessToken: string;
const proxies: { stop(): Promise<void> }[] = [];

beforeAll(async () => {
  op = await startTestProvider({ jwtAccessTokens: true });
  const audiences = [op.resource ?? ''];
  service = await startService({
    middlewares: [
      { name: 'app', issuer: op.issuer, forwardHeaders: FORWARD_HEADERS, bearerTokens: bearerTokens({ audiences }) },
      { name: 'pass', issuer: op.issuer, forwardHeaders: FORWARD_HEADERS, bearerTokens: bearerTokens({ audiences, passToApplication: true }) },
    ],
  });
  upstream = await startEchoUpstream();
  ({ accessToken } = await obtainScriptTokens(op));
});
afterAll(async () => {
  for (const proxy of proxies.splice(0).reverse()) await proxy.stop();
  await upstream?.close();
  await service?.stop();
  await op?.stop();
});

for (const [recipe, path] of Object.entries(NGINX_RECIPES)) {
  describe(`nginx, ${recipe} recipe, with its Authorization lines uncommented`, () => {
    let nginx: RunningNginx;
    let passing: RunningNginx;
    beforeAll(async () => {
      const upstreams = (middleware: string) => ({
        authAddress: new URL(service.origin).host,
        appAddress: `127.0.0.1:${upstream.port}`,
        middleware,
        snippet: nginxRecipe(path, 'uncommented'),
      });
      nginx = await startNginx(upstreams('app'));
      proxies.push(nginx);
      passing = await startNginx(upstreams('pass'));
      proxies.push(passing);
    });

    it('lets a valid token in with the identity headers, and keeps the token from the application', async () => {
      const app = echoed(await call(nginx.url, `Bearer ${accessToken}`));
      expect(app.headers['x-forwarded-user']).toBe('alice@example.com');
      expect(app.headers['x-forwarded-groups']).toBe('admin,dev');
      expect(app.headers.authorization).toBeUndefined();
    });

    it('hands the token on with passToApplication', async () => {
      const app = echoed(await call(passing.url, `Bearer ${accessToken}`));
      expect(app.headers.authorization).toBe(`Bearer ${accessToken}`);
      expect(app.headers['x-forwarded-user']).toBe('alice@example.com');
    });

    it('refuses a bad token with 401, the invalid_token challenge, and no login redirect', async () => {
      const answer = await call(nginx.url, 'Bearer not-a-token');
      expect(answer.status).toBe(401);
      expect(answer.headers['www-authenticate']).toBe('Bearer realm="oidc-forward-auth", error="invalid_token"');
      expect(answer.headers.location).toBeUndefined();
      expect(JSON.parse(answer.body)).toMatchObject({ error: 'OFA_BEARER_TOKEN_INVALID' });
    });
  });

  describe(`nginx, ${recipe} recipe, as shipped (Authorization lines commented)`, () => {
    let nginx: RunningNginx;
    beforeAll(async () => {
      nginx = await startNginx({
        authAddress: new URL(service.origin).host,
        appAddress: `127.0.0.1:${upstream.port}`,
        middleware: 'app',
        snippet: nginxRecipe(path, 'commented'),
      });
      proxies.push(nginx);
    });

    it('lets a valid token in, and the application receives the Authorization header as sent', async () => {
      const app = echoed(await call(nginx.url, `Bearer ${accessToken}`));
      expect(app.headers['x-forwarded-user']).toBe('alice@example.com');
      expect(app.headers.authorization).toBe(`Bearer ${accessToken}`);
    });
  });
}

describe('Caddy with the proposed request_header line', () => {
  let caddy: RunningCaddy;
  let passing: RunningCaddy;
  beforeAll(async () => {
    const upstreams = { authAddress: new URL(service.origin).host, appAddress: `127.0.0.1:${upstream.port}`, copyHeaders: Object.keys(FORWARD_HEADERS) };
    caddy = await startCaddy({ ...upstreams, middleware: 'app', snippet: withCaddyLine() });
    proxies.push(caddy);
    passing = await startCaddy({ ...upstreams, middleware: 'pass' });
    proxies.push(passing);
  });

  it('lets a valid token in with the identity headers, and keeps the token from the application', async () => {
    const app = echoed(await call(caddy.url, `Bearer ${accessToken}`));
    expect(app.headers['x-forwarded-user']).toBe('alice@example.com');
    expect(app.headers.authorization).toBeUndefined();
  });

  it('hands the token on where the line is left out (passToApplication)', async () => {
    const app = echoed(await call(passing.url, `Bearer ${accessToken}`));
    expect(app.headers.authorization).toBe(`Bearer ${accessToken}`);
  });

  it('refuses a bad token with 401 and the invalid_token challenge', async () => {
    const answer = await call(caddy.url, 'Bearer not-a-token');
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe('Bearer realm="oidc-forward-auth", error="invalid_token"');
  });
});
