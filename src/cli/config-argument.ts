import type { CliIo } from './io.js';

export const CONFIG_ENV = 'OIDC_FORWARD_AUTH_CONFIG';

export type ConfigArguments = { readonly config: string | undefined } | { readonly help: true } | { readonly error: string };

/** `--config FILE`, `--config=FILE` or `-c FILE`; the file may instead come from OIDC_FORWARD_AUTH_CONFIG. */
export function parseConfigArguments(argv: readonly string[], env: NodeJS.ProcessEnv): ConfigArguments {
  let config: string | undefined;
  for (let index = 0; index < argv.length; index += 1) {
    const argument = argv[index] ?? '';
    if (argument === '--help' || argument === '-h') return { help: true };
    if (argument === '--config' || argument === '-c') {
      const value = argv[index + 1];
      if (value === undefined || value === '') return { error: `${argument} needs a file name` };
      config = value;
      index += 1;
    } else if (argument.startsWith('--config=')) {
      config = argument.slice('--config='.length);
    } else {
      return { error: `unknown argument "${argument}"` };
    }
  }
  const fromEnv = env[CONFIG_ENV];
  return { config: config ?? (fromEnv === '' ? undefined : fromEnv) };
}

export function reportProblems(file: string, problems: readonly string[], io: CliIo): void {
  for (const problem of problems) io.stderr(`${file}: ${problem}\n`);
  io.stderr(`${file}: invalid (${problems.length} problem${problems.length === 1 ? '' : 's'})\n`);
}
