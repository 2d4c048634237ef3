import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfigFromText, maskConfig } from '../../src/config/index.js';

describe('maskConfig', () => {
  it('hides confidential values, says where referenced ones came from, and shows identifiers', async () => {
    const text = stringify({
      server: { secrets: ['s'.repeat(32), 'env:OLD_SECRET'] },
      middlewares: {
        app: {
          issuer: 'https://id.example.com',
          redirectUrl: '/callback',
          clientID: 'env:CLIENT_ID',
          clientSecret: 'literal-client-secret',
          clientConfig: { tls: { cert: 'CERT-PEM', key: 'env:TLS_KEY' } },
          session: {
            maxLifetime: 43200,
            store: {
              redis: {
                endpoints: ['r:26379'],
                username: 'redis-user',
                password: 'redis-password',
                tls: { cert: 'R-CERT', key: 'redis-tls-key' },
                sentinel: { masterSet: 'm', password: 'sentinel-password' },
              },
            },
          },
        },
      },
    });
    const env = { OLD_SECRET: 'o'.repeat(32), CLIENT_ID: 'my-client', TLS_KEY: 'tls-private-key' };
    const result = await loadConfigFromText(text, 'c.yaml', { env });
    if (!result.ok) throw new Error(result.problems.join('\n'));

    const masked = maskConfig(result.config);
    expect(masked).toMatchObject({
      server: { secrets: ['***', 'env:OLD_SECRET → ***'] },
      middlewares: {
        app: {
          clientID: 'env:CLIENT_ID → my-client',
          clientSecret: '***',
          clientConfig: { tls: { cert: 'CERT-PEM', key: 'env:TLS_KEY → ***' } },
          session: {
            maxLifetime: 43200,
            store: {
              redis: {
                username: 'redis-user',
                password: '***',
                tls: { cert: 'R-CERT', key: '***' },
                sentinel: { masterSet: 'm', password: '***' },
              },
            },
          },
        },
      },
    });
    const shown = JSON.stringify(masked);
    for (const value of ['s'.repeat(32), 'o'.repeat(32), 'literal-client-secret', 'tls-private-key', 'redis-password', 'redis-tls-key', 'sentinel-password']) {
      expect(shown).not.toContain(value);
    }
  });
});
