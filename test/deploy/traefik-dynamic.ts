/**
 * The shipped traefik/dynamic.yml as a test runs it: the example addresses replaced by the test's
 * (service, application, host name), and nothing else changed, except the additions the file's
 * own comments tell an operator to make, each taken from the file's commented YAML as written:
 * - `traefik-v2`: delete addAuthCookiesToResponse, add the X-Forward-Auth-Proxy headers middleware;
 * - `bearer-tokens`: the commented `- Authorization` line of authResponseHeaders;
 * - `backchannel-direct-route` / `backchannel-forward-body`: the two back-channel logout routes.
 */
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const DYNAMIC_PATH = resolve(dirname(fileURLToPath(import.meta.url)), '../../traefik/dynamic.yml');

export type DynamicAddition = 'traefik-v2' | 'bearer-tokens' | 'backchannel-direct-route' | 'backchannel-forward-body';

export interface DynamicAddresses {
  /** The service's host:port (the example's 127.0.0.1:4181). */
  readonly authAddress: string;
  /** The application's host:port (the example's 127.0.0.1:3000). */
  readonly appAddress: string;
  /** The site's host name in the routers' rules (the example's app.example.com). */
  readonly host: string;
}

/** The addresses as the shipped file writes them. */
export const SHIPPED_ADDRESSES: DynamicAddresses = Object.freeze({
  authAddress: '127.0.0.1:4181',
  appAddress: '127.0.0.1:3000',
  host: 'app.example.com',
});

/** Where each commented addition starts: the first words of the prose above it. */
const ADDITION_MARKERS: Readonly<Record<Exclude<DynamicAddition, 'bearer-tokens'>, string>> = {
  'traefik-v2': '# Traefik v2.11 refuses addAuthCookiesToResponse',
  'backchannel-direct-route': '# Only with backchannelLogoutUrl:',
  'backchannel-forward-body': '# Or, on Traefik v3.4 or later,',
};

const AUTHORIZATION_LINE = '          # - Authorization\n';

type Tree = Record<string, unknown>;

function isTree(value: unknown): value is Tree {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The YAML commented out after the prose starting with `marker`, past its blank `#` line. */
export function commentedBlock(text: string, marker: string): Tree {
  const start = text.indexOf(marker);
  if (start === -1 || text.indexOf(marker, start + 1) !== -1) throw new Error(`dynamic.yml: expected "${marker}" once`);
  const afterBlank = text.indexOf('\n#\n', start);
  if (afterBlank === -1) throw new Error(`dynamic.yml: no blank "#" line after "${marker}"`);
  const lines = text.slice(afterBlank + 3).split('\n');
  const end = lines.findIndex((line) => !line.startsWith('#'));
  const block = lines.slice(0, end === -1 ? lines.length : end).map((line) => line.replace(/^# ?/, ''));
  const parsed: unknown = parse(block.join('\n'));
  if (!isTree(parsed)) throw new Error(`dynamic.yml: the YAML after "${marker}" is not a mapping`);
  return parsed;
}

/** Mappings merge key by key; anything else (lists included) is replaced, as the comments say. */
function merge(base: Tree, addition: Tree): Tree {
  const merged: Tree = { ...base };
  for (const [key, value] of Object.entries(addition)) {
    const current = merged[key];
    merged[key] = isTree(current) && isTree(value) ? merge(current, value) : value;
  }
  return merged;
}

function substitute(value: unknown, addresses: DynamicAddresses): unknown {
  if (typeof value === 'string') {
    return value
      .replaceAll(SHIPPED_ADDRESSES.authAddress, addresses.authAddress)
      .replaceAll(SHIPPED_ADDRESSES.appAddress, addresses.appAddress)
      .replaceAll(SHIPPED_ADDRESSES.host, addresses.host);
  }
  if (Array.isArray(value)) return value.map((item) => substitute(item, addresses));
  if (isTree(value)) return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, substitute(item, addresses)]));
  return value;
}

function withoutAuthCookies(tree: Tree): Tree {
  const middlewares = (tree.http as Tree).middlewares as Tree;
  const kept: Tree = {};
  for (const [name, middleware] of Object.entries(middlewares)) {
    if (isTree(middleware) && isTree(middleware.forwardAuth)) {
      const { addAuthCookiesToResponse: _dropped, ...forwardAuth } = middleware.forwardAuth;
      kept[name] = { ...middleware, forwardAuth };
    } else {
      kept[name] = middleware;
    }
  }
  return { ...tree, http: { ...(tree.http as Tree), middlewares: kept } };
}

/** The dynamic configuration Traefik gets: the shipped file with `addresses` and `additions`. */
export function renderDynamic(text: string, addresses: DynamicAddresses, additions: readonly DynamicAddition[] = []): Tree {
  let source = text;
  if (additions.includes('bearer-tokens')) {
    if (source.split(AUTHORIZATION_LINE).length !== 2) throw new Error('dynamic.yml: expected the commented "- Authorization" line once');
    source = source.replace(AUTHORIZATION_LINE, AUTHORIZATION_LINE.replace('# ', ''));
  }
  const parsed: unknown = parse(source);
  if (!isTree(parsed) || !isTree(parsed.http)) throw new Error('dynamic.yml: no http section');
  let tree: Tree = parsed;
  for (const addition of additions) {
    if (addition === 'bearer-tokens') continue;
    tree = merge(tree, commentedBlock(text, ADDITION_MARKERS[addition]));
    if (addition === 'traefik-v2') tree = withoutAuthCookies(tree);
  }
  return substitute(tree, addresses) as Tree;
}

export function readShippedDynamic(): string {
  return readFileSync(DYNAMIC_PATH, 'utf8');
}
