/**
 * Turns the shipped snippet (nginx/oidc-forward-auth.conf) into a complete nginx.conf that a
 * non-root user can run with `nginx -p DIR -c nginx.conf -e stderr -g 'daemon off; pid DIR/nginx.pid;'`:
 * the snippet's addresses are swapped for real ones and every path nginx writes lives in DIR.
 * The demo and the nginx tests both run the shipped file through this, so they test what
 * operators copy.
 *
 * Run alone: `npx tsx deploy/demo/nginx-conf.ts --prefix DIR --listen 127.0.0.1:8080
 *   --auth 127.0.0.1:4181 --app 127.0.0.1:3000 --middleware demo` writes DIR/nginx.conf.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const SNIPPET_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../nginx/oidc-forward-auth.conf');

export interface NginxConfOptions {
  /** Directory that holds nginx.conf, logs and temp files. Absolute. */
  readonly prefix: string;
  /** host:port nginx listens on. */
  readonly listen: string;
  /** host:port of the oidc-forward-auth service (or a stand-in). */
  readonly authAddress: string;
  /** host:port of the protected application. */
  readonly appAddress: string;
  /** Middleware name to use instead of the snippet's `app` in /auth/app. */
  readonly middleware?: string;
  /** Uncomments the snippet's `location = /backchannel-logout` block. */
  readonly backchannelLogout?: boolean;
  /** The snippet text; defaults to the shipped file. */
  readonly snippet?: string;
}

const BACKCHANNEL_BLOCK = /^    # location = \/backchannel-logout \{\n(?:    # .*\n)*?    # \}\n/m;

/** The snippet with its commented `location = /backchannel-logout` block turned on. */
export function enableBackchannelLogout(snippet: string): string {
  const block = BACKCHANNEL_BLOCK.exec(snippet)?.[0];
  if (block === undefined) throw new Error('nginx snippet: the commented /backchannel-logout location is missing');
  return snippet.replace(block, () => block.replace(/^    # /gm, '    '));
}

/** Each replacement must match exactly once, so an edit to the snippet cannot slip past the tests. */
function replaceOnce(text: string, from: string | RegExp, to: string, what: string): string {
  const pattern = typeof from === 'string' ? new RegExp(escapeRegExp(from), 'gm') : new RegExp(from.source, 'gm');
  const count = text.match(pattern)?.length ?? 0;
  if (count !== 1) throw new Error(`nginx snippet: expected ${what} (${String(from)}) once, found it ${count} times`);
  return text.replace(pattern, to.replace(/\$(?!1)/g, '$$$$'));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A recipe variant with a cache (nginx/oidc-forward-auth-microcache.conf) keeps it in a directory
 * only root may create; under the prefix, a non-root nginx can, and the cache goes with the run.
 * nginx creates only the last directory of the path: PREFIX/cache exists (writeNginxConf).
 */
function moveCachePathsUnder(snippet: string, prefix: string): string {
  return snippet.replace(/^(\s*proxy_cache_path\s+)(\S+)/gm, (_match, directive: string, path: string) => `${directive}${prefix}/cache/${basename(path)}`);
}

export function renderNginxConf(options: NginxConfOptions): string {
  let snippet = options.snippet ?? readFileSync(SNIPPET_PATH, 'utf8');
  if (options.backchannelLogout === true) snippet = enableBackchannelLogout(snippet);
  snippet = replaceOnce(snippet, 'server 127.0.0.1:4181;', `server ${options.authAddress};`, 'the service address');
  snippet = replaceOnce(snippet, 'server 127.0.0.1:3000;', `server ${options.appAddress};`, 'the application address');
  snippet = replaceOnce(snippet, /^(\s*)listen 8080;/m, `$1listen ${options.listen};`, 'the listen directive');
  if (options.middleware !== undefined && options.middleware !== 'app') {
    if (!/^[A-Za-z0-9._-]+$/.test(options.middleware) || /^\.+$/.test(options.middleware)) throw new Error('middleware name must be letters, digits, ".", "_" or "-"');
    snippet = snippet.replaceAll('http://oidc_forward_auth/auth/app;', `http://oidc_forward_auth/auth/${options.middleware};`);
    // The micro-cache variant names the middleware in its cache key too.
    snippet = snippet.replaceAll('proxy_cache_key "/auth/app\n', `proxy_cache_key "/auth/${options.middleware}\n`);
  }
  const p = options.prefix;
  snippet = moveCachePathsUnder(snippet, p);
  return `# Generated from nginx/oidc-forward-auth.conf — edit that file, not this one.
worker_processes 1;
${process.getuid?.() === 0 ? 'user root;\n' : ''}events { worker_connections 256; }
http {
    access_log ${p}/access.log;
    error_log ${p}/error.log notice;
    client_body_temp_path ${p}/tmp/client_body;
    proxy_temp_path ${p}/tmp/proxy;
    fastcgi_temp_path ${p}/tmp/fastcgi;
    uwsgi_temp_path ${p}/tmp/uwsgi;
    scgi_temp_path ${p}/tmp/scgi;

${snippet}
}
`;
}

/** Writes PREFIX/nginx.conf and the directories nginx expects; returns the conf path. */
export function writeNginxConf(options: NginxConfOptions): string {
  mkdirSync(join(options.prefix, 'tmp'), { recursive: true });
  const conf = renderNginxConf(options);
  if (/^\s*proxy_cache_path\s/m.test(conf)) mkdirSync(join(options.prefix, 'cache'), { recursive: true });
  const path = join(options.prefix, 'nginx.conf');
  writeFileSync(path, conf);
  return path;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const { values } = parseArgs({
    options: { prefix: { type: 'string' }, listen: { type: 'string' }, auth: { type: 'string' }, app: { type: 'string' }, middleware: { type: 'string' } },
  });
  const { prefix, listen, auth, app, middleware } = values;
  if (prefix === undefined || listen === undefined || auth === undefined || app === undefined) {
    throw new Error('usage: nginx-conf.ts --prefix DIR --listen HOST:PORT --auth HOST:PORT --app HOST:PORT [--middleware NAME]');
  }
  const path = writeNginxConf({
    prefix: resolve(prefix),
    listen,
    authAddress: auth,
    appAddress: app,
    middleware,
  });
  process.stdout.write(`${path}\n`);
}
