import type { CookieOptions, SameSite } from './types.js';
import { joinPath, readBoolean, readOptionalString, readString, type ProblemSink, type RawObject } from './field-reader.js';

/** RFC 9110 token: what a header name or a cookie name may be made of. */
export const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export const COOKIE_KEYS = ['name', 'path', 'domain', 'sameSite', 'httpOnly', 'secure'] as const;

const SAME_SITE: readonly SameSite[] = ['none', 'lax', 'strict'];

/** The options stateCookie and session share, with the spec's defaults. */
export function readCookieOptions(
  object: RawObject,
  path: string,
  defaultName: string,
  sink: ProblemSink,
): CookieOptions {
  const name = readOptionalString(object, 'name', path, sink) ?? defaultName;
  if (!HTTP_TOKEN.test(name)) sink.error(joinPath(path, 'name'), `"${name}" is not a valid cookie name`);

  const cookiePath = readOptionalString(object, 'path', path, sink) ?? '/';
  if (!cookiePath.startsWith('/') || /[;\s\x00-\x1f\x7f]/.test(cookiePath)) {
    sink.error(joinPath(path, 'path'), `must start with "/" and contain no ";" or whitespace (got "${cookiePath}")`);
  }

  const domain = readOptionalString(object, 'domain', path, sink);
  if (domain !== undefined && !/^\.?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/.test(domain)) {
    sink.error(joinPath(path, 'domain'), `"${domain}" is not a domain name`);
  }

  const sameSite = readSameSite(object, path, sink);
  const secure = readBoolean(object, 'secure', path, sink) ?? false;
  if (sameSite === 'none' && !secure) {
    sink.warn(joinPath(path, 'sameSite'), 'is "none" without secure: true; browsers reject such cookies');
  }
  checkCookiePrefix({ name, path: cookiePath, domain, secure }, path, sink);
  return {
    name,
    path: cookiePath,
    domain,
    sameSite,
    httpOnly: readBoolean(object, 'httpOnly', path, sink) ?? true,
    secure,
  };
}

function readSameSite(object: RawObject, path: string, sink: ProblemSink): SameSite {
  const raw = readString(object, 'sameSite', path, sink);
  if (raw === undefined || raw === '') return 'lax';
  const lowered = raw.toLowerCase();
  const match = SAME_SITE.find((value) => value === lowered);
  if (match === undefined) {
    sink.error(joinPath(path, 'sameSite'), `must be one of none, lax, strict (got "${raw}")`);
    return 'lax';
  }
  return match;
}

/**
 * Cookie name prefixes (RFC 6265bis §4.1.3): browsers drop a `__Secure-` cookie set without Secure,
 * and a `__Host-` cookie set without Secure, with a Domain, or with a Path other than "/". Browsers
 * match the prefixes without regard to case, and so do we.
 */
function checkCookiePrefix(
  cookie: { readonly name: string; readonly path: string; readonly domain: string | undefined; readonly secure: boolean },
  path: string,
  sink: ProblemSink,
): void {
  const lowered = cookie.name.toLowerCase();
  const prefix = lowered.startsWith('__host-') ? '__Host-' : lowered.startsWith('__secure-') ? '__Secure-' : undefined;
  if (prefix === undefined) return;
  const named = `the ${prefix} cookie name "${cookie.name}"`;
  if (prefix === '__Host-') {
    if (cookie.domain !== undefined) sink.error(joinPath(path, 'domain'), `must not be set with ${named} (browsers drop such cookies)`);
    if (cookie.path !== '/') sink.error(joinPath(path, 'path'), `must be "/" with ${named} (got "${cookie.path}"; browsers drop such cookies)`);
  }
  if (!cookie.secure) sink.error(joinPath(path, 'secure'), `must be true with ${named} (browsers drop such cookies)`);
}
