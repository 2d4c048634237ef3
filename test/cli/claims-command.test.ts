import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runClaimsCommand } from '../../src/cli/claims-command.js';
import type { CliIo } from '../../src/cli/io.js';

function captureIo(): CliIo & { out: () => string; err: () => string } {
  let out = '';
  let err = '';
  return {
    stdout: (text) => { out += text; },
    stderr: (text) => { err += text; },
    env: {},
    out: () => out,
    err: () => err,
  };
}

describe('oidc-forward-auth claims', () => {
  let dir: string;
  let idTokenFile: string;
  let accessTokenFile: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ofa-claims-'));
    idTokenFile = join(dir, 'id.json');
    accessTokenFile = join(dir, 'access.json');
    await writeFile(idTokenFile, JSON.stringify({ grp: 'admin', areas: ['office', 'home'], user: { name: 'John Snow' } }));
    await writeFile(accessTokenFile, JSON.stringify({ scope: 'reader writer' }));
    await writeFile(join(dir, 'array.json'), '["grp"]');
    await writeFile(join(dir, 'broken.json'), '{"grp": ');
  });

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints true and the explanation, exiting 0', async () => {
    const io = captureIo();
    const code = await runClaimsCommand(['--expr', 'Equals(`grp`, `admin`) && Equals(`user.name`, `John Snow`)', '--id-token-claims', idTokenFile], io);
    expect(code).toBe(0);
    expect(io.out()).toBe([
      'true',
      'true  &&',
      '  true  Equals(`grp`, `admin`)  [string]',
      '  true  Equals(`user.name`, `John Snow`)  [string]',
      '',
    ].join('\n'));
    expect(io.err()).toBe('');
  });

  it('prints false when the expression does not hold, still exiting 0', async () => {
    const io = captureIo();
    const code = await runClaimsCommand(['--expr=OneOf(`areas`, `lab`)', `--id-token-claims=${idTokenFile}`], io);
    expect(code).toBe(0);
    expect(io.out().split('\n')[0]).toBe('false');
  });

  it('reads the access token claims when given', async () => {
    const expr = 'SplitContains(`access_token.scope`, ` `, `writer`)';
    const without = captureIo();
    await runClaimsCommand(['--expr', expr, '--id-token-claims', idTokenFile], without);
    expect(without.out()).toContain('[no access token]');
    expect(without.out().split('\n')[0]).toBe('false');
    const withToken = captureIo();
    expect(await runClaimsCommand(['--expr', expr, '--id-token-claims', idTokenFile, '--access-token-claims', accessTokenFile], withToken)).toBe(0);
    expect(withToken.out().split('\n')[0]).toBe('true');
  });

  it('exits 2 on a syntax error with the column and a caret under the expression', async () => {
    const io = captureIo();
    const code = await runClaimsCommand(['--expr', 'Equals(`a`,\t`b` && x', '--id-token-claims', idTokenFile], io);
    expect(code).toBe(2);
    expect(io.out()).toBe('');
    expect(io.err()).toBe([
      'claims: syntax error at column 17: expected ")" but found "&&" (Equals takes 2 arguments)',
      '  Equals(`a`, `b` && x',
      '                  ^',
      '',
    ].join('\n'));
  });

  it('checks the syntax before reading any file', async () => {
    const io = captureIo();
    expect(await runClaimsCommand(['--expr', 'Nope', '--id-token-claims', join(dir, 'missing.json')], io)).toBe(2);
  });

  it.each([
    [[], '--expr is required'],
    [['--expr', 'Equals(`a`, `b`)'], '--id-token-claims is required'],
    [['--expr'], '--expr needs a value'],
    [['--expr', 'x', '--expr', 'y'], '--expr given twice'],
    [['--verbose'], 'unknown argument "--verbose"'],
  ])('exits 1 with usage for %j', async (argv, message) => {
    const io = captureIo();
    expect(await runClaimsCommand(argv, io)).toBe(1);
    expect(io.err()).toContain(`claims: ${message}`);
    expect(io.err()).toContain('usage: oidc-forward-auth claims');
  });

  it.each([
    ['missing.json', 'cannot read'],
    ['broken.json', 'is not valid JSON'],
    ['array.json', 'must hold a JSON object of claims'],
  ])('exits 1 when the claims file %s is unusable', async (name, message) => {
    const io = captureIo();
    const code = await runClaimsCommand(['--expr', 'Equals(`a`, `b`)', '--id-token-claims', idTokenFile, '--access-token-claims', join(dir, name)], io);
    expect(code).toBe(1);
    expect(io.err()).toContain('--access-token-claims');
    expect(io.err()).toContain(message);
    expect(io.out()).toBe('');
  });

  it('prints usage on --help and exits 0', async () => {
    const io = captureIo();
    expect(await runClaimsCommand(['--help'], io)).toBe(0);
    expect(io.out()).toContain('usage: oidc-forward-auth claims --expr EXPR');
  });
});
