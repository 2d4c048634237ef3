import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { runCheckCommand } from '../../src/cli/check-command.js';
import type { CliIo } from '../../src/cli/io.js';
import { createKubernetesSecretReader } from '../../src/config/index.js';
import { startMockKubeApiServer, type MockKubeApiServer } from '../support/mock-kube-apiserver.js';

const SESSION_SECRET = 'session-secret-0123456789-abcdefghij';
const TOKEN = 'pod-service-account-token';

// The configuration example at the top of the spec, verbatim, preceded by our server section and
// followed by its Kubernetes Secret (which the service ignores with a warning).
const SPEC_EXAMPLE = `server:
  secrets: ["${SESSION_SECRET}"]
---
apiVersion: traefik.io/v1alpha1
kind: Middleware
metadata:
  name: test-oidc
  namespace: whoami
spec:
  plugin:
    oidc:
      issuer: "https://tenant.auth0.com/realms/myrealm"
      redirectUrl: "/callback"
      clientID: "urn:k8s:secret:my-secret:clientId"
      clientSecret: "urn:k8s:secret:my-secret:clientSecret"
      session:
        name: customsessioncookiename
        sliding: false
        refresh: false
        expiry: 10
        sameSite: none
        httpOnly: false
        secure: true
      stateCookie:
        name: customstatecookiename
        maxAge: 10
        sameSite: none
        httpOnly: true
        secure: true
      forwardHeaders:
        Group: grp
        Expires-At: exp
      claims: Equals(\`grp\`, \`admin\`)
      csrf: {}
---
apiVersion: v1
kind: Secret
metadata:
  name: my-secret
stringData:
  clientID: my-oidc-client-name
  clientSecret: mysecret
`;

function captureIo(env: NodeJS.ProcessEnv = {}): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: (text) => (out += text),
    stderr: (text) => (err += text),
    env,
    out: () => out,
    err: () => err,
  };
}

describe('check command', () => {
  let dir: string;
  let api: MockKubeApiServer;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ofa-check-'));
    api = await startMockKubeApiServer({
      // The middleware references clientId (lower-case d), so that is the key the Secret must hold.
      secrets: [{ namespace: 'whoami', name: 'my-secret', stringData: { clientId: 'my-oidc-client-name', clientSecret: 'mysecret' } }],
      serviceAccounts: [{ token: TOKEN, namespace: 'whoami', name: 'oidc-forward-auth', canReadSecretsIn: ['whoami'] }],
    });
  });

  afterEach(async () => {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  });

  const kube = () => createKubernetesSecretReader({ baseUrl: api.url, token: TOKEN, namespace: 'whoami' });

  it("accepts the spec's own example, reading its secrets from the Kubernetes API, and prints it masked", async () => {
    const file = join(dir, 'spec-example.yaml');
    await writeFile(file, SPEC_EXAMPLE);
    const io = captureIo();

    const code = await runCheckCommand(['--config', file], io, { kube: kube() });

    expect(io.err()).toBe(
      `${file}: warning: document 3: ignoring Secret "my-secret": only Traefik Middleware manifests configure this service\n` +
        `${file}: valid (1 middleware: test-oidc)\n`,
    );
    expect(code).toBe(0);
    const printed = parse(io.out()) as { middlewares: Record<string, Record<string, unknown>> };
    expect(printed.middlewares['test-oidc']).toMatchObject({
      namespace: 'whoami',
      clientID: 'urn:k8s:secret:my-secret:clientId → my-oidc-client-name',
      clientSecret: 'urn:k8s:secret:my-secret:clientSecret → ***',
      claims: 'Equals(`grp`, `admin`)',
      forwardHeaders: { Group: 'grp', 'Expires-At': 'exp' },
      session: { name: 'customsessioncookiename', sliding: false, refresh: false, expiry: 10, sameSite: 'none', httpOnly: false, secure: true },
      stateCookie: { name: 'customstatecookiename', maxAge: 10, sameSite: 'none', httpOnly: true, secure: true },
      csrf: { secure: false, headerName: 'TraefikHub-Csrf-Token' },
    });
    expect(api.requests.map((request) => request.path)).toEqual(['/api/v1/namespaces/whoami/secrets/my-secret']);
  });

  it('never prints a secret value, whether the file is valid or not', async () => {
    const file = join(dir, 'config.yaml');
    await writeFile(file, SPEC_EXAMPLE);
    const valid = captureIo();
    await runCheckCommand(['--config', file], valid, { kube: kube() });

    await writeFile(file, SPEC_EXAMPLE.replace('issuer: "https://tenant.auth0.com/realms/myrealm"', 'issuer: "ftp://x"'));
    const invalid = captureIo();
    await runCheckCommand(['--config', file], invalid, { kube: kube() });

    for (const output of [valid.out(), valid.err(), invalid.out(), invalid.err()]) {
      expect(output).not.toContain('mysecret');
      expect(output).not.toContain(SESSION_SECRET);
      expect(output).not.toContain(TOKEN);
    }
    expect(invalid.err()).toContain('middlewares.test-oidc.issuer: scheme "ftp:" is not supported');
  });

  it('lists every problem on its own line prefixed by the file name, and exits 1', async () => {
    const file = join(dir, 'broken.json');
    await writeFile(
      file,
      JSON.stringify({
        server: { secrets: ['short'] },
        middlewares: { app: { issuer: 'https://id.example.com', redirectUrl: 'javascript:void(0)', clientID: 'x', clientSecret: 'env:APP_SECRET', scopes: ['email'] } },
      }),
    );
    const io = captureIo();

    const code = await runCheckCommand([`--config=${file}`], io);

    expect(code).toBe(1);
    expect(io.out()).toBe('');
    expect(io.err().split('\n').filter((line) => line !== '')).toEqual([
      `${file}: middlewares.app.redirectUrl: scheme "javascript:" is not supported (only http and https)`,
      `${file}: middlewares.app.scopes: must include "openid"`,
      `${file}: middlewares.app.clientSecret: env:APP_SECRET is not set`,
      `${file}: server.secrets[0]: must be at least 32 characters long (make one with "oidc-forward-auth gen-secret")`,
      `${file}: invalid (4 problems)`,
    ]);
  });

  it('warns, and still exits 0, when a cookie is not secure while the middleware is served over https', async () => {
    const file = join(dir, 'insecure-cookies.yaml');
    await writeFile(
      file,
      `server: { secrets: ["${SESSION_SECRET}"] }\nmiddlewares:\n  app: { issuer: "https://id.example.com", redirectUrl: "https://app.example.com/callback", clientID: c, clientSecret: s, stateCookie: { secure: true } }\n`,
    );
    const io = captureIo();

    const code = await runCheckCommand(['--config', file], io);

    expect(code).toBe(0);
    expect(io.err()).toBe(
      `${file}: warning: middlewares.app.session.secure: is false while redirectUrl is https; the cookie would also travel over plain http (set secure: true)\n` +
        `${file}: valid (1 middleware: app)\n`,
    );
  });

  it('warns, and still exits 0, when the Redis session store or the provider connection skips certificate verification', async () => {
    const file = join(dir, 'insecure-tls.yaml');
    await writeFile(
      file,
      `server: { secrets: ["${SESSION_SECRET}"] }\nmiddlewares:\n` +
        `  app: { issuer: "https://id.example.com", redirectUrl: /cb, clientID: c, clientSecret: s, clientConfig: { tls: { insecureSkipVerify: true } },\n` +
        `         session: { store: { redis: { endpoints: ["redis.internal:6380"], tls: { insecureSkipVerify: true } } } } }\n` +
        `  verified: { issuer: "https://id.example.com", redirectUrl: /cb, clientID: c, clientSecret: s, session: { store: { redis: { endpoints: ["redis.internal:6380"], tls: {} } } } }\n`,
    );
    const io = captureIo();

    const code = await runCheckCommand(['--config', file], io);

    expect(code).toBe(0);
    expect(io.err()).toBe(
      `${file}: warning: middlewares.app.clientConfig.tls.insecureSkipVerify: is true: the identity provider's certificate is not verified, so whoever is on the path can answer in its name (set tls.ca instead)\n` +
        `${file}: warning: middlewares.app.session.store.redis.tls.insecureSkipVerify: is true: the Redis server's certificate is not verified, so whoever is on the path can read and change sessions (set tls.caBundle instead)\n` +
        `${file}: valid (2 middlewares: app, verified)\n`,
    );
  });

  it('warns when /metrics is served on a listen address that is not loopback, unless metricsListen takes it elsewhere', async () => {
    const middlewares = `middlewares:\n  app: { issuer: "https://id.example.com", redirectUrl: /cb, clientID: c, clientSecret: s }\n`;
    const warningsFor = async (server: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> => {
      const file = join(dir, 'metrics.yaml');
      await writeFile(file, `server: { secrets: ["${SESSION_SECRET}"]${server} }\n${middlewares}`);
      const io = captureIo(env);
      expect(await runCheckCommand(['--config', file], io)).toBe(0);
      return io.err().split('\n').filter((line) => line.includes(': warning: '));
    };

    const exposed = await warningsFor(', listen: "0.0.0.0:4181"');
    expect(exposed).toEqual([
      expect.stringContaining(
        'warning: server.metricsListen: is unset while server.listen (0.0.0.0) is not a loopback address: /metrics (middleware names, decision counts, provider errors) is served to whoever reaches the service',
      ),
    ]);
    expect(await warningsFor('', { OIDC_FORWARD_AUTH_LISTEN: '[::]:4181' })).toHaveLength(1);
    expect(await warningsFor(', listen: "10.0.0.5:4181"')).toHaveLength(1);
    expect(await warningsFor('')).toEqual([]);
    expect(await warningsFor(', listen: "127.0.0.2:4181"')).toEqual([]);
    expect(await warningsFor(', listen: "[::1]:4181"')).toEqual([]);
    expect(await warningsFor(', listen: "localhost:4181"')).toEqual([]);
    expect(await warningsFor(', listen: "0.0.0.0:4181", metricsListen: "127.0.0.1:9464"')).toEqual([]);
  });

  it('refuses a __Host- cookie name with a domain, naming the middleware and the field, and exits 1', async () => {
    const file = join(dir, 'host-prefix.yaml');
    await writeFile(
      file,
      `server: { secrets: ["${SESSION_SECRET}"] }\nmiddlewares:\n  app: { issuer: "https://id.example.com", redirectUrl: /cb, clientID: c, clientSecret: s, session: { name: __Host-app, secure: true, domain: example.com } }\n`,
    );
    const io = captureIo();

    expect(await runCheckCommand(['--config', file], io)).toBe(1);
    expect(io.err()).toBe(
      `${file}: middlewares.app.session.domain: must not be set with the __Host- cookie name "__Host-app" (browsers drop such cookies)\n${file}: invalid (1 problem)\n`,
    );
  });

  it('reads the file named by OIDC_FORWARD_AUTH_CONFIG when --config is absent', async () => {
    const file = join(dir, 'from-env.yaml');
    await writeFile(
      file,
      `server: { secrets: ["env:OFA_SECRET"] }\nmiddlewares:\n  app: { issuer: "https://id.example.com", redirectUrl: /cb, clientID: c, clientSecret: "file:client-secret" }\n`,
    );
    await writeFile(join(dir, 'client-secret'), 'from-a-file\n');
    const io = captureIo({ OIDC_FORWARD_AUTH_CONFIG: file, OFA_SECRET: 'x'.repeat(48) });

    const code = await runCheckCommand([], io);

    expect(code).toBe(0);
    const printed = parse(io.out()) as { server: { secrets: string[] }; middlewares: { app: { clientSecret: string } } };
    expect(printed.server.secrets).toEqual(['env:OFA_SECRET → ***']);
    expect(printed.middlewares.app.clientSecret).toBe('file:client-secret → ***');
    expect(io.out()).not.toContain('from-a-file');
  });

  it('reports a missing file as a problem of that file', async () => {
    const file = join(dir, 'absent.yaml');
    const io = captureIo();
    expect(await runCheckCommand(['-c', file], io)).toBe(1);
    expect(io.err()).toBe(`${file}: cannot read the configuration file: no such file\n${file}: invalid (1 problem)\n`);
  });

  it('exits 2 with usage when no file is given or an argument is unknown', async () => {
    const none = captureIo();
    expect(await runCheckCommand([], none)).toBe(2);
    expect(none.err()).toContain('no configuration file: pass --config FILE or set OIDC_FORWARD_AUTH_CONFIG');

    const unknown = captureIo();
    expect(await runCheckCommand(['--verbose'], unknown)).toBe(2);
    expect(unknown.err()).toContain('unknown argument "--verbose"');
  });
});
