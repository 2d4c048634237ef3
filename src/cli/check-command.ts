import { stringify } from 'yaml';
import { loadConfig, maskConfig, type LoadConfigDeps } from '../config/index.js';
import { bearerAudienceWarnings } from '../config/api-access-options.js';
import { securityWarnings } from '../config/security-warnings.js';
import { CONFIG_ENV, parseConfigArguments, reportProblems } from './config-argument.js';
import type { CliIo } from './io.js';

const USAGE = `usage: oidc-forward-auth check [--config FILE]

Loads FILE (or $${CONFIG_ENV}), resolves its secret references and prints the resulting
configuration with secrets masked. Exit status: 0 valid, 1 invalid, 2 usage error.
`;

/**
 * `check`: validate a configuration without starting anything. `argv` holds the arguments after
 * the command name. The configuration goes to stdout as YAML; warnings and problems go to stderr,
 * one per line, prefixed with the file name. `deps` lets tests supply a Kubernetes API.
 */
export async function runCheckCommand(argv: string[], io: CliIo, deps: LoadConfigDeps = {}): Promise<number> {
  const parsed = parseConfigArguments(argv, io.env);
  if ('help' in parsed) {
    io.stdout(USAGE);
    return 0;
  }
  if ('error' in parsed) {
    io.stderr(`${parsed.error}\n${USAGE}`);
    return 2;
  }
  const file = parsed.config;
  if (file === undefined || file === '') {
    io.stderr(`no configuration file: pass --config FILE or set ${CONFIG_ENV}\n${USAGE}`);
    return 2;
  }

  const result = await loadConfig(file, { env: io.env, ...deps });
  if (!result.ok) {
    reportProblems(file, result.problems, io);
    return 1;
  }
  // Warnings go to stderr below, with the problems' prefix; stdout stays the configuration alone.
  const { server, middlewares } = maskConfig(result.config);
  io.stdout(stringify({ server, middlewares }, { lineWidth: 0 }));
  const bearerWarnings = Object.values(result.config.middlewares).flatMap(bearerAudienceWarnings);
  for (const warning of [...result.config.warnings, ...bearerWarnings, ...securityWarnings(result.config)]) io.stderr(`${file}: warning: ${warning}\n`);
  const names = Object.keys(result.config.middlewares);
  io.stderr(`${file}: valid (${names.length} middleware${names.length === 1 ? '' : 's'}: ${names.join(', ')})\n`);
  return 0;
}
