/**
 * Real nginx running the shipped recipe (nginx/oidc-forward-auth.conf, addresses substituted by
 * deploy/demo/nginx-conf.ts as for the tests and the demo), plus one server block of our own: the
 * protected application, a small static file served by the same nginx worker. Pinned to a CPU.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SNIPPET_PATH } from '../../../deploy/demo/nginx-conf.js';
import { startNginx } from '../../deploy/nginx-process.js';
import { findFreePort } from '../../support/scripted-server.js';
import { pinProcessTree, type CpuList } from './processes.js';

/** What the application answers to every request: about the size of nginx's own welcome page. */
export const STATIC_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Protected application</title></head>
<body>
<h1>Protected application</h1>
<p>A static page served by nginx behind oidc-forward-auth, for the benchmark.</p>
${'<p>Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor.</p>\n'.repeat(6)}</body></html>
`;

export interface BenchNginx {
  /** The recipe's server: http://127.0.0.1:PORT */
  readonly url: string;
  /** The static application alone: http://127.0.0.1:PORT */
  readonly staticUrl: string;
  readonly masterPid: number;
  readonly accessLog: string;
  readonly errorLog: string;
  stop(): Promise<void>;
}

export interface BenchNginxOptions {
  /** host:port of whatever answers the recipe's auth_request (the service or the floor). */
  readonly authAddress: string;
  /** Middleware name in the recipe's /auth/NAME. */
  readonly middleware: string;
  /** Directory that holds index.html for the application. */
  readonly staticDir: string;
  readonly cpus: CpuList | undefined;
  /** A variant of the recipe (e.g. a micro-cache one); default the shipped file. */
  readonly snippetPath?: string;
}

/**
 * Appended after the recipe, not part of it. `access_log off`: the application's own log is not
 * the cost under test, and nginx's access.log then holds exactly the requests a case sent.
 */
function applicationServer(port: number, staticDir: string): string {
  return `
# Added by test/bench: the protected application, a static file.
server {
    listen 127.0.0.1:${port};
    access_log off;
    location / {
        root ${staticDir};
        try_files /index.html =404;
    }
}
`;
}

export function writeStaticPage(dir: string): void {
  writeFileSync(join(dir, 'index.html'), STATIC_PAGE);
}

export async function startBenchNginx(options: BenchNginxOptions): Promise<BenchNginx> {
  const staticPort = await findFreePort();
  const recipe = readFileSync(options.snippetPath ?? SNIPPET_PATH, 'utf8');
  const nginx = await startNginx({
    authAddress: options.authAddress,
    appAddress: `127.0.0.1:${staticPort}`,
    middleware: options.middleware,
    snippet: recipe + applicationServer(staticPort, options.staticDir),
  });
  try {
    const masterPid = Number(readFileSync(join(nginx.prefix, 'nginx.pid'), 'utf8').trim());
    // The master writes its pid file before it forks the worker: wait for both, pinned.
    if (options.cpus !== undefined) await pinProcessTree(masterPid, options.cpus, 2);
    return {
      url: nginx.url,
      staticUrl: `http://127.0.0.1:${staticPort}`,
      masterPid,
      accessLog: join(nginx.prefix, 'access.log'),
      errorLog: join(nginx.prefix, 'error.log'),
      stop: nginx.stop,
    };
  } catch (error) {
    await nginx.stop();
    throw error;
  }
}
