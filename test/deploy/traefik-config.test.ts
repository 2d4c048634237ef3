/**
 * The shipped Traefik files read as files: traefik/dynamic.yml against the service configuration
 * it pairs with (traefik/oidc-forward-auth.yaml, loaded by our own loader), the renderer that
 * hands it to real Traefik in login-through-proxies.test.ts (addresses only, plus the additions its
 * comments describe), and traefik/kubernetes.yaml against Traefik's own CRD schemas (v3 and, with
 * the v2.11 change, v2.11) and against deploy/kubernetes/, which runs the service it points at.
 * How Traefik behaves with them is proven against the real binaries in login-through-proxies.test.ts.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { loadConfig } from '../../src/config/index.js';
import type { Config, MiddlewareConfig } from '../../src/config/types.js';
import { dropsCookiesOnSuccess, proxyKindOf } from '../../src/forward/answer.js';
import { CSRF_COOKIE_NAME } from '../../src/session/session-cookies.js';
import { loadCrdValidator, type CrdValidator } from './traefik-crds.js';
import { commentedBlock, readShippedDynamic, renderDynamic, SHIPPED_ADDRESSES } from './traefik-dynamic.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DYNAMIC = readShippedDynamic();
const KUBERNETES = readFileSync(resolve(ROOT, 'traefik/kubernetes.yaml'), 'utf8');
const DEPLOY_KUBERNETES = readFileSync(resolve(ROOT, 'deploy/kubernetes/oidc-forward-auth.yaml'), 'utf8');
const SERVICE_CONFIG_PATH = resolve(ROOT, 'traefik/oidc-forward-auth.yaml');

interface ForwardAuthSpec {
  readonly address: string;
  readonly trustForwardHeader?: boolean;
  readonly maxResponseBodySize?: number;
  readonly authResponseHeaders?: readonly string[];
  readonly addAuthCookiesToResponse?: readonly string[];
}

interface DynamicConfig {
  readonly http: {
    readonly middlewares: Record<string, { readonly forwardAuth?: ForwardAuthSpec; readonly headers?: { readonly customRequestHeaders?: Record<string, string> } }>;
    readonly routers: Record<string, { readonly middlewares?: readonly string[]; readonly service: string; readonly rule: string }>;
    readonly services: Record<string, { readonly loadBalancer: { readonly servers: readonly { readonly url: string }[] } }>;
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
    readonly ports?: readonly { readonly name: string; readonly port: number }[];
  };
  readonly data?: Record<string, string>;
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
function expectFitsService(spec: ForwardAuthSpec, forwardHeaders: readonly string[], sessionCookie: string): void {
  expect(spec.trustForwardHeader).toBe(true);
  expect(Number.isInteger(spec.maxResponseBodySize) && (spec.maxResponseBodySize ?? 0) >= 16 * 1024, 'maxResponseBodySize of at least 16 KiB').toBe(true);
  const copied = (spec.authResponseHeaders ?? []).map((name) => name.toLowerCase());
  for (const name of forwardHeaders) expect(copied).toContain(name.toLowerCase());
  expect(new Set(copied).size).toBe(copied.length);
  expect(spec.addAuthCookiesToResponse).toContain(sessionCookie);
  expect(spec.addAuthCookiesToResponse).toContain(CSRF_COOKIE_NAME);
}

const TEST_ADDRESSES = { authAddress: '127.0.0.1:50001', appAddress: '127.0.0.1:50002', host: 'site.test' };

let config: Config;
let dynamic: DynamicConfig;

beforeAll(async () => {
  config = await loadServiceConfig();
  dynamic = parse(DYNAMIC) as DynamicConfig;
});

describe('traefik/oidc-forward-auth.yaml, the service configuration dynamic.yml pairs with', () => {
  it('is valid, and trusts the address Traefik reaches it from', () => {
    const address = new URL(dynamic.http.middlewares['oidc-app']?.forwardAuth?.address ?? '');
    expect(`${config.server.listen.host}:${config.server.listen.port}`).toBe(address.host);
    expect(config.server.trustedProxies).toContain('127.0.0.1/32');
  });
});

describe('traefik/dynamic.yml (file provider)', () => {
  it('states the Traefik versions it needs', () => {
    expect(DYNAMIC).toContain('Traefik v3.6.9 or later');
    expect(DYNAMIC).toContain('addAuthCookiesToResponse in v3.0');
    expect(DYNAMIC).toContain('v2.11.38 or later');
  });

  it('has a forwardAuth middleware at /auth/NAME of a configured middleware that carries every identity header and the session cookie', () => {
    const spec = dynamic.http.middlewares['oidc-app']?.forwardAuth;
    if (spec === undefined) throw new Error('no forwardAuth middleware oidc-app');
    expect(spec.address).toBe('http://127.0.0.1:4181/auth/app');
    const middleware = middlewareAt(config, spec.address);
    expectFitsService(spec, Object.keys(middleware.forwardHeaders), middleware.session.name);
  });

  it('routes the application through that middleware to a defined service', () => {
    const router = dynamic.http.routers['app'];
    expect(router?.middlewares).toEqual(['oidc-app']);
    expect(dynamic.http.services[router?.service ?? '']).toBeDefined();
  });

  it('shows a Traefik v2.11 headers middleware, listed before oidc-app, that tells the service its 2xx cookies are dropped', () => {
    const block = commentedBlock(DYNAMIC, '# Traefik v2.11 refuses') as unknown as DynamicConfig;
    const value = block.http.middlewares['oidc-proxy-v2']?.headers?.customRequestHeaders?.['X-Forward-Auth-Proxy'];
    expect(value).toBe('traefik-v2');
    expect(dropsCookiesOnSuccess(proxyKindOf(value, true))).toBe(true);
    expect(block.http.routers['app']?.middlewares).toEqual(['oidc-proxy-v2', 'oidc-app']);
  });
});

describe('the renderer that hands dynamic.yml to real Traefik', () => {
  it('changes nothing with the shipped addresses and no additions', () => {
    expect(renderDynamic(DYNAMIC, SHIPPED_ADDRESSES)).toEqual(parse(DYNAMIC));
  });

  it('replaces the three addresses and nothing else', () => {
    const rendered = JSON.stringify(renderDynamic(DYNAMIC, TEST_ADDRESSES));
    expect(rendered).not.toContain('4181');
    expect(rendered).not.toContain('3000');
    expect(rendered).not.toContain('example.com');
    const back = rendered
      .replaceAll(TEST_ADDRESSES.authAddress, SHIPPED_ADDRESSES.authAddress)
      .replaceAll(TEST_ADDRESSES.appAddress, SHIPPED_ADDRESSES.appAddress)
      .replaceAll(TEST_ADDRESSES.host, SHIPPED_ADDRESSES.host);
    expect(JSON.parse(back)).toEqual(parse(DYNAMIC));
  });

  it('makes the v2.11 change as the file describes it: addAuthCookiesToResponse gone, the headers middleware first', () => {
    const rendered = renderDynamic(DYNAMIC, SHIPPED_ADDRESSES, ['traefik-v2']) as unknown as DynamicConfig;
    const { addAuthCookiesToResponse: _gone, ...shippedForwardAuth } = dynamic.http.middlewares['oidc-app']?.forwardAuth ?? { address: '' };
    expect(rendered.http.middlewares['oidc-app']?.forwardAuth).toEqual(shippedForwardAuth);
    expect(rendered.http.routers['app']).toEqual({ ...dynamic.http.routers['app'], middlewares: ['oidc-proxy-v2', 'oidc-app'] });
    expect(Object.keys(rendered.http.middlewares).sort()).toEqual(['oidc-app', 'oidc-proxy-v2']);
    expect(rendered.http.services).toEqual(dynamic.http.services);
  });

  it('adds Authorization to authResponseHeaders for bearer tokens, and nothing else', () => {
    const rendered = renderDynamic(DYNAMIC, SHIPPED_ADDRESSES, ['bearer-tokens']) as unknown as DynamicConfig;
    const spec = rendered.http.middlewares['oidc-app']?.forwardAuth;
    expect(spec?.authResponseHeaders).toEqual([...(dynamic.http.middlewares['oidc-app']?.forwardAuth?.authResponseHeaders ?? []), 'Authorization']);
    expect({ ...rendered.http.middlewares['oidc-app']?.forwardAuth, authResponseHeaders: [] }).toEqual({
      ...dynamic.http.middlewares['oidc-app']?.forwardAuth,
      authResponseHeaders: [],
    });
  });

  it('adds each back-channel logout route beside the shipped router, pointing at the same service address', () => {
    for (const addition of ['backchannel-direct-route', 'backchannel-forward-body'] as const) {
      const rendered = renderDynamic(DYNAMIC, TEST_ADDRESSES, [addition]) as unknown as DynamicConfig;
      expect(Object.keys(rendered.http.routers).sort()).toEqual(['app', 'app-backchannel-logout']);
      expect(rendered.http.routers['app-backchannel-logout']?.rule).toBe(`Host(\`${TEST_ADDRESSES.host}\`) && Path(\`/backchannel-logout\`)`);
      const targets = JSON.stringify(rendered.http);
      expect(targets).not.toContain('4181');
    }
    const forwardBody = renderDynamic(DYNAMIC, SHIPPED_ADDRESSES, ['backchannel-forward-body']) as unknown as DynamicConfig;
    expect(forwardBody.http.middlewares['oidc-backchannel-logout']?.forwardAuth).toMatchObject({
      address: dynamic.http.middlewares['oidc-app']?.forwardAuth?.address,
      forwardBody: true,
      preserveRequestMethod: true,
      maxBodySize: 65536,
    });
    const direct = renderDynamic(DYNAMIC, SHIPPED_ADDRESSES, ['backchannel-direct-route']) as unknown as DynamicConfig;
    expect(direct.http.services['oidc-forward-auth']?.loadBalancer.servers).toEqual([{ url: 'http://127.0.0.1:4181' }]);
  });
});

/** traefik/kubernetes.yaml with the v2.11 change its closing note describes. */
function kubernetesForV2(manifests: readonly Manifest[]): Manifest[] {
  const headers = commentedBlock(KUBERNETES, '# Traefik v2.11 (which serves') as unknown as Manifest;
  const changed = manifests.map((manifest) => {
    if (manifest.spec.forwardAuth === undefined) return manifest;
    const { addAuthCookiesToResponse: _gone, ...forwardAuth } = manifest.spec.forwardAuth;
    return { ...manifest, spec: { ...manifest.spec, forwardAuth } };
  });
  return [...changed, headers];
}

describe('traefik/kubernetes.yaml (CRD provider)', () => {
  const manifests = parseAllDocuments(KUBERNETES).map((document) => document.toJS() as Manifest);
  const middleware = manifests.find((m) => m.kind === 'Middleware' && m.spec.forwardAuth !== undefined);
  const route = manifests.find((m) => m.kind === 'IngressRoute');
  let v3: CrdValidator;
  let v2: CrdValidator;

  beforeAll(() => {
    v3 = loadCrdValidator('traefik-v3');
    v2 = loadCrdValidator('traefik-v2');
  });

  it('states the Traefik versions it needs', () => {
    expect(KUBERNETES).toContain('Traefik v3.6.9 or later');
    expect(KUBERNETES).toContain('addAuthCookiesToResponse in v3.0');
    expect(KUBERNETES).toContain('v2.11.38 or later');
  });

  it("is valid against the Middleware and IngressRoute schemas of the Traefik v3 built here", () => {
    expect(manifests.map((m) => m.kind).sort()).toEqual(['IngressRoute', 'Middleware']);
    for (const manifest of manifests) expect(v3.problems(manifest), `${manifest.kind} ${manifest.metadata.name}`).toEqual([]);
  });

  it('is valid against the Traefik v2.11 schemas once changed as its note says, and not before (v2.11 has no addAuthCookiesToResponse)', () => {
    for (const manifest of kubernetesForV2(manifests)) expect(v2.problems(manifest), `${manifest.kind} ${manifest.metadata.name}`).toEqual([]);
    expect(v2.problems(middleware).join('\n')).toContain('addAuthCookiesToResponse');
  });

  it('stays valid with its commented Authorization line turned on (bearer tokens)', () => {
    const line = '      # - Authorization\n';
    expect(KUBERNETES.split(line)).toHaveLength(2);
    const turnedOn = parseAllDocuments(KUBERNETES.replace(line, '      - Authorization\n')).map((document) => document.toJS() as Manifest);
    const spec = turnedOn.find((m) => m.spec.forwardAuth !== undefined)?.spec.forwardAuth;
    expect(spec?.authResponseHeaders).toContain('Authorization');
    for (const manifest of turnedOn) expect(v3.problems(manifest)).toEqual([]);
  });

  it('refuses a misspelt field, as kubectl does: the validation can fail', () => {
    const misspelt = { ...middleware, spec: { forwardAuth: { ...middleware?.spec.forwardAuth, authResponseHeader: ['X'] } } };
    expect(v3.problems(misspelt).join('\n')).toContain('authResponseHeader');
  });

  it('has an IngressRoute in the Middleware\'s namespace whose route uses it', () => {
    expect(route?.metadata.namespace).toBe(middleware?.metadata.namespace);
    expect(route?.spec.routes?.[0]?.middlewares?.map((m) => m.name)).toEqual([middleware?.metadata.name]);
  });

  it('points at the service deploy/kubernetes/ runs: its Service, namespace and port, a configured middleware, every identity header and its cookie names', () => {
    const deployed = parseAllDocuments(DEPLOY_KUBERNETES).map((document) => document.toJS() as Manifest);
    const service = deployed.find((m) => m.kind === 'Service');
    const configMap = deployed.find((m) => m.kind === 'ConfigMap');
    const serviceConfig = parse(configMap?.data?.['config.yaml'] ?? '') as {
      middlewares: Record<string, { forwardHeaders?: Record<string, string>; session?: { name?: string } }>;
    };
    const spec = middleware?.spec.forwardAuth;
    if (spec === undefined || service === undefined) throw new Error('no forwardAuth Middleware or no Service');
    const address = new URL(spec.address);
    expect(address.hostname).toBe(`${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`);
    expect(Number(address.port)).toBe(service.spec.ports?.find((port) => port.name === 'http')?.port);
    const name = /^\/auth\/([^/]+)$/.exec(address.pathname)?.[1] ?? '';
    const target = serviceConfig.middlewares[name];
    if (target === undefined) throw new Error(`deploy/kubernetes/ configures no middleware ${name}`);
    expectFitsService(spec, Object.keys(target.forwardHeaders ?? {}), target.session?.name ?? `${name}-session`);
  });

  it('shows a Traefik v2.11 headers Middleware that tells the service its 2xx cookies are dropped', () => {
    const note = commentedBlock(KUBERNETES, '# Traefik v2.11 (which serves') as unknown as Manifest;
    expect(note.kind).toBe('Middleware');
    const value = note.spec.headers?.customRequestHeaders?.['X-Forward-Auth-Proxy'];
    expect(value).toBe('traefik-v2');
    expect(dropsCookiesOnSuccess(proxyKindOf(value, true))).toBe(true);
  });
});
