/**
 * The shipped Traefik examples (traefik/dynamic.yml for the file provider, traefik/kubernetes.yaml
 * for the CRDs) checked against what our service needs, as configured by the service file they
 * pair with (traefik/oidc-forward-auth.yaml, loaded by our own loader): the forwardAuth address
 * ends in /auth/NAME of a configured middleware, every forwardHeaders name is in
 * authResponseHeaders, the session (and CSRF) cookie names are in addAuthCookiesToResponse, and
 * the commented Traefik v2.11 headers middleware sets the marker the service understands.
 *
 * Traefik itself cannot be installed here (not in Debian, not on npm), so these files are never
 * run by a real Traefik. Their running behaviour is covered by the Traefik ForwardAuth harness
 * (test/support/forward-auth-client.ts, which reproduces pkg/middlewares/auth/forward.go), used
 * at the end of this file with the settings read from dynamic.yml, and throughout test/flow/.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/index.js';
import type { Config, MiddlewareConfig } from '../../src/config/types.js';
import { dropsCookiesOnSuccess, proxyKindOf } from '../../src/forward/answer.js';
import { CSRF_COOKIE_NAME } from '../../src/session/session-cookies.js';
import { browserLogin } from '../support/forward-auth-client.js';
import { startTestProvider, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type DevProvider } from '../support/op.js';
import { startService, type TestService } from '../support/service.js';

const TRAEFIK_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../traefik');
const DYNAMIC = readFileSync(resolve(TRAEFIK_DIR, 'dynamic.yml'), 'utf8');
const KUBERNETES = readFileSync(resolve(TRAEFIK_DIR, 'kubernetes.yaml'), 'utf8');
const SERVICE_CONFIG_PATH = resolve(TRAEFIK_DIR, 'oidc-forward-auth.yaml');

interface ForwardAuthSpec {
  readonly address: string;
  readonly trustForwardHeader?: boolean;
  readonly maxResponseBodySize?: number;
  readonly authResponseHeaders?: readonly string[];
  readonly addAuthCookiesToResponse?: readonly string[];
}

interface DynamicConfig {
  readonly http: {
    readonly middlewares: Record<string, { readonly forwardAuth?: ForwardAuthSpec }>;
    readonly routers: Record<string, { readonly middlewares?: readonly string[]; readonly service: string }>;
    readonly services: Record<string, unknown>;
  };
}

interface Manifest {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly spec: {
    readonly forwardAuth?: ForwardAuthSpec;
    readonly headers?: { readonly customRequestHeaders?: Record<string, string> };
    readonly routes?: readonly { readonly middlewares?: readonly { readonly name: string; readonly namespace?: string }[] }[];
  };
}

async function loadServiceConfig(): Promise<Config> {
  const result = await loadConfig(SERVICE_CONFIG_PATH, {
    env: { OFA_SESSION_SECRET: 's'.repeat(43) },
    readFile: async (path) => (path === SERVICE_CONFIG_PATH ? readFileSync(path, 'utf8') : 'client-secret-from-file'),
  });
  if (!result.ok) throw new Error(`traefik/oidc-forward-auth.yaml is invalid:\n${result.problems.join('\n')}`);
  return result.config;
}

/** The middleware of the service that a forwardAuth address points at, by its /auth/NAME path. */
function middlewareAt(config: Config, address: string): MiddlewareConfig {
  const match = /^\/auth\/([^/]+)$/.exec(new URL(address).pathname);
  expect(match, `address ${address} must end in /auth/NAME`).not.toBeNull();
  const middleware = config.middlewares[match?.[1] ?? ''];
  if (middleware === undefined) throw new Error(`address ${address} names no middleware of the service configuration`);
  return middleware;
}

/** What every forwardAuth block must hold for the service's middleware it points at. */
function expectFitsService(spec: ForwardAuthSpec, middleware: MiddlewareConfig): void {
  expect(spec.trustForwardHeader).toBe(true);
  // Without it Traefik reads answers of any size and warns at start (v2.11.x, v3.x).
  expect(Number.isInteger(spec.maxResponseBodySize) && (spec.maxResponseBodySize ?? 0) >= 16 * 1024, 'maxResponseBodySize of at least 16 KiB').toBe(true);
  const copied = (spec.authResponseHeaders ?? []).map((name) => name.toLowerCase());
  for (const name of Object.keys(middleware.forwardHeaders)) expect(copied).toContain(name.toLowerCase());
  expect(new Set(copied).size).toBe(copied.length);
  expect(spec.addAuthCookiesToResponse).toContain(middleware.session.name);
  expect(spec.addAuthCookiesToResponse).toContain(CSRF_COOKIE_NAME);
}

/** The YAML example commented out after the prose that starts with `marker` (past its blank `#` line). */
function commentedYamlAfter(text: string, marker: string): unknown {
  const start = text.indexOf(marker);
  expect(start, `"${marker}" in the example`).toBeGreaterThan(-1);
  const afterBlank = text.indexOf('\n#\n', start);
  expect(afterBlank, 'a blank "#" line before the commented YAML').toBeGreaterThan(-1);
  const lines = text.slice(afterBlank + 3).split('\n');
  const block = lines.slice(0, lines.findIndex((line) => !line.startsWith('#'))).map((line) => line.replace(/^# ?/, ''));
  return parse(block.join('\n'));
}

let config: Config;
let dynamic: DynamicConfig;
let manifests: Manifest[];

beforeAll(async () => {
  config = await loadServiceConfig();
  dynamic = parse(DYNAMIC) as DynamicConfig;
  manifests = parseAllDocuments(KUBERNETES).map((document) => document.toJS() as Manifest);
});

describe('traefik/oidc-forward-auth.yaml, the service configuration the examples pair with', () => {
  it('is valid, and trusts the address Traefik reaches it from in dynamic.yml', () => {
    const address = new URL(dynamic.http.middlewares['oidc-app']?.forwardAuth?.address ?? '');
    expect(`${config.server.listen.host}:${config.server.listen.port}`).toBe(address.host);
    expect(config.server.trustedProxies).toContain('127.0.0.1/32');
  });
});

describe('traefik/dynamic.yml (file provider)', () => {
  it('has a forwardAuth middleware at /auth/NAME of a configured middleware that carries every identity header and the session cookie', () => {
    const spec = dynamic.http.middlewares['oidc-app']?.forwardAuth;
    if (spec === undefined) throw new Error('no forwardAuth middleware oidc-app');
    expect(spec.address).toBe('http://127.0.0.1:4181/auth/app');
    expectFitsService(spec, middlewareAt(config, spec.address));
  });

  it('routes the application through that middleware to a defined service', () => {
    const router = dynamic.http.routers['app'];
    expect(router?.middlewares).toEqual(['oidc-app']);
    expect(dynamic.http.services[router?.service ?? '']).toBeDefined();
  });

  it('shows a Traefik v2.11 headers middleware that tells the service its 2xx cookies are dropped', () => {
    const note = commentedYamlAfter(DYNAMIC, 'Traefik v2.11 drops') as Record<string, { headers: { customRequestHeaders: Record<string, string> } }>;
    const value = note['oidc-proxy-v2']?.headers.customRequestHeaders['X-Forward-Auth-Proxy'];
    expect(value).toBe('traefik-v2');
    expect(dropsCookiesOnSuccess(proxyKindOf(value, true))).toBe(true);
  });
});

describe('traefik/kubernetes.yaml (CRD provider)', () => {
  it('has a traefik.io/v1alpha1 forwardAuth Middleware at /auth/NAME that carries every identity header and the session cookie', () => {
    const middleware = manifests.find((m) => m.kind === 'Middleware' && m.spec.forwardAuth !== undefined);
    if (middleware === undefined) throw new Error('no forwardAuth Middleware');
    expect(middleware.apiVersion).toBe('traefik.io/v1alpha1');
    const spec = middleware.spec.forwardAuth as ForwardAuthSpec;
    expect(new URL(spec.address).pathname).toBe('/auth/app');
    expectFitsService(spec, middlewareAt(config, spec.address));
  });

  it('has an IngressRoute in the same namespace whose route uses that Middleware', () => {
    const middleware = manifests.find((m) => m.kind === 'Middleware');
    const route = manifests.find((m) => m.kind === 'IngressRoute');
    expect(route?.apiVersion).toBe('traefik.io/v1alpha1');
    expect(route?.metadata.namespace).toBe(middleware?.metadata.namespace);
    expect(route?.spec.routes?.[0]?.middlewares?.map((m) => m.name)).toEqual([middleware?.metadata.name]);
  });

  it('shows a Traefik v2.11 headers Middleware that tells the service its 2xx cookies are dropped', () => {
    const note = commentedYamlAfter(KUBERNETES, 'Traefik v2.11 (which serves') as Manifest;
    expect(note.kind).toBe('Middleware');
    const value = note.spec.headers?.customRequestHeaders?.['X-Forward-Auth-Proxy'];
    expect(value).toBe('traefik-v2');
    expect(dropsCookiesOnSuccess(proxyKindOf(value, true))).toBe(true);
  });
});

describe('a login through the Traefik ForwardAuth harness with the settings of dynamic.yml', () => {
  const APP = 'https://app.example.test';
  let op: DevProvider;
  let service: TestService;

  beforeAll(async () => {
    op = await startTestProvider({
      clients: [{ client_id: TEST_CLIENT_ID, client_secret: TEST_CLIENT_SECRET, redirect_uris: [`${APP}/callback`], post_logout_redirect_uris: [`${APP}/`] }],
    });
    const fromFile = config.middlewares['app'];
    if (fromFile === undefined) throw new Error('no middleware app');
    service = await startService({
      middlewares: [{ ...fromFile, issuer: op.issuer, clientID: TEST_CLIENT_ID, clientSecret: TEST_CLIENT_SECRET }],
    });
  });

  afterAll(async () => {
    await service?.stop();
    await op?.stop();
  });

  it('signs alice in, keeps her session cookie, and hands the application her identity in place of a client copy', async () => {
    const spec = dynamic.http.middlewares['oidc-app']?.forwardAuth as ForwardAuthSpec;
    const login = await browserLogin({
      authAddress: `${service.origin}${new URL(spec.address).pathname}`,
      url: `${APP}/private`,
      user: 'alice',
      headers: { 'X-Forwarded-User': 'mallory@example.com' },
      trustForwardHeader: spec.trustForwardHeader,
      maxResponseBodySize: spec.maxResponseBodySize,
      authResponseHeaders: spec.authResponseHeaders,
      addAuthCookiesToResponse: spec.addAuthCookiesToResponse,
    });
    expect(login.final.status).toBe(200);
    // Traefik's entry point does not strip X-Forwarded-User: the client's copy reaches the service
    // and the application gets the service's value only because authResponseHeaders lists it.
    expect(login.final.sentHeaders['x-forwarded-user']).toBe('mallory@example.com');
    expect(login.final.upstreamHeaders['x-forwarded-user']).toBe('alice@example.com');
    expect(login.final.upstreamHeaders['x-forwarded-groups']).toBe('admin,dev');
    expect(login.jar.get('app-session')).toBeDefined();
  });
});
