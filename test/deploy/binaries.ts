/** What the real-proxy tests share: finding a Debian binary, and starting on a free port despite races. */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { findFreePort } from '../support/scripted-server.js';

/** The binary's path from PATH or `extraDirs`; a missing binary fails the test (it never skips). */
export function findBinary(name: string, extraDirs: readonly string[]): string {
  for (const dir of [...(process.env.PATH ?? '').split(delimiter), ...extraDirs]) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  throw new Error(`${name} binary not found (looked in PATH and ${extraDirs.join(', ')}): run \`bash deploy/install-deps.sh\` to install it`);
}

/**
 * Another process can take a probed port before the server binds it: try a few ports, retrying
 * only when the server said so.
 */
export async function startOnFreePort<T>(start: (port: number) => Promise<T>): Promise<T> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    try {
      return await start(await findFreePort());
    } catch (error) {
      lastError = error;
      if (!/address already in use/i.test(String(error))) throw error;
    }
  }
  throw lastError;
}
