import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfigFromText, type LoadConfigResult } from '../../src/config/index.js';
import { securityWarnings } from '../../src/config/security-warnings.js';

const baseMiddleware = { issuer: 'https://id.example.com', redirectUrl: '/callback', clientID: 'app', clientSecret: 'client-secret-value' };

function load(middleware: Record<string, unknown>): Promise<LoadConfigResult> {
  const text = stringify({ server: { secrets: ['k'.repeat(32)] }, middlewares: { app: { ...baseMiddleware, ...middleware } } });
  return loadConfigFromText(text, '/etc/ofa/config.yaml', { env: {}, readFile: async () => Promise.reject(new Error('no files here')) });
}

async function problemsOf(middleware: Record<string, unknown>): Promise<string[]> {
  const result = await load(middleware);
  if (result.ok) throw new Error('expected the configuration to be rejected');
  return result.problems;
}

async function configOf(middleware: Record<string, unknown>) {
  const result = await load(middleware);
  if (!result.ok) throw new Error(`expected a valid configuration, got:\n${result.problems.join('\n')}`);
  return result.config;
}

describe('applicationTokens, userinfoUrl and allowCorsPreflight in the configuration', () => {
  it('are off by default', async () => {
    const app = (await configOf({})).middlewares['app'];
    expect(app?.applicationTokens).toBeUndefined();
    expect(app?.userinfoUrl).toBeUndefined();
    expect(app?.allowCorsPreflight ?? false).toBe(false);
  });

  it('read the token headers, the userinfo URL and the preflight switch', async () => {
    const app = (await configOf({
      applicationTokens: { accessTokenHeader: 'Authorization', idTokenHeader: 'X-Forwarded-Id-Token' },
      userinfoUrl: '/oauth2/userinfo',
      allowCorsPreflight: true,
    })).middlewares['app'];
    expect(app?.applicationTokens).toEqual({ accessTokenHeader: 'Authorization', idTokenHeader: 'X-Forwarded-Id-Token' });
    expect(app?.userinfoUrl).toBe('/oauth2/userinfo');
    expect(app?.allowCorsPreflight).toBe(true);
  });

  it('name the middleware and field of every mistake', async () => {
    expect(await problemsOf({ applicationTokens: {} })).toEqual([
      'middlewares.app.applicationTokens: names no header: set accessTokenHeader, idTokenHeader or both (or leave applicationTokens out)',
    ]);
    expect(
      await problemsOf({
        forwardHeaders: { 'X-Forwarded-User': 'email' },
        applicationTokens: { accessTokenHeader: 'x-forwarded-user', idTokenHeader: 'Cookie', refreshTokenHeader: 'X-Refresh' },
        userinfoUrl: 'ftp://x/y',
        allowCorsPreflight: 'yes',
      }),
    ).toEqual(
      [
        'middlewares.app.applicationTokens.refreshTokenHeader: unknown option (did you mean "accessTokenHeader"?)',
        'middlewares.app.applicationTokens.accessTokenHeader: "x-forwarded-user" is already a forwardHeaders entry',
        'middlewares.app.applicationTokens.idTokenHeader: "Cookie" is a header the proxies or HTTP itself rely on and cannot carry a token',
        'middlewares.app.allowCorsPreflight: must be true or false (got a string)',
        'middlewares.app.userinfoUrl: scheme "ftp:" is not supported (only http and https)',
      ],
    );
    expect(await problemsOf({ applicationTokens: { accessTokenHeader: 'X-Token', idTokenHeader: 'x-token' } })).toEqual([
      'middlewares.app.applicationTokens.idTokenHeader: names the same header as accessTokenHeader (header names ignore case)',
    ]);
  });

  it('make check warn: tokens over the plain-http hop to the application, in cookies, and unauthenticated preflights', async () => {
    const config = await configOf({ applicationTokens: { accessTokenHeader: 'Authorization' }, allowCorsPreflight: true });
    const warnings = securityWarnings(config).filter((warning) => warning.startsWith('middlewares.app.'));
    expect(warnings).toEqual([
      expect.stringMatching(/^middlewares\.app\.applicationTokens: hands the application the user's tokens in Authorization: .*plain http/),
      expect.stringMatching(/^middlewares\.app\.applicationTokens: sessions are cookies, .*session\.store\.redis/),
      expect.stringMatching(/^middlewares\.app\.allowCorsPreflight: /),
    ]);
    expect(securityWarnings(await configOf({})).filter((warning) => warning.startsWith('middlewares.app.'))).toEqual([]);
  });
});
