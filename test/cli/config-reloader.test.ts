/**
 * The reloader remembers what it loaded, not what the files hold once the load is over: a file
 * written while it was being loaded must still be loaded, not taken as already seen.
 */
import { readFile, rename, rm, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createConfigReloader, type ConfigReloader } from '../../src/cli/config-reloader.js';
import { loadConfig } from '../../src/config/index.js';
import { createTestLogger } from '../support/log.js';

const configWith = (middleware: string): string => `server:
  secrets: ["reloader-test-secret-reloader-test-secret-1"]
middlewares:
  ${middleware}:
    issuer: https://id.example.test
    clientID: app
    clientSecret: app-secret-app-secret
    redirectUrl: /callback
`;

async function eventually(what: string, condition: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (condition()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe('createConfigReloader', () => {
  let reloader: ConfigReloader | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    reloader?.close();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('loads again a file that changed while it was being loaded', { timeout: 30_000 }, async () => {
    dir = await mkdtemp(join(tmpdir(), 'ofa-reloader-'));
    const file = join(dir, 'config.yaml');
    /** Written beside and renamed into place, as editors and configuration tools do. */
    const put = async (text: string): Promise<void> => {
      await writeFile(`${file}.tmp`, text);
      await rename(`${file}.tmp`, file);
    };
    await put(configWith('one'));
    const first = await loadConfig(file);
    if (!first.ok) throw new Error(first.problems.join('\n'));

    let raced = false;
    const applied: string[] = [];
    reloader = createConfigReloader({
      path: file,
      files: first.files,
      settleMs: 50,
      log: createTestLogger('warn').log,
      load: (read?: (path: string) => Promise<string>) =>
        loadConfig(file, {
          readFile: async (path) => {
            const text = await (read ?? ((p: string) => readFile(p, 'utf8')))(path);
            // The next version lands just after this one was read, before the load is over.
            if (!raced && text.includes('two:')) {
              raced = true;
              await put(configWith('three'));
            }
            return text;
          },
        }),
      apply: (config) => {
        applied.push(...Object.keys(config.middlewares));
        return { added: [], removed: [], changed: [], needRestart: [], retired: Promise.resolve() };
      },
    });

    await put(configWith('two'));
    await eventually('the version written during the load', () => applied.at(-1) === 'three');
    expect(applied).toEqual(['two', 'three']);
  });
});
