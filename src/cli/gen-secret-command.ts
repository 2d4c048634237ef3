import { randomBytes } from 'node:crypto';
import type { CliIo } from './io.js';

const SECRET_BYTES = 32;
const USAGE = `usage: oidc-forward-auth gen-secret

Prints a fresh random secret (${SECRET_BYTES} bytes, base64url) for server.secrets.
`;

/** `gen-secret`: 32 random bytes as base64url, which is 43 characters, above the 32 server.secrets needs. */
export async function runGenSecretCommand(argv: string[], io: CliIo): Promise<number> {
  const [first] = argv;
  if (first === '--help' || first === '-h') {
    io.stdout(USAGE);
    return 0;
  }
  if (first !== undefined) {
    io.stderr(`unknown argument "${first}"\n${USAGE}`);
    return 2;
  }
  io.stdout(`${randomBytes(SECRET_BYTES).toString('base64url')}\n`);
  return 0;
}
