/**
 * Turns the shipped example (deploy/caddy/Caddyfile) into one a non-root user can run with
 * `caddy run --config FILE --adapter caddyfile`: the example's addresses are swapped for real
 * ones, the site is served over plain HTTP, and the admin endpoint is off (or on a given port).
 * The Caddy tests run the shipped file through this, so they test what operators copy.
 *
 * Run alone: `npx tsx deploy/caddy/caddyfile.ts --out FILE --listen 127.0.0.1:8080
 *   --auth 127.0.0.1:4181 --app 127.0.0.1:3000 [--middleware demo]` writes FILE.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export const CADDYFILE_PATH = resolve(dirname(fileURLToPath(import.meta.url)), 'Caddyfile');

export interface CaddyfileOptions {
  /** host:port Caddy listens on, over plain HTTP. */
  readonly listen: string;
  /** host:port of the oidc-forward-auth service (or a stand-in). */
  readonly authAddress: string;
  /** host:port of the protected application. */
  readonly appAddress: string;
  /** Middleware name to use instead of the example's `app` in /auth/app. */
  readonly middleware?: string;
  /** The `copy_headers` names; default: the example's own list. */
  readonly copyHeaders?: readonly string[];
  /** Uncomments the example's /backchannel-logout route. */
  readonly backchannelLogout?: boolean;
  /** Uncomments the example's /oauth2/userinfo route. */
  readonly userinfo?: boolean;
  /** host:port for Caddy's admin endpoint; default: off. */
  readonly adminAddress?: string;
  /** The example's text; defaults to the shipped file. */
  readonly snippet?: string;
}

/** Each replacement must match exactly `times` times, so an edit to the example cannot slip past the tests. */
function replaceExactly(text: string, from: string | RegExp, to: string, what: string, times = 1): string {
  const pattern = typeof from === 'string' ? new RegExp(escapeRegExp(from), 'gm') : new RegExp(from.source, 'gm');
  const count = text.match(pattern)?.length ?? 0;
  if (count !== times) throw new Error(`Caddyfile example: expected ${what} (${String(from)}) ${times} time(s), found it ${count} times`);
  return text.replace(pattern, (_match, ...groups: unknown[]) => to.replace(/\$(\d)/g, (_all, index: string) => String(groups[Number(index) - 1] ?? '')));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const NAME = /^[A-Za-z0-9._-]+$/;
const HEADER_NAME = /^[A-Za-z0-9-]+$/;
const BACKCHANNEL_BLOCK = /^\t# handle \/backchannel-logout \{\n(?:\t# .*\n)*?\t# \}\n/m;
const USERINFO_BLOCK = /^\t# handle \/oauth2\/userinfo \{\n(?:\t# .*\n)*?\t# \}\n/m;

function uncomment(text: string, pattern: RegExp, what: string): string {
  const block = pattern.exec(text)?.[0];
  if (block === undefined) throw new Error(`Caddyfile example: the commented ${what} block is missing`);
  return text.replace(block, () => block.replace(/^\t# /gm, '\t'));
}

export function renderCaddyfile(options: CaddyfileOptions): string {
  let text = options.snippet ?? readFileSync(CADDYFILE_PATH, 'utf8');
  text = replaceExactly(text, /^app\.example\.com \{$/, `http://${options.listen} {`, 'the site address');
  text = replaceExactly(text, '127.0.0.1:4181 {', `${options.authAddress} {`, 'the service address', 3);
  text = replaceExactly(text, 'reverse_proxy 127.0.0.1:3000', `reverse_proxy ${options.appAddress}`, 'the application address');
  const middleware = options.middleware ?? 'app';
  if (!NAME.test(middleware) || /^\.+$/.test(middleware)) throw new Error('middleware name must be letters, digits, ".", "_" or "-"');
  text = replaceExactly(text, /^(\t+)uri \/auth\/app\?$/, `$1uri /auth/${middleware}?`, 'the forward_auth uri');
  text = replaceExactly(text, /^(\t# \t+)rewrite \/auth\/app$/, `$1rewrite /auth/${middleware}`, 'the commented routes\' rewrites', 2);
  if (options.copyHeaders !== undefined) {
    if (options.copyHeaders.length === 0 || !options.copyHeaders.every((name) => HEADER_NAME.test(name))) {
      throw new Error('copyHeaders must be one or more header names');
    }
    text = replaceExactly(text, /^(\t+)copy_headers .*$/, `$1copy_headers ${options.copyHeaders.join(' ')}`, 'the copy_headers line');
  }
  if (options.userinfo === true) text = uncomment(text, USERINFO_BLOCK, '/oauth2/userinfo');
  if (options.backchannelLogout === true) {
    const block = BACKCHANNEL_BLOCK.exec(text)?.[0];
    if (block === undefined) throw new Error('Caddyfile example: the commented /backchannel-logout block is missing');
    text = text.replace(block, block.replace(/^\t# /gm, '\t'));
  }
  const admin = options.adminAddress === undefined ? 'admin off' : `admin ${options.adminAddress}`;
  return `# Generated from deploy/caddy/Caddyfile — edit that file, not this one.
{
\t${admin}
\tauto_https off
}

${text}`;
}

/** Writes the Caddyfile (creating its directory); returns its path. */
export function writeCaddyfile(path: string, options: CaddyfileOptions): string {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, renderCaddyfile(options));
  return path;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const { values } = parseArgs({
    options: { out: { type: 'string' }, listen: { type: 'string' }, auth: { type: 'string' }, app: { type: 'string' }, middleware: { type: 'string' } },
  });
  const { out, listen, auth, app, middleware } = values;
  if (out === undefined || listen === undefined || auth === undefined || app === undefined) {
    throw new Error('usage: caddyfile.ts --out FILE --listen HOST:PORT --auth HOST:PORT --app HOST:PORT [--middleware NAME]');
  }
  const path = writeCaddyfile(resolve(out), {
    listen,
    authAddress: auth,
    appAddress: app,
    middleware,
  });
  process.stdout.write(`${path}\n`);
}
