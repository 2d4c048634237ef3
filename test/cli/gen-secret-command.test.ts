import { describe, expect, it } from 'vitest';
import { runGenSecretCommand } from '../../src/cli/gen-secret-command.js';
import type { CliIo } from '../../src/cli/io.js';

function captureIo(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return { stdout: (text) => (out += text), stderr: (text) => (err += text), env: {}, out: () => out, err: () => err };
}

describe('gen-secret command', () => {
  it('prints 32 random bytes as base64url, long enough for server.secrets', async () => {
    const io = captureIo();
    expect(await runGenSecretCommand([], io)).toBe(0);
    const secret = io.out().trimEnd();
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
  });

  it('prints a different secret each time', async () => {
    const first = captureIo();
    const second = captureIo();
    await runGenSecretCommand([], first);
    await runGenSecretCommand([], second);
    expect(first.out()).not.toBe(second.out());
  });

  it('rejects arguments it does not know with exit 2', async () => {
    const io = captureIo();
    expect(await runGenSecretCommand(['--length', '8'], io)).toBe(2);
    expect(io.err()).toContain('unknown argument "--length"');
    expect(io.out()).toBe('');
  });
});
