/**
 * A browser's cookie store, small but honest about what our cookies rely on (RFC 6265 §5.2–5.4):
 * Max-Age over Expires, deletion by a past date or Max-Age ≤ 0, Path defaulting and matching,
 * Domain (subdomains included) versus host-only, Secure. Not modelled: SameSite (tests make
 * same-site top-level requests), public suffixes, size limits.
 *
 * Loopback hosts count as secure contexts, as in Chrome and Firefox, so `Secure` cookies set by a
 * service under test on http://127.0.0.1 are kept and sent back.
 */
export interface StoredCookie {
  readonly name: string;
  readonly value: string;
  /** Lower-case host or domain, no leading dot. */
  readonly domain: string;
  readonly hostOnly: boolean;
  readonly path: string;
  readonly secure: boolean;
  readonly httpOnly: boolean;
  readonly sameSite: string | undefined;
  /** Epoch ms; undefined for a session cookie. */
  readonly expiresAt: number | undefined;
  readonly createdAt: number;
}

export interface CookieJar {
  /** Applies one Set-Cookie header received for a response to `requestUrl`. */
  setCookie(setCookie: string, requestUrl: string | URL): void;
  setCookies(setCookies: readonly string[], requestUrl: string | URL): void;
  /** The Cookie header a browser would send to `url`, or undefined when none apply. */
  cookieHeader(url: string | URL): string | undefined;
  /** The cookie `name` that would be sent to `url` (or, without url, any stored cookie of that name). */
  get(name: string, url?: string | URL): StoredCookie | undefined;
  all(): StoredCookie[];
  clear(): void;
}

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

function isIpAddress(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.startsWith('[') || host.includes(':');
}

/** RFC 6265 §5.1.3. */
export function domainMatches(host: string, domain: string): boolean {
  if (host === domain) return true;
  return !isIpAddress(host) && host.endsWith(`.${domain}`);
}

/** RFC 6265 §5.1.4. */
export function pathMatches(requestPath: string, cookiePath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath.charAt(cookiePath.length) === '/';
}

function defaultPath(requestPath: string): string {
  if (!requestPath.startsWith('/')) return '/';
  const lastSlash = requestPath.lastIndexOf('/');
  return lastSlash <= 0 ? '/' : requestPath.slice(0, lastSlash);
}

function isSecureContext(url: URL): boolean {
  return url.protocol === 'https:' || LOOPBACK_HOSTS.has(url.hostname);
}

export function createCookieJar(options: { now?: () => number } = {}): CookieJar {
  const now = options.now ?? Date.now;
  let cookies: StoredCookie[] = [];

  const isAlive = (cookie: StoredCookie): boolean => cookie.expiresAt === undefined || cookie.expiresAt > now();

  function setCookie(setCookie: string, requestUrl: string | URL): void {
    const url = new URL(requestUrl);
    const host = url.hostname.toLowerCase();
    const [pair = '', ...attributeParts] = setCookie.split(';');
    const eq = pair.indexOf('=');
    if (eq <= 0) return; // a cookie without a name is ignored (browsers differ; ours never send one)
    const name = pair.slice(0, eq).trim();
    const value = pair.slice(eq + 1).trim();

    let domain: string | undefined;
    let path: string | undefined;
    let maxAge: number | undefined;
    let expires: number | undefined;
    let secure = false;
    let httpOnly = false;
    let sameSite: string | undefined;
    for (const part of attributeParts) {
      const index = part.indexOf('=');
      const key = (index === -1 ? part : part.slice(0, index)).trim().toLowerCase();
      const attr = index === -1 ? '' : part.slice(index + 1).trim();
      switch (key) {
        case 'domain':
          if (attr !== '') domain = attr.replace(/^\./, '').toLowerCase();
          break;
        case 'path':
          path = attr.startsWith('/') ? attr : undefined;
          break;
        case 'max-age':
          if (/^-?\d+$/.test(attr)) maxAge = Number(attr);
          break;
        case 'expires': {
          const parsed = Date.parse(attr);
          if (!Number.isNaN(parsed)) expires = parsed;
          break;
        }
        case 'secure':
          secure = true;
          break;
        case 'httponly':
          httpOnly = true;
          break;
        case 'samesite':
          sameSite = attr.toLowerCase();
          break;
        default:
          break;
      }
    }
    if (secure && !isSecureContext(url)) return;
    if (domain !== undefined && !domainMatches(host, domain)) return;

    const expiresAt = maxAge !== undefined ? now() + maxAge * 1000 : expires;
    const cookie: StoredCookie = {
      name,
      value,
      domain: domain ?? host,
      hostOnly: domain === undefined,
      path: path ?? defaultPath(url.pathname),
      secure,
      httpOnly,
      sameSite,
      expiresAt,
      createdAt: now(),
    };
    const same = (c: StoredCookie): boolean => c.name === cookie.name && c.domain === cookie.domain && c.path === cookie.path;
    const previous = cookies.find(same);
    cookies = cookies.filter((c) => !same(c));
    if (isAlive(cookie)) cookies.push(previous === undefined ? cookie : { ...cookie, createdAt: previous.createdAt });
  }

  function matching(url: URL): StoredCookie[] {
    const host = url.hostname.toLowerCase();
    cookies = cookies.filter(isAlive);
    return cookies
      .filter((c) => (c.hostOnly ? c.domain === host : domainMatches(host, c.domain)))
      .filter((c) => pathMatches(url.pathname || '/', c.path))
      .filter((c) => !c.secure || isSecureContext(url))
      .sort((a, b) => b.path.length - a.path.length || a.createdAt - b.createdAt);
  }

  return {
    setCookie,
    setCookies(setCookies, requestUrl) {
      for (const header of setCookies) setCookie(header, requestUrl);
    },
    cookieHeader(url) {
      const list = matching(new URL(url));
      return list.length === 0 ? undefined : list.map((c) => `${c.name}=${c.value}`).join('; ');
    },
    get(name, url) {
      if (url !== undefined) return matching(new URL(url)).find((c) => c.name === name);
      return cookies.filter(isAlive).find((c) => c.name === name);
    },
    all: () => cookies.filter(isAlive),
    clear() {
      cookies = [];
    },
  };
}
