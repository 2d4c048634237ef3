import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfig, loadConfigFromText, type LoadConfigResult } from '../../src/config/index.js';

const SECRET = 'k'.repeat(32);
const CLIENT_SECRET = 'client-secret-value';

const baseMiddleware = {
  issuer: 'https://id.example.com/realms/main',
  redirectUrl: '/callback',
  clientID: 'app',
  clientSecret: CLIENT_SECRET,
};

function configWith(middleware: Record<string, unknown>, server: Record<string, unknown> = {}): string {
  return stringify({ server: { secrets: [SECRET], ...server }, middlewares: { app: { ...baseMiddleware, ...middleware } } });
}

async function load(text: string, env: NodeJS.ProcessEnv = {}): Promise<LoadConfigResult> {
  return loadConfigFromText(text, '/etc/ofa/config.yaml', { env, readFile: async () => Promise.reject(new Error('no files here')) });
}

async function problemsOf(text: string, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  const result = await load(text, env);
  if (result.ok) throw new Error('expected the configuration to be rejected');
  return result.problems;
}

async function configOf(text: string, env: NodeJS.ProcessEnv = {}) {
  const result = await load(text, env);
  if (!result.ok) throw new Error(`expected a valid configuration, got:\n${result.problems.join('\n')}`);
  return result.config;
}

describe('loadConfigFromText defaults', () => {
  it('applies every default of the spec table to a minimal middleware', async () => {
    const config = await configOf(configWith({}));
    expect(config.server).toEqual({
      listen: { host: '127.0.0.1', port: 4181 },
      workers: 1,
      secrets: [SECRET],
      trustedProxies: [],
      logLevel: 'info',
      requestTimeoutSeconds: 10,
      maxConnections: 4096,
    });
    expect(config.middlewares['app']).toEqual({
      name: 'app',
      namespace: undefined,
      ...baseMiddleware,
      claims: undefined,
      usernameClaim: undefined,
      forwardHeaders: {},
      clientConfig: { tls: { ca: undefined, cert: undefined, key: undefined, insecureSkipVerify: false }, timeoutSeconds: 5, maxRetries: 3 },
      pkce: false,
      clientAuthMethod: undefined,
      clientPrivateKey: undefined,
      clientAuthSigningAlg: undefined,
      pushedAuthorizationRequests: false,
      bearerTokens: undefined,
      discoveryParams: {},
      scopes: ['openid'],
      authParams: {},
      disableLogin: false,
      loginUrl: undefined,
      logoutUrl: undefined,
      postLoginRedirectUrl: undefined,
      postLogoutRedirectUrl: undefined,
      backchannelLogoutUrl: undefined,
      backchannelLogoutSessionsRequired: false,
      stateCookie: { name: 'app-state', path: '/', domain: undefined, maxAge: 600, sameSite: 'lax', httpOnly: true, secure: false },
      session: {
        name: 'app-session',
        path: '/',
        domain: undefined,
        sameSite: 'lax',
        httpOnly: true,
        secure: false,
        expiry: 86400,
        maxLifetime: undefined,
        sliding: true,
        refresh: true,
        store: undefined,
        codecVersion: 2,
      },
      csrf: undefined,
    });
    expect(config.warnings).toEqual([]);
  });

  it('reads session.maxLifetime in seconds, off when not given', async () => {
    const config = await configOf(configWith({ session: { maxLifetime: 43200 } }));
    expect(config.middlewares['app']?.session.maxLifetime).toBe(43200);
    const unset = await configOf(configWith({ session: { maxLifetime: null } }));
    expect(unset.middlewares['app']?.session.maxLifetime).toBeUndefined();
  });

  it('writes session codec version 2 unless session.codecVersion names 1, for a rollout across replicas', async () => {
    const config = await configOf(configWith({ session: { codecVersion: 1 } }));
    expect(config.middlewares['app']?.session.codecVersion).toBe(1);
    const explicit = await configOf(configWith({ session: { codecVersion: 2 } }));
    expect(explicit.middlewares['app']?.session.codecVersion).toBe(2);
    const unset = await configOf(configWith({ session: { codecVersion: null } }));
    expect(unset.middlewares['app']?.session.codecVersion).toBe(2);
  });

  it('turns CSRF protection on with its defaults for csrf: {}', async () => {
    const config = await configOf(configWith({ csrf: {} }));
    expect(config.middlewares['app']?.csrf).toEqual({ secure: false, headerName: 'TraefikHub-Csrf-Token' });
  });

  it('accepts scopes as a space-separated string as well as a list', async () => {
    expect((await configOf(configWith({ scopes: 'openid email  profile' }))).middlewares['app']?.scopes).toEqual(['openid', 'email', 'profile']);
    expect((await configOf(configWith({ scopes: ['openid', 'groups'] }))).middlewares['app']?.scopes).toEqual(['openid', 'groups']);
  });

  it('treats scopes: "" as not set, like the other string options', async () => {
    expect((await configOf(configWith({ scopes: '' }))).middlewares['app']?.scopes).toEqual(['openid']);
  });

  it('reads listen addresses, IPv6 in brackets, and trusted proxies as CIDR blocks or addresses', async () => {
    const config = await configOf(configWith({}, { listen: '[::1]:9000', trustedProxies: ['10.0.0.0/8', '::1', 'fd00::/8'], logLevel: 'debug' }));
    expect(config.server.listen).toEqual({ host: '::1', port: 9000 });
    expect(config.server.trustedProxies).toEqual(['10.0.0.0/8', '::1', 'fd00::/8']);
    expect(config.server.logLevel).toBe('debug');
  });

  it('accepts a public client without clientSecret when pkce is on', async () => {
    const config = await configOf(stringify({ server: { secrets: [SECRET] }, middlewares: { app: { ...baseMiddleware, clientSecret: undefined, pkce: true } } }));
    expect(config.middlewares['app']?.clientSecret).toBeUndefined();
  });

  it('accepts the three URL shapes the spec allows', async () => {
    const config = await configOf(
      configWith({ redirectUrl: 'auth.example.com/callback', loginUrl: '/login', logoutUrl: 'https://app.example.com/logout', postLogoutRedirectUrl: 'localhost:8080/bye' }),
    );
    expect(config.middlewares['app']).toMatchObject({ redirectUrl: 'auth.example.com/callback', loginUrl: '/login', logoutUrl: 'https://app.example.com/logout' });
  });

  it('reads a Redis store with sentinel and TLS', async () => {
    const config = await configOf(
      configWith({
        session: {
          store: {
            redis: {
              endpoints: ['redis-0:26379', '[fd00::2]:26379'],
              password: 'redis-pass',
              database: 2,
              tls: { caBundle: 'CA', cert: 'CERT', key: 'KEY' },
              sentinel: { masterSet: 'mymaster', password: 'sentinel-pass' },
            },
          },
        },
      }),
    );
    expect(config.middlewares['app']?.session.store?.redis).toEqual({
      endpoints: ['redis-0:26379', '[fd00::2]:26379'],
      username: undefined,
      password: 'redis-pass',
      database: 2,
      cluster: false,
      tls: { caBundle: 'CA', cert: 'CERT', key: 'KEY', insecureSkipVerify: false },
      sentinel: { masterSet: 'mymaster', username: undefined, password: 'sentinel-pass' },
    });
  });
});

describe('loadConfigFromText validation', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['an unknown key, suggesting the closest known one', { clientId: 'x' }, 'middlewares.app.clientId: unknown option (did you mean "clientID"?)'],
    ['a misspelt nested key', { session: { expiry: 10, slidng: true } }, 'middlewares.app.session.slidng: unknown option (did you mean "sliding"?)'],
    ['a missing issuer', { issuer: undefined }, 'middlewares.app.issuer: is required'],
    ['a missing redirectUrl', { redirectUrl: '' }, 'middlewares.app.redirectUrl: is required'],
    ['a missing clientID', { clientID: undefined }, 'middlewares.app.clientID: is required'],
    ['a missing clientSecret without pkce', { clientSecret: undefined }, 'middlewares.app.clientSecret: is required (or set pkce: true for a public client)'],
    ['a number where a string belongs', { clientID: 12345 }, 'middlewares.app.clientID: must be a string (got a number; quote it)'],
    ['a string where a boolean belongs', { pkce: 'yes' }, 'middlewares.app.pkce: must be true or false (got a string)'],
    ['scopes without openid', { scopes: ['email'] }, 'middlewares.app.scopes: must include "openid"'],
    ['a zero session expiry', { session: { expiry: 0 } }, 'middlewares.app.session.expiry: must be greater than 0 (got 0)'],
    ['a negative session expiry', { session: { expiry: -5 } }, 'middlewares.app.session.expiry: must be greater than 0 (got -5)'],
    ['a zero session maxLifetime', { session: { maxLifetime: 0 } }, 'middlewares.app.session.maxLifetime: must be greater than 0 (got 0)'],
    ['a negative session maxLifetime', { session: { maxLifetime: -60 } }, 'middlewares.app.session.maxLifetime: must be greater than 0 (got -60)'],
    ['a fractional session maxLifetime', { session: { maxLifetime: 1.5 } }, 'middlewares.app.session.maxLifetime: must be a whole number (got 1.5)'],
    ['a session maxLifetime written as a string', { session: { maxLifetime: '8h' } }, 'middlewares.app.session.maxLifetime: must be a number (got a string)'],
    ['a session codecVersion no release writes', { session: { codecVersion: 3 } }, 'middlewares.app.session.codecVersion: must be 1 or 2 (got 3)'],
    ['a session codecVersion of 0', { session: { codecVersion: 0 } }, 'middlewares.app.session.codecVersion: must be 1 or 2 (got 0)'],
    ['a fractional session codecVersion', { session: { codecVersion: 1.5 } }, 'middlewares.app.session.codecVersion: must be a whole number (got 1.5)'],
    ['a session codecVersion written as a string', { session: { codecVersion: 'v1' } }, 'middlewares.app.session.codecVersion: must be a number (got a string)'],
    ['an unknown sameSite', { stateCookie: { sameSite: 'sometimes' } }, 'middlewares.app.stateCookie.sameSite: must be one of none, lax, strict (got "sometimes")'],
    ['an issuer that is a path', { issuer: '/realms/main' }, 'middlewares.app.issuer: must be an absolute http(s) URL such as https://accounts.example.com (got "/realms/main")'],
    ['an issuer with another scheme', { issuer: 'ftp://id.example.com' }, 'middlewares.app.issuer: scheme "ftp:" is not supported (only http and https)'],
    ['a javascript: redirectUrl', { redirectUrl: 'javascript:alert(1)' }, 'middlewares.app.redirectUrl: scheme "javascript:" is not supported (only http and https)'],
    ['an ftp:// logoutUrl', { logoutUrl: 'ftp://files.example.com/x' }, 'middlewares.app.logoutUrl: scheme "ftp:" is not supported (only http and https)'],
    ['a loginUrl that is neither a path nor host and path', { loginUrl: 'login' }, 'middlewares.app.loginUrl: must be a path (/callback), a host and path (example.com/callback) or an http(s) URL (got "login"; a path starts with "/")'],
    ['a protocol-relative postLoginRedirectUrl', { postLoginRedirectUrl: '//evil.example/x' }, 'middlewares.app.postLoginRedirectUrl: must be a path (/callback), a host and path (example.com/callback) or an http(s) URL (got "//evil.example/x")'],
    ['a malformed claims expression, with its position', { claims: 'Equals(`grp`, `admin`' }, 'middlewares.app.claims: at column 22: expected ")" but found the end of the expression'],
    ['a forwardHeaders name that is not an HTTP token', { forwardHeaders: { 'X User': 'sub' } }, 'middlewares.app.forwardHeaders.X User: "X User" is not a valid HTTP header name'],
    ['a forwardHeaders claim key that does not parse', { forwardHeaders: { 'X-User': 'a\\b' } }, 'middlewares.app.forwardHeaders.X-User: "a\\b" is not a claim key: at column 2'],
    ['a negative maxRetries', { clientConfig: { maxRetries: -1 } }, 'middlewares.app.clientConfig.maxRetries: must be 0 or more (got -1)'],
    ['a fractional maxRetries', { clientConfig: { maxRetries: 1.5 } }, 'middlewares.app.clientConfig.maxRetries: must be a whole number (got 1.5)'],
    ['a zero timeoutSeconds', { clientConfig: { timeoutSeconds: 0 } }, 'middlewares.app.clientConfig.timeoutSeconds: must be greater than 0 (got 0)'],
    ['a TLS cert without its key', { clientConfig: { tls: { cert: 'CERT' } } }, 'middlewares.app.clientConfig.tls.key: is required when cert is set'],
    ['a TLS key without its cert', { clientConfig: { tls: { key: 'KEY' } } }, 'middlewares.app.clientConfig.tls.cert: is required when key is set'],
    ['a Redis endpoint that is not host:port', { session: { store: { redis: { endpoints: ['redis.local'] } } } }, 'middlewares.app.session.store.redis.endpoints[0]: "redis.local" is not host:port (IPv6 as [::1]:4181)'],
    ['a Redis store without endpoints', { session: { store: { redis: { password: 'p' } } } }, 'middlewares.app.session.store.redis.endpoints: is required (a list of host:port)'],
    ['a sentinel without masterSet', { session: { store: { redis: { endpoints: ['r:26379'], sentinel: { password: 'p' } } } } }, 'middlewares.app.session.store.redis.sentinel.masterSet: is required when using Sentinel'],
    ['a Redis TLS cert without key', { session: { store: { redis: { endpoints: ['r:6379'], tls: { cert: 'CERT' } } } } }, 'middlewares.app.session.store.redis.tls.key: is required when cert is set'],
    ['a bare csrf: key', { csrf: null }, 'middlewares.app.csrf: must be a mapping; write "csrf: {}" to enable CSRF protection with defaults (got null)'],
    ['an authParams entry the middleware sets itself', { authParams: { state: 'fixed' } }, 'middlewares.app.authParams.state: is set by the middleware itself and cannot be overridden'],
    ['a __Host- session cookie with a domain', { session: { name: '__Host-app', secure: true, domain: 'example.com' } }, 'middlewares.app.session.domain: must not be set with the __Host- cookie name "__Host-app"'],
    ['a __Host- session cookie with a path other than /', { session: { name: '__Host-app', secure: true, path: '/app' } }, 'middlewares.app.session.path: must be "/" with the __Host- cookie name "__Host-app" (got "/app"'],
    ['a __Host- session cookie without secure', { session: { name: '__Host-app' } }, 'middlewares.app.session.secure: must be true with the __Host- cookie name "__Host-app"'],
    ['a __Host- state cookie without secure, whatever the case of the prefix', { stateCookie: { name: '__host-state', secure: false } }, 'middlewares.app.stateCookie.secure: must be true with the __Host- cookie name "__host-state"'],
    ['a __Secure- state cookie without secure', { stateCookie: { name: '__Secure-state' } }, 'middlewares.app.stateCookie.secure: must be true with the __Secure- cookie name "__Secure-state"'],
    ['a forwardHeaders entry naming Host', { forwardHeaders: { Host: 'sub' } }, 'middlewares.app.forwardHeaders.Host: "Host" is a header the proxies or HTTP itself rely on and cannot carry a claim'],
    ['a forwardHeaders entry naming X-Forwarded-Proto, whatever its case', { forwardHeaders: { 'x-forwarded-proto': 'sub' } }, 'middlewares.app.forwardHeaders.x-forwarded-proto: "x-forwarded-proto" is a header the proxies or HTTP itself rely on'],
    ['a forwardHeaders entry naming a Traefik-stripped X_Forwarded_For', { forwardHeaders: { X_Forwarded_For: 'sub' } }, 'middlewares.app.forwardHeaders.X_Forwarded_For: "X_Forwarded_For" is a header the proxies or HTTP itself rely on'],
    ['equal state and session cookie names', { stateCookie: { name: 'same' }, session: { name: 'same' } }, 'middlewares.app.session.name: must differ from stateCookie.name (both are "same")'],
  ];

  it.each(cases)('rejects %s', async (_label, middleware, expected) => {
    const problems = await problemsOf(configWith(middleware));
    expect(problems.some((problem) => problem.startsWith(expected)), `got:\n${problems.join('\n')}`).toBe(true);
  });

  const serverCases: [string, Record<string, unknown>, string][] = [
    ['missing secrets', { secrets: undefined }, 'server.secrets: is required'],
    ['an empty secrets list', { secrets: [] }, 'server.secrets: is required'],
    ['a short secret', { secrets: [SECRET, 'too-short'] }, 'server.secrets[1]: must be at least 32 characters long (make one with "oidc-forward-auth gen-secret")'],
    ['a listen address without a port', { listen: '127.0.0.1' }, 'server.listen: "127.0.0.1" is not host:port (IPv6 as [::1]:4181)'],
    ['an unbracketed IPv6 listen address', { listen: '::1:4181' }, 'server.listen: "::1:4181" is not host:port'],
    ['a trusted proxy that is not an address', { trustedProxies: ['proxy.local'] }, 'server.trustedProxies[0]: "proxy.local" is not an IP address or CIDR block'],
    ['a CIDR prefix out of range', { trustedProxies: ['10.0.0.0/33'] }, 'server.trustedProxies[0]: "10.0.0.0/33" has an invalid prefix length (0-32)'],
    ['an unknown log level', { logLevel: 'verbose' }, 'server.logLevel: must be one of fatal, error, warn, info, debug, trace, silent (got "verbose")'],
    ['an unknown server key', { listenAddress: 'x' }, 'server.listenAddress: unknown option'],
  ];

  it.each(serverCases)('rejects a server section with %s', async (_label, server, expected) => {
    const problems = await problemsOf(configWith({}, server));
    expect(problems.some((problem) => problem.startsWith(expected)), `got:\n${problems.join('\n')}`).toBe(true);
  });

  it('reports every problem of a file together, not just the first', async () => {
    const problems = await problemsOf(
      configWith({ issuer: 'ftp://x', scopes: 'email', session: { expiry: 0, sameSite: 'loose' }, redirectUrl: 'javascript:x' }, { secrets: ['short'] }),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'middlewares.app.issuer: scheme "ftp:" is not supported (only http and https)',
        'middlewares.app.redirectUrl: scheme "javascript:" is not supported (only http and https)',
        'middlewares.app.scopes: must include "openid"',
        'middlewares.app.session.expiry: must be greater than 0 (got 0)',
        'middlewares.app.session.sameSite: must be one of none, lax, strict (got "loose")',
        'server.secrets[0]: must be at least 32 characters long (make one with "oidc-forward-auth gen-secret")',
      ]),
    );
    expect(problems).toHaveLength(6);
  });

  it('rejects a file without any middleware', async () => {
    expect(await problemsOf(stringify({ server: { secrets: [SECRET] } }))).toEqual(['middlewares: at least one middleware is required']);
  });

  it('rejects middleware names that would not survive in /auth/NAME', async () => {
    const problems = await problemsOf(stringify({ server: { secrets: [SECRET] }, middlewares: { 'my app': baseMiddleware, '..': baseMiddleware } }));
    expect(problems).toEqual([
      'middlewares.my app: the name must be letters, digits, ".", "_" or "-" (it appears in the URL /auth/NAME)',
      'middlewares...: the name must be letters, digits, ".", "_" or "-" (it appears in the URL /auth/NAME)',
    ]);
  });

  it('reports YAML syntax errors with their line and column', async () => {
    const problems = await problemsOf('server:\n  secrets: [a\nmiddlewares: {}\n');
    expect(problems[0]).toMatch(/^document 1: line \d+, column \d+: /);
  });
});

describe('loadConfigFromText reserved forwardHeaders names', () => {
  const reserved = [
    'Host', 'Content-Length', 'Transfer-Encoding', 'Connection', 'Keep-Alive', 'Upgrade', 'TE', 'Trailer', 'Cookie', 'Set-Cookie',
    'Location', 'Authorization', 'Proxy-Authorization', 'X-Auth-Location', 'X-Forward-Auth-Proxy', 'X-Forwarded-For', 'X-Forwarded-Host',
    'X-Forwarded-Proto', 'X-Forwarded-Port', 'X-Forwarded-Uri', 'X-Forwarded-Method', 'X-Forwarded-Server', 'X-Forwarded-Prefix',
    'X-Forwarded-Ssl', 'X-Forwarded-Tls-Client-Cert', 'X-Forwarded-Tls-Client-Cert-Info', 'X-Real-Ip', 'X-Original-URI', 'X-Original-Method',
    'Forwarded', 'X-Scheme', 'X_Forwarded_Host',
  ];

  it.each(reserved)('refuses %s', async (header) => {
    const problems = await problemsOf(configWith({ forwardHeaders: { [header]: 'sub' } }));
    expect(problems).toEqual([`middlewares.app.forwardHeaders.${header}: "${header}" is a header the proxies or HTTP itself rely on and cannot carry a claim`]);
  });

  it('keeps the identity headers people use, X-Forwarded-User, -Groups and -Email among them', async () => {
    const forwardHeaders = { 'X-Forwarded-User': 'sub', 'X-Forwarded-Groups': 'groups', 'X-Forwarded-Email': 'email', 'X-Auth-Request-User': 'sub', 'Remote-User': 'sub' };
    const config = await configOf(configWith({ forwardHeaders }));
    expect(config.middlewares['app']?.forwardHeaders).toEqual(forwardHeaders);
  });
});

describe('loadConfigFromText cookie name prefixes', () => {
  it('accepts __Host- names with secure, path / and no domain, and __Secure- names with secure and a domain', async () => {
    const config = await configOf(
      configWith({ session: { name: '__Host-app', secure: true }, stateCookie: { name: '__Secure-app-state', secure: true, domain: 'example.com', path: '/app' } }),
    );
    expect(config.middlewares['app']?.session.name).toBe('__Host-app');
    expect(config.middlewares['app']?.stateCookie.name).toBe('__Secure-app-state');
  });

  it('reports every rule a __Host- name breaks at once', async () => {
    const problems = await problemsOf(configWith({ session: { name: '__Host-app', domain: 'example.com', path: '/app' } }));
    expect(problems).toEqual([
      'middlewares.app.session.domain: must not be set with the __Host- cookie name "__Host-app" (browsers drop such cookies)',
      'middlewares.app.session.path: must be "/" with the __Host- cookie name "__Host-app" (got "/app"; browsers drop such cookies)',
      'middlewares.app.session.secure: must be true with the __Host- cookie name "__Host-app" (browsers drop such cookies)',
    ]);
  });
});

describe('loadConfigFromText warnings', () => {
  it('warns when a cookie is not secure while the middleware is served over https, and still loads', async () => {
    const config = await configOf(configWith({ redirectUrl: 'https://app.example.com/callback', session: { secure: true }, csrf: {} }));
    expect(config.warnings).toEqual([
      'middlewares.app.stateCookie.secure: is false while redirectUrl is https; the cookie would also travel over plain http (set secure: true)',
      'middlewares.app.csrf.secure: is false while redirectUrl is https; the cookie would also travel over plain http (set secure: true)',
    ]);
  });

  it('warns about insecure cookies when another URL of the middleware is https, naming it', async () => {
    const config = await configOf(configWith({ redirectUrl: '/callback', logoutUrl: 'https://app.example.com/logout', session: { secure: true }, stateCookie: { secure: true } }));
    expect(config.warnings).toEqual([]);
    const insecure = await configOf(configWith({ redirectUrl: '/callback', logoutUrl: 'https://app.example.com/logout', stateCookie: { secure: true } }));
    expect(insecure.warnings).toEqual(['middlewares.app.session.secure: is false while logoutUrl is https; the cookie would also travel over plain http (set secure: true)']);
  });

  it('does not warn about insecure cookies when the redirectUrl is a path or http', async () => {
    expect((await configOf(configWith({ redirectUrl: '/callback', csrf: {} }))).warnings).toEqual([]);
    expect((await configOf(configWith({ redirectUrl: 'http://localhost:8080/callback' }))).warnings).toEqual([]);
  });

  it('warns about sameSite none without secure, and still loads', async () => {
    const config = await configOf(configWith({ session: { sameSite: 'none' } }));
    expect(config.warnings).toEqual(['middlewares.app.session.sameSite: is "none" without secure: true; browsers reject such cookies']);
  });

  it('warns that a Redis database is ignored in cluster mode, and uses 0', async () => {
    const config = await configOf(configWith({ session: { store: { redis: { endpoints: ['r:6379'], cluster: true, database: 3 } } } }));
    expect(config.warnings).toEqual(['middlewares.app.session.store.redis.database: is ignored with cluster: true (Redis Cluster only has database 0)']);
    expect(config.middlewares['app']?.session.store?.redis.database).toBe(0);
  });
});

describe('loadConfigFromText formats', () => {
  it('reads JSON', async () => {
    const json = JSON.stringify({ server: { secrets: [SECRET] }, middlewares: { app: baseMiddleware } }, null, '\t');
    const config = await configOf(json);
    expect(config.middlewares['app']?.issuer).toBe(baseMiddleware.issuer);
  });

  it('reports broken JSON with a line and column', async () => {
    const problems = await problemsOf('{"server": {"secrets": ["x"]}, "middlewares": {');
    expect(problems[0]).toMatch(/^document 1: line 1, column \d+: /);
  });

  it('reads several Traefik Middleware manifests from one file, keeping their namespace', async () => {
    const text = [
      stringify({ server: { secrets: [SECRET] } }),
      stringify({ apiVersion: 'traefik.io/v1alpha1', kind: 'Middleware', metadata: { name: 'one', namespace: 'team-a' }, spec: { plugin: { oidc: baseMiddleware } } }),
      stringify({ apiVersion: 'traefik.containo.us/v1alpha1', kind: 'Middleware', metadata: { name: 'two' }, spec: { plugin: { oidc: { ...baseMiddleware, scopes: ['openid', 'email'] } } } }),
    ].join('---\n');
    const config = await configOf(text);
    expect(Object.keys(config.middlewares)).toEqual(['one', 'two']);
    expect(config.middlewares['one']).toMatchObject({ name: 'one', namespace: 'team-a', stateCookie: { name: 'one-state' } });
    expect(config.middlewares['two']).toMatchObject({ namespace: undefined, scopes: ['openid', 'email'] });
  });

  it('ignores other kinds of manifests with a warning', async () => {
    const text = [
      configWith({}),
      stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'my-secret' }, stringData: { clientSecret: 'x' } }),
      stringify({ apiVersion: 'traefik.io/v1alpha1', kind: 'Middleware', metadata: { name: 'strip' }, spec: { stripPrefix: { prefixes: ['/a'] } } }),
    ].join('---\n');
    const config = await configOf(text);
    expect(config.warnings).toEqual([
      'document 2: ignoring Secret "my-secret": only Traefik Middleware manifests configure this service',
      'document 3: ignoring Middleware "strip": it has no spec.plugin.oidc',
    ]);
  });

  it('rejects two middlewares of the same name, wherever they are defined', async () => {
    const text = [
      configWith({}),
      stringify({ apiVersion: 'traefik.io/v1alpha1', kind: 'Middleware', metadata: { name: 'app', namespace: 'ns' }, spec: { plugin: { oidc: baseMiddleware } } }),
    ].join('---\n');
    expect(await problemsOf(text)).toEqual(['middlewares.app: is defined more than once (document 1 and document 2, namespace ns)']);
  });

  it('names problems inside a manifest by the middleware name', async () => {
    const text = [
      stringify({ server: { secrets: [SECRET] } }),
      stringify({ apiVersion: 'traefik.io/v1alpha1', kind: 'Middleware', metadata: { name: 'web' }, spec: { plugin: { oidc: { ...baseMiddleware, scopes: ['profile'] } } } }),
    ].join('---\n');
    expect(await problemsOf(text)).toEqual(['middlewares.web.scopes: must include "openid"']);
  });
});

describe('loadConfigFromText secret references', () => {
  it('reads env: references', async () => {
    const config = await configOf(configWith({ clientSecret: 'env:APP_CLIENT_SECRET' }, { secrets: ['env:OFA_SECRET'] }), {
      APP_CLIENT_SECRET: 'from-env',
      OFA_SECRET: 'e'.repeat(40),
    });
    expect(config.middlewares['app']?.clientSecret).toBe('from-env');
    expect(config.server.secrets).toEqual(['e'.repeat(40)]);
  });

  it('reports an unset env: variable by path and name, without any value', async () => {
    expect(await problemsOf(configWith({ clientSecret: 'env:FOO' }))).toEqual(['middlewares.app.clientSecret: env:FOO is not set']);
  });

  it('checks the length of a server secret after reading its reference', async () => {
    expect(await problemsOf(configWith({}, { secrets: ['env:SHORT'] }), { SHORT: 'tiny' })).toEqual([
      'server.secrets[0]: must be at least 32 characters long (make one with "oidc-forward-auth gen-secret")',
    ]);
  });

  it('reads file: references relative to the configuration file, dropping the final line break', async () => {
    const read: string[] = [];
    const result = await loadConfigFromText(configWith({ clientSecret: 'file:secrets/client', clientConfig: { tls: { ca: 'file:/pki/ca.pem' } } }), '/etc/ofa/config.yaml', {
      env: {},
      readFile: async (path) => {
        read.push(path);
        return path === '/pki/ca.pem' ? 'PEM\n' : 'from-file\n';
      },
    });
    expect(result.ok && result.config.middlewares['app']?.clientSecret).toBe('from-file');
    expect(result.ok && result.config.middlewares['app']?.clientConfig.tls.ca).toBe('PEM');
    expect(read.sort()).toEqual(['/etc/ofa/secrets/client', '/pki/ca.pem']);
  });

  it('reports an unreadable file: reference', async () => {
    const result = await loadConfigFromText(configWith({ clientSecret: 'file:/run/missing' }), 'c.yaml', {
      env: {},
      readFile: async () => Promise.reject(Object.assign(new Error('ENOENT: /run/missing'), { code: 'ENOENT' })),
    });
    expect(result).toEqual({ ok: false, problems: ['middlewares.app.clientSecret: file:/run/missing could not be read: no such file'] });
  });

  it('reports unresolvable references in option order, however long each read takes', async () => {
    const kube = {
      defaultNamespace: 'ns',
      readSecret: async () => {
        await new Promise((resolve) => setImmediate(resolve));
        return {};
      },
    };
    const result = await loadConfigFromText(configWith({ clientID: 'urn:k8s:secret:s:id', clientSecret: 'env:MISSING' }), 'c.yaml', { env: {}, kube });
    expect(result).toEqual({
      ok: false,
      problems: [
        'middlewares.app.clientID: urn:k8s:secret:s:id: secret "s" has no key "id" (it is empty)',
        'middlewares.app.clientSecret: env:MISSING is not set',
      ],
    });
  });

  it('reports a malformed urn:k8s:secret reference', async () => {
    expect(await problemsOf(configWith({ clientSecret: 'urn:k8s:secret:only-name' }))).toEqual([
      'middlewares.app.clientSecret: "urn:k8s:secret:only-name" is not a valid reference (urn:k8s:secret:NAME:KEY)',
    ]);
  });

  it('reports urn:k8s:secret references outside Kubernetes', async () => {
    expect(await problemsOf(configWith({ clientSecret: 'urn:k8s:secret:s:k' }))).toEqual([
      'middlewares.app.clientSecret: urn:k8s:secret:s:k could not be read: not running in Kubernetes (KUBERNETES_SERVICE_HOST is not set)',
    ]);
  });

  it('reads urn:k8s:secret references from the middleware namespace, else the pod namespace, once per secret', async () => {
    const reads: string[] = [];
    const kube = {
      defaultNamespace: 'pod-ns',
      readSecret: async (namespace: string, name: string) => {
        reads.push(`${namespace}/${name}`);
        return { id: `id-${namespace}`, secret: `secret-${namespace}`, session: 'p'.repeat(32) };
      },
    };
    const text = [
      stringify({ server: { secrets: ['urn:k8s:secret:ofa:session'] } }),
      stringify({ apiVersion: 'traefik.io/v1alpha1', kind: 'Middleware', metadata: { name: 'web', namespace: 'team' }, spec: { plugin: { oidc: { ...baseMiddleware, clientID: 'urn:k8s:secret:oidc:id', clientSecret: 'urn:k8s:secret:oidc:secret' } } } }),
    ].join('---\n');
    const result = await loadConfigFromText(text, 'c.yaml', { env: {}, kube });
    expect(result.ok && result.config.middlewares['web']).toMatchObject({ clientID: 'id-team', clientSecret: 'secret-team' });
    expect(result.ok && result.config.server.secrets).toEqual(['p'.repeat(32)]);
    expect(reads.sort()).toEqual(['pod-ns/ofa', 'team/oidc']);
  });

  it('reports a key the Kubernetes secret does not have, listing the keys it has', async () => {
    const kube = { defaultNamespace: 'ns', readSecret: async () => ({ clientID: 'x', clientSecret: 'y' }) };
    const result = await loadConfigFromText(configWith({ clientID: 'urn:k8s:secret:my-secret:clientId' }), 'c.yaml', { env: {}, kube });
    expect(result).toEqual({
      ok: false,
      problems: ['middlewares.app.clientID: urn:k8s:secret:my-secret:clientId: secret "my-secret" has no key "clientId" (it has "clientID", "clientSecret")'],
    });
  });
});

describe('loadConfig', () => {
  it('returns a deep-frozen configuration that cannot be changed', async () => {
    const result = await loadConfig('/etc/ofa/config.yaml', { env: {}, readFile: async () => configWith({ forwardHeaders: { 'X-User': 'sub' } }) });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    const config = result.config;
    expect(() => {
      (config.server.secrets as string[]).push('another');
    }).toThrow(TypeError);
    expect(() => {
      (config.middlewares['app'] as { issuer: string }).issuer = 'https://evil.example';
    }).toThrow(TypeError);
    expect(() => {
      (config.middlewares['app']?.forwardHeaders as Record<string, string>)['X-Admin'] = 'sub';
    }).toThrow(TypeError);
    expect(() => {
      (config.middlewares['app']?.session as { expiry: number }).expiry = 1;
    }).toThrow(TypeError);
    expect(Object.isFrozen(config.middlewares['app']?.clientConfig.tls)).toBe(true);
  });

  it('finds no middleware under names that Object.prototype carries', async () => {
    const result = await loadConfig('c.yaml', { env: {}, readFile: async () => configWith({}) });
    if (!result.ok) throw new Error(result.problems.join('\n'));
    expect(result.config.middlewares['constructor']).toBeUndefined();
    expect(result.config.middlewares['toString']).toBeUndefined();
  });

  it('reports a configuration file that cannot be read', async () => {
    const result = await loadConfig('/nowhere.yaml', { env: {}, readFile: async () => Promise.reject(Object.assign(new Error('x'), { code: 'ENOENT' })) });
    expect(result).toEqual({ ok: false, problems: ['cannot read the configuration file: no such file'] });
  });
});

describe('server.workers', () => {
  it('is a whole number from 1 to 64', async () => {
    expect((await configOf(configWith({}, { workers: 2, metricsListen: '127.0.0.1:9464' }))).server.workers).toBe(2);
    expect(await problemsOf(configWith({}, { workers: 0 }))).toEqual(['server.workers: must be 1 or more (got 0)']);
    expect(await problemsOf(configWith({}, { workers: 1.5 }))).toEqual(['server.workers: must be a whole number (got 1.5)']);
    expect(await problemsOf(configWith({}, { workers: 65 }))).toEqual(['server.workers: must be 64 or fewer (got 65)']);
  });

  it('warns where several workers change what a setting means: metrics on listen, cookie sessions refreshing', async () => {
    const warnings = (await configOf(configWith({}, { workers: 2 }))).warnings;
    expect(warnings.some((warning) => warning.startsWith('server.workers: /metrics on server.listen shows only'))).toBe(true);
    expect(warnings.some((warning) => warning.startsWith('middlewares.app.session: with server.workers above 1'))).toBe(true);
    const quiet = await configOf(configWith({ session: { refresh: false } }, { workers: 2, metricsListen: '127.0.0.1:9464' }));
    expect(quiet.warnings).toEqual([]);
    expect((await configOf(configWith({}))).warnings).toEqual([]);
  });
});
