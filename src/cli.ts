#!/usr/bin/env node
import { runCli } from './cli/main.js';
import { processIo } from './cli/io.js';

runCli(process.argv.slice(2), processIo).then(
  (status) => {
    process.exitCode = status;
  },
  (error: unknown) => {
    // Only the message: a stack or cause could quote configuration values.
    process.stderr.write(`oidc-forward-auth: ${error instanceof Error ? error.message : 'unexpected error'}\n`);
    process.exitCode = 1;
  },
);
