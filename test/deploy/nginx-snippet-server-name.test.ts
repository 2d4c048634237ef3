/**
 * The shipped nginx snippet answers on `server_name _`, which matches any Host a client sends:
 * fine for a first try, wrong in production. The snippet must say so where the name is set.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SNIPPET = readFileSync(resolve(dirname(fileURLToPath(import.meta.url)), '../../nginx/oidc-forward-auth.conf'), 'utf8');

describe('nginx/oidc-forward-auth.conf', () => {
  it('tells the reader, right above `server_name _;`, to set the real host name because `_` accepts any Host', () => {
    const lines = SNIPPET.split('\n');
    const at = lines.findIndex((line) => line.trim() === 'server_name _;');
    expect(at).toBeGreaterThan(-1);
    const comment = lines
      .slice(0, at)
      .reverse()
      .slice(0, lines.slice(0, at).reverse().findIndex((line) => !line.trim().startsWith('#')))
      .reverse()
      .join(' ');
    expect(comment).toMatch(/real host name/i);
    expect(comment).toMatch(/any Host/);
  });
});
