import { isIP } from 'node:net';
import { isHostName } from './network.js';

/**
 * The two URL shapes the spec allows. The issuer must be absolute; the other URL options may be a
 * path (`/x`), a host and path (`example.com/x`) or an absolute http(s) URL, resolved against the
 * request at run time. Each check returns a reason, or undefined when the value is fine.
 */
export function checkIssuerUrl(raw: string): string | undefined {
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(raw)?.[1]?.toLowerCase();
  if (scheme === undefined) return `must be an absolute http(s) URL such as https://accounts.example.com (got "${raw}")`;
  if (scheme !== 'http' && scheme !== 'https') return `scheme "${scheme}:" is not supported (only http and https)`;
  const url = parseUrl(raw);
  if (url === undefined || url.hostname === '') return `"${raw}" is not a valid URL`;
  if (url.search !== '' || url.hash !== '') return 'must not have a query or fragment';
  if (url.username !== '' || url.password !== '') return 'must not contain credentials';
  return undefined;
}

export function checkFlexibleUrl(raw: string): string | undefined {
  const shapes = 'must be a path (/callback), a host and path (example.com/callback) or an http(s) URL';
  if (/[\s\\]/.test(raw) || hasControlCharacter(raw)) return `${shapes}; whitespace and backslashes are not allowed`;
  if (raw.startsWith('//')) return `${shapes} (got "${raw}")`;
  if (raw.startsWith('/')) return parseUrl(`http://placeholder${raw}`) === undefined ? `"${raw}" is not a valid path` : undefined;

  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):/.exec(raw)?.[1];
  const isHostWithPort = /^[^/:?#]+:\d+(?:[/?#]|$)/.test(raw);
  if (scheme !== undefined && !isHostWithPort) {
    const lowered = scheme.toLowerCase();
    if (lowered !== 'http' && lowered !== 'https') return `scheme "${lowered}:" is not supported (only http and https)`;
    if (!raw.slice(scheme.length + 1).startsWith('//')) return `${shapes} (got "${raw}")`;
    const url = parseUrl(raw);
    if (url === undefined || url.hostname === '') return `"${raw}" is not a valid URL`;
    if (url.username !== '' || url.password !== '') return 'must not contain credentials';
    return undefined;
  }

  // host[:port]/path: the host part must look like one, or a relative path was probably meant.
  const slash = raw.indexOf('/');
  if (slash === -1) return `${shapes} (got "${raw}"; a path starts with "/")`;
  const authority = raw.slice(0, slash);
  const host = authority.replace(/:\d+$/, '');
  const bracketed = /^\[(.+)\]$/.exec(host)?.[1];
  const validHost = bracketed !== undefined ? isIP(bracketed) === 6 : isIP(host) === 4 || (isHostName(host) && host !== '');
  if (!validHost || parseUrl(`http://${raw}`) === undefined) return `${shapes} (got "${raw}")`;
  return undefined;
}

function parseUrl(raw: string): URL | undefined {
  try {
    return new URL(raw);
  } catch {
    return undefined;
  }
}

function hasControlCharacter(raw: string): boolean {
  for (const char of raw) {
    const code = char.codePointAt(0) ?? 0;
    if (code < 0x20 || code === 0x7f) return true;
  }
  return false;
}
