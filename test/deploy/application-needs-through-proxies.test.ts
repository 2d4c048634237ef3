/**
 * Issue 20 through real nginx and real Caddy, each running its shipped recipe with the commented
 * lines for it turned on: the session's tokens reach the application (and never the browser),
 * /oauth2/userinfo answers the browser as JSON through a route straight to the service, and a CORS
 * preflight reaches the application without a session while other OPTIONS do not.
 */
import { readFileSync } from 'node:fs';
import { decodeJwt } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { EchoedRequest } from '../../deploy/demo/echo-upstream.js';
import { SNIPPET_PATH } from '../../deploy/demo/nginx-conf.js';
import { TEST_CLIENT_ID } from '../support/op.js';
import type { TestService } from '../support/service.js';
import { PROXIED_MIDDLEWARE, useStack } from '../support/stack.js';
import { CADDY_BUILDS } from './caddy-process.js';
import { createHttpBrowser, loginThroughProxy, type HttpAnswer } from './http-browser.js';
import type { ProxySpec } from './proxy.js';

const MIDDLEWARE = PROXIED_MIDDLEWARE;
const FORWARD_HEADERS = { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups' };
const TOKEN_HEADERS = ['Authorization', 'X-Forwarded-Id-Token'];
const API = { accept: 'application/json', 'sec-fetch-mode': 'cors', 'sec-fetch-dest': 'empty' };
const PREFLIGHT = { origin: 'https://spa.example.test', 'access-control-request-method': 'PUT' };

/** The nginx recipe with its Authorization pair, ID-token pair and userinfo location uncommented. */
function nginxRecipe(): string {
  let text = readFileSync(SNIPPET_PATH, 'utf8');
  const lines = [
    'auth_request_set $oidc_authorization $upstream_http_authorization;',
    'proxy_set_header Authorization $oidc_authorization;',
    'auth_request_set $oidc_id_token $upstream_http_x_forwarded_id_token;',
    'proxy_set_header X-Forwarded-Id-Token $oidc_id_token;',
  ];
  for (const line of lines) {
    expect(text.split(`        # ${line}\n`)).toHaveLength(2);
    text = text.replace(`        # ${line}\n`, `        ${line}\n`);
  }
  const block = /^ {4}# location = \/oauth2\/userinfo \{\n(?: {4}# .*\n)*? {4}# \}\n/m.exec(text)?.[0];
  expect(block).toBeDefined();
  return text.replace(block ?? '', (found) => found.replace(/^ {4}# /gm, '    '));
}

function noTokenIn(answer: HttpAnswer): void {
  for (const name of TOKEN_HEADERS) expect(answer.headers[name.toLowerCase()]).toBeUndefined();
  expect(answer.body).not.toMatch(/eyJ[A-Za-z0-9_-]+\.eyJ/);
}

const PROXIES: readonly { readonly name: string; readonly spec: () => ProxySpec }[] = [
  { name: 'nginx', spec: () => ({ kind: 'nginx', snippet: nginxRecipe() }) },
  ...CADDY_BUILDS.map((build) => ({
    name: `Caddy (${build} build)`,
    spec: (): ProxySpec => ({ kind: 'caddy', build, copyHeaders: [...Object.keys(FORWARD_HEADERS), ...TOKEN_HEADERS], userinfo: true }),
  })),
];

describe.each(PROXIES)('$name', (proxy) => {
  const stack = useStack(() => ({
    proxies: [proxy.spec()],
    provider: { jwtAccessTokens: true },
    service: {
      middlewares: ({ issuer }) => [
        {
          name: MIDDLEWARE,
          issuer,
          redirectUrl: '/callback',
          forwardHeaders: FORWARD_HEADERS,
          applicationTokens: { accessTokenHeader: 'Authorization', idTokenHeader: 'X-Forwarded-Id-Token' },
          userinfoUrl: '/oauth2/userinfo',
          allowCorsPreflight: true,
        },
      ],
    },
  }));
  let site: { readonly url: string };
  let service: TestService;
  beforeAll(() => {
    ({ proxy: site, service } = stack());
  });

  it("hands the application the session's access and ID tokens, and the browser never sees them", async () => {
    const login = await loginThroughProxy(`${site.url}/`, 'alice');
    noTokenIn(login.start);
    noTokenIn(login.callback);
    const answer = await login.browser.send(`${site.url}/api/items`, { headers: API });
    expect(answer.status).toBe(200);
    const echoed = JSON.parse(answer.body) as EchoedRequest;
    const authorization = String(echoed.headers.authorization);
    expect(authorization).toMatch(/^Bearer /);
    expect(decodeJwt(authorization.slice('Bearer '.length)).sub).toBe('alice');
    expect(decodeJwt(String(echoed.headers['x-forwarded-id-token'])).aud).toBe(TEST_CLIENT_ID);
    expect(echoed.headers['x-forwarded-user']).toBe('alice@example.com');
    for (const name of TOKEN_HEADERS) expect(answer.headers[name.toLowerCase()]).toBeUndefined();
    expect(service.logger.text()).not.toContain(authorization.slice('Bearer '.length));
  });

  it('sends no token on a refusal: a signed-out API call gets 401 without one', async () => {
    const answer = await createHttpBrowser().send(`${site.url}/api/items`, { headers: API });
    expect(answer.status).toBe(401);
    noTokenIn(answer);
  });

  it('answers /oauth2/userinfo with the forwarded identity as JSON, nosniff, no-store, no CORS, no token', async () => {
    const { browser } = await loginThroughProxy(`${site.url}/`, 'alice');
    const answer = await browser.send(`${site.url}/oauth2/userinfo`, { headers: { ...API, origin: 'https://evil.example.test' } });
    expect(answer.status).toBe(200);
    expect(JSON.parse(answer.body)).toEqual({ 'X-Forwarded-User': 'alice@example.com', 'X-Forwarded-Groups': 'admin,dev' });
    expect(answer.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(answer.headers['x-content-type-options']).toBe('nosniff');
    expect(answer.headers['cache-control']).toBe('no-store');
    expect(Object.keys(answer.headers).filter((name) => name.startsWith('access-control-'))).toEqual([]);
    noTokenIn(answer);
  });

  it('answers /oauth2/userinfo with 401 JSON when signed out', async () => {
    const answer = await createHttpBrowser().send(`${site.url}/oauth2/userinfo`, { headers: API });
    expect(answer.status).toBe(401);
    expect(answer.location).toBeUndefined();
    expect(JSON.parse(answer.body)).toMatchObject({ error: 'OFA_LOGIN_REQUIRED' });
  });

  it('lets a CORS preflight reach the application without a session, and no other OPTIONS', async () => {
    const browser = createHttpBrowser();
    const preflight = await browser.send(`${site.url}/api/items`, { method: 'OPTIONS', headers: { ...PREFLIGHT, accept: 'application/json', 'X-Forwarded-User': 'mallory' } });
    expect(preflight.status).toBe(200);
    const echoed = JSON.parse(preflight.body) as EchoedRequest;
    expect(echoed.method).toBe('OPTIONS');
    expect(echoed.headers['x-forwarded-user'] ?? '').toBe('');
    expect(echoed.headers.authorization ?? '').toBe('');
    const plain = await browser.send(`${site.url}/api/items`, { method: 'OPTIONS', headers: { origin: PREFLIGHT.origin, accept: 'application/json' } });
    expect(plain.status).toBe(401);
  });
});
