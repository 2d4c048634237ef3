import { runCheckCommand } from './check-command.js';
import { runClaimsCommand } from './claims-command.js';
import { runGenSecretCommand } from './gen-secret-command.js';
import type { CliIo } from './io.js';
import { runServeCommand } from './serve-command.js';

const USAGE = `usage: oidc-forward-auth <command> [options]

commands:
  serve --config FILE        run the service (FILE may also come from OIDC_FORWARD_AUTH_CONFIG)
  check --config FILE        validate FILE and print it with secrets masked
  gen-secret                 print a fresh random secret for server.secrets
  claims --expr EXPR --id-token-claims FILE [--access-token-claims FILE]
                             evaluate a claims expression and explain each part
`;

/** Dispatches to one command; returns the process exit status. */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'serve':
      return runServeCommand(rest, io);
    case 'check':
      return runCheckCommand(rest, io);
    case 'gen-secret':
      return runGenSecretCommand(rest, io);
    case 'claims':
      return runClaimsCommand(rest, io);
    case undefined:
    case '--help':
    case '-h':
    case 'help':
      io.stdout(USAGE);
      return command === undefined ? 2 : 0;
    default:
      io.stderr(`unknown command "${command}"\n${USAGE}`);
      return 2;
  }
}
