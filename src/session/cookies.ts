import type { CookieOptions } from '../config/types.js';

/**
 * Cookie parsing and Set-Cookie writing.
 *
 * Not @fastify/cookie's `parse`/`serialize`: those delegate to a module the plugin loads only when
 * registered on a Fastify instance (they throw before), and `parse` keeps only the first value of
 * a name. A cookie tossed from a parent domain (`Domain=example.com`) arrives under the same name
 * as ours and may come first, so every value of a name is kept and callers try each.
 */

/** Every value sent for each name, in header order. Null prototype: a cookie named "__proto__" is data. */
export type CookieJar = Readonly<Record<string, readonly string[]>>;

export type CookieAttributes = Omit<CookieOptions, 'name'> & {
  /** Seconds; zero or negative expires the cookie at once. */
  readonly maxAge?: number;
  readonly expires?: Date;
};

/** Node's default header limit is 16 KiB; anything longer is not a browser's Cookie header. */
const MAX_HEADER_LENGTH = 32 * 1024;
const MAX_COOKIES = 200;
const MAX_VALUES_PER_NAME = 8;
/** RFC 9110 token. */
const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 6265 cookie-octet. */
const COOKIE_VALUE = /^[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*$/;
const ATTRIBUTE_VALUE = /^[\x20-\x3A\x3C-\x7E]+$/;
const DOMAIN = /^\.?[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*$/;

export function parseCookieHeader(header: string | readonly string[] | undefined): CookieJar {
  const jar: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  // HTTP/2 may split Cookie into several fields; they join with "; ".
  const text = typeof header === 'string' ? header : Array.isArray(header) ? header.join('; ') : '';
  if (text.length === 0 || text.length > MAX_HEADER_LENGTH) return jar;
  let count = 0;
  for (const pair of text.split(';')) {
    const eq = pair.indexOf('=');
    if (eq < 0) continue;
    const name = pair.slice(0, eq).trim();
    if (!COOKIE_NAME.test(name)) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    const values = jar[name];
    if (values === undefined) jar[name] = [value];
    else if (values.length < MAX_VALUES_PER_NAME) values.push(value);
    if (++count >= MAX_COOKIES) break;
  }
  return jar;
}

const NO_VALUES: readonly string[] = Object.freeze([]);

/**
 * Every value of one cookie name, found by scanning the header for that name instead of parsing
 * every pair into a jar: the signed-in check needs only the session cookie, and its header may
 * carry dozens of the application's cookies. Same rules as parseCookieHeader for that name (every
 * value kept, so a tossed duplicate is still seen; quotes removed; no decoding), except that the
 * pair count is not capped here: a tossed copy past the 200th pair still counts as a duplicate.
 */
export function scanCookieValues(header: string | readonly string[] | undefined, name: string): readonly string[] {
  const text = typeof header === 'string' ? header : Array.isArray(header) ? header.join('; ') : '';
  if (text.length === 0 || text.length > MAX_HEADER_LENGTH || name === '') return NO_VALUES;
  let values: string[] | undefined;
  let from = 0;
  for (;;) {
    const at = text.indexOf(name, from);
    if (at < 0) break;
    const afterName = at + name.length;
    from = afterName;
    // The name must be the whole name of its pair: only whitespace between the pair's start and it…
    const pairStart = text.lastIndexOf(';', at - 1) + 1;
    if (pairStart < at && text.slice(pairStart, at).trim() !== '') continue;
    // …and between it and the pair's first "=".
    const eq = text.indexOf('=', afterName);
    if (eq < 0) break;
    const semicolon = text.indexOf(';', afterName);
    if (semicolon >= 0 && semicolon < eq) continue;
    if (eq > afterName && text.slice(afterName, eq).trim() !== '') continue;
    const end = semicolon < 0 ? text.length : semicolon;
    let value = text.slice(eq + 1, end).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    (values ??= []).push(value);
    if (values.length >= MAX_VALUES_PER_NAME) break;
    from = end;
  }
  return values ?? NO_VALUES;
}

export function cookieValues(jar: CookieJar, name: string): readonly string[] {
  return Object.hasOwn(jar, name) ? (jar[name] ?? []) : [];
}

/** A Set-Cookie header value. Throws TypeError on a name, value or attribute that would corrupt the header. */
export function serializeCookie(name: string, value: string, attributes: CookieAttributes): string {
  if (!COOKIE_NAME.test(name)) throw new TypeError('invalid cookie name');
  if (!COOKIE_VALUE.test(value)) throw new TypeError(`invalid value for cookie ${name}`);
  const parts = [`${name}=${value}`];
  if (attributes.maxAge !== undefined) {
    if (!Number.isFinite(attributes.maxAge)) throw new TypeError('cookie maxAge must be finite');
    parts.push(`Max-Age=${Math.max(0, Math.floor(attributes.maxAge))}`);
  }
  if (attributes.domain !== undefined && attributes.domain !== '') {
    if (!DOMAIN.test(attributes.domain)) throw new TypeError('invalid cookie domain');
    parts.push(`Domain=${attributes.domain}`);
  }
  if (attributes.path !== '') {
    if (!ATTRIBUTE_VALUE.test(attributes.path)) throw new TypeError('invalid cookie path');
    parts.push(`Path=${attributes.path}`);
  }
  if (attributes.expires !== undefined) {
    if (!Number.isFinite(attributes.expires.getTime())) throw new TypeError('invalid cookie expiry');
    parts.push(`Expires=${attributes.expires.toUTCString()}`);
  }
  if (attributes.httpOnly) parts.push('HttpOnly');
  if (attributes.secure) parts.push('Secure');
  parts.push(`SameSite=${SAME_SITE[attributes.sameSite]}`);
  return parts.join('; ');
}

const SAME_SITE = { none: 'None', lax: 'Lax', strict: 'Strict' } as const;

/** Expires the cookie; domain and path must be the ones it was set with or the browser keeps it. */
export function clearCookie(name: string, attributes: Omit<CookieOptions, 'name'>): string {
  return serializeCookie(name, '', { ...attributes, maxAge: 0, expires: new Date(0) });
}
