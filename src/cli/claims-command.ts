import { readFile } from 'node:fs/promises';
import { ClaimsSyntaxError, compileClaims } from '../claims/index.js';
import type { CliIo } from './io.js';

const USAGE = `usage: oidc-forward-auth claims --expr EXPR --id-token-claims FILE [--access-token-claims FILE]

Evaluates a claims expression against claim sets (JSON objects) and explains the result.
Prints true or false, then the value of every sub-expression.
Exit status: 0 when evaluated (true or false), 1 on a usage or file error, 2 on a syntax error.
`;

const OPTIONS = new Set(['--expr', '--id-token-claims', '--access-token-claims']);

interface Options {
  readonly expr: string;
  readonly idTokenClaims: string;
  readonly accessTokenClaims: string | undefined;
}

class UsageError extends Error {}

function parseArgs(argv: readonly string[]): Options | 'help' {
  const values = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return 'help';
    const eq = arg.indexOf('=');
    const name = arg.startsWith('--') && eq !== -1 ? arg.slice(0, eq) : arg;
    if (!OPTIONS.has(name)) throw new UsageError(`unknown argument "${arg}"`);
    if (values.has(name)) throw new UsageError(`${name} given twice`);
    let value: string | undefined;
    if (eq !== -1 && name !== arg) {
      value = arg.slice(eq + 1);
    } else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined) throw new UsageError(`${name} needs a value`);
    values.set(name, value);
  }
  const expr = values.get('--expr');
  const idTokenClaims = values.get('--id-token-claims');
  const accessTokenClaims = values.get('--access-token-claims');
  if (expr === undefined) throw new UsageError('--expr is required');
  if (idTokenClaims === undefined) throw new UsageError('--id-token-claims is required');
  return { expr, idTokenClaims, accessTokenClaims };
}

async function readClaimsFile(path: string, option: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unknown error';
    throw new UsageError(`${option}: cannot read ${path} (${code})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new UsageError(`${option}: ${path} is not valid JSON`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new UsageError(`${option}: ${path} must hold a JSON object of claims`);
  }
  return parsed as Record<string, unknown>;
}

/** The expression on one line (tabs and newlines shown as spaces so the caret lines up) and a caret under `position`. */
function caretLines(source: string, position: number): string {
  const shown = source.replace(/[\t\n\r]/g, ' ');
  return `  ${shown}\n  ${' '.repeat(position)}^\n`;
}

/** `argv` is what follows the command name: `oidc-forward-auth claims <argv…>`. */
export async function runClaimsCommand(argv: string[], io: CliIo): Promise<number> {
  let options: Options;
  try {
    const parsed = parseArgs(argv);
    if (parsed === 'help') {
      io.stdout(USAGE);
      return 0;
    }
    options = parsed;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`claims: ${error.message}\n${USAGE}`);
    return 1;
  }
  const expr = options.expr;

  let compiled;
  try {
    compiled = compileClaims(expr);
  } catch (error) {
    if (!(error instanceof ClaimsSyntaxError)) throw error;
    io.stderr(`claims: syntax error ${error.message}\n${caretLines(expr, error.position)}`);
    return 2;
  }

  try {
    const idToken = await readClaimsFile(options.idTokenClaims, '--id-token-claims');
    const accessToken = options.accessTokenClaims === undefined
      ? undefined
      : await readClaimsFile(options.accessTokenClaims, '--access-token-claims');
    io.stdout(`${compiled.explain({ idToken, accessToken }).join('\n')}\n`);
    return 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`claims: ${error.message}\n`);
    return 1;
  }
}
