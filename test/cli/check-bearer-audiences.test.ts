/**
 * Issue 17 item 10: `check` warns when bearerTokens.audiences names the client ID, the setup under
 * which the provider's ID tokens verify like access tokens for this API.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCheckCommand } from '../../src/cli/check-command.js';
import type { CliIo } from '../../src/cli/io.js';

const SESSION_SECRET = 'session-secret-0123456789-abcdefghij';

function configWithAudiences(audiences: readonly string[]): string {
  return `server:
  secrets: ["${SESSION_SECRET}"]
middlewares:
  api:
    issuer: https://idp.example.com
    redirectUrl: /callback
    clientID: "env:API_CLIENT_ID"
    clientSecret: client-secret-value
    bearerTokens:
      audiences: ${JSON.stringify(audiences)}
      allowPlainJwt: true
`;
}

describe('check on bearerTokens.audiences', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ofa-check-audiences-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function check(audiences: readonly string[]): Promise<{ status: number; err: string }> {
    const file = join(dir, 'config.yaml');
    await writeFile(file, configWithAudiences(audiences));
    let err = '';
    const io: CliIo = { stdout: () => undefined, stderr: (text) => (err += text), env: { API_CLIENT_ID: 'my-app' } };
    return { status: await runCheckCommand(['--config', file], io), err };
  }

  it('warns when the audiences contain the client ID, resolved from its secret reference', async () => {
    const { status, err } = await check(['https://api.example.com', 'my-app']);
    expect(status).toBe(0);
    expect(err).toMatch(/warning: middlewares\.api\.bearerTokens\.audiences: contains the clientID; ID tokens/);
    expect(err).not.toContain('client-secret-value');
  });

  it('says nothing when the audiences are the API\'s own', async () => {
    const { status, err } = await check(['https://api.example.com']);
    expect(status).toBe(0);
    expect(err).not.toContain('bearerTokens.audiences');
  });
});
