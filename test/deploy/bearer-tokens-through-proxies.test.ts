/**
 * Bearer tokens through real nginx and Caddy (issue 12): the shipped recipes plus the lines this
 * feature proposes for them, checked end to end against the echo application. The service can
 * only add headers to its 2xx answer, so how the Authorization header is kept from the
 * application is each proxy's business:
 * - nginx: `proxy_set_header Authorization` from the auth answer (empty, hence dropped, unless the
 *   middleware's passToApplication puts it there);
 * - Caddy: `request_header -Authorization` after forward_auth (left out where tokens go on).
 */
import { readFileSync } from 'node:fs';
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

/** The lines proposed for nginx/oidc-forward-auth.conf, after the identity headers. */
const NGINX_AUTHORIZATION_LINES = `
        # Bearer tokens (bearerTokens): the application gets the Authorization header the
        # service's 2xx answer names, i.e. none unless passToApplication; nginx drops the header
        # when the value is empty.
        auth_request_set $oidc_authorization $upstream_http_authorization;
        proxy_set_header Authorization $oidc_authorization;
`;

/** The line proposed for deploy/caddy/Caddyfile, after the forward_auth block (left out with passToApplication). */
const CADDY_AUTHORIZATION_LINE = `
		# Bearer tokens (bearerTokens): runs after forward_auth, so the service saw the token
		# and the application does not. Leave it out where passToApplication is on.
		request_header -Authorization
`;

function withNginxLines(): string {
  const snippet = readFileSync(SNIPPET_PATH, 'utf8');
  const anchor = '        proxy_set_header X-Forwarded-Groups $oidc_groups;\n';
  expect(snippet.split(anchor)).toHaveLength(2);
  return snippet.replace(anchor, `${anchor}${NGINX_AUTHORIZATION_LINES}`);
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

describe('nginx with the proposed Authorization lines', () => {
  let nginx: RunningNginx;
  let passing: RunningNginx;
  beforeAll(async () => {
    const upstreams = (middleware: string) => ({
      authAddress: new URL(service.origin).host,
      appAddress: `127.0.0.1:${upstream.port}`,
      middleware,
      snippet: withNginxLines(),
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
