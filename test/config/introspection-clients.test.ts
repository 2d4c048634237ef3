/**
 * Issue 17 item 11: `bearerTokens.introspection.clientsWithoutAudience`, the clients whose tokens
 * pass when an introspection answer names no audience, as the configuration loader reads it.
 */
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { loadConfigFromText, type LoadConfigResult } from '../../src/config/index.js';

const base = { issuer: 'https://id.example.com', redirectUrl: '/callback', clientID: 'app', clientSecret: 's' };

function load(introspection: unknown): Promise<LoadConfigResult> {
  const middleware = { ...base, bearerTokens: { audiences: ['https://api.example.com'], introspection } };
  const text = stringify({ server: { secrets: ['k'.repeat(32)] }, middlewares: { app: middleware } });
  return loadConfigFromText(text, '/etc/ofa/config.yaml', { env: {}, readFile: async () => Promise.reject(new Error('no files here')) });
}

describe('bearerTokens.introspection.clientsWithoutAudience', () => {
  it('is absent by default: an answer without aud is refused', async () => {
    const result = await load({});
    expect(result.ok && result.config.middlewares['app']?.bearerTokens?.introspection?.clientsWithoutAudience).toBeUndefined();
  });

  it('reads a list of client IDs', async () => {
    const result = await load({ clientsWithoutAudience: ['cli-tool', 'batch-job'] });
    expect(result.ok && result.config.middlewares['app']?.bearerTokens?.introspection?.clientsWithoutAudience).toEqual(['cli-tool', 'batch-job']);
  });

  it('refuses anything but a list of non-empty strings, naming the field', async () => {
    for (const [value, problem] of [
      ['cli-tool', /^middlewares\.app\.bearerTokens\.introspection\.clientsWithoutAudience: must be a list of strings/],
      [['cli-tool', 7], /^middlewares\.app\.bearerTokens\.introspection\.clientsWithoutAudience\[1\]: must be a string/],
      [[''], /^middlewares\.app\.bearerTokens\.introspection\.clientsWithoutAudience: must list client IDs/],
    ] as const) {
      const result = await load({ clientsWithoutAudience: value });
      expect(result.ok).toBe(false);
      if (!result.ok) expect(result.problems).toEqual([expect.stringMatching(problem)]);
    }
  });
});
