/**
 * URL options (redirectUrl, loginUrl, logoutUrl, post*RedirectUrl, backchannelLogoutUrl), as in the
 * spec's redirectUrl tables: "/cb" keeps the request's scheme and host; "host/cb" keeps the
 * request's scheme; "https://host/cb" is used as is. Only http and https.
 * Parsed once at start; resolving per request is one URL construction.
 */
export type ParsedUrlOption =
  | { readonly kind: 'path'; readonly path: string; readonly pathname: string }
  | { readonly kind: 'host-path'; readonly host: string; readonly path: string; readonly pathname: string }
  | { readonly kind: 'absolute'; readonly href: string; readonly host: string; readonly pathname: string };

const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//;

export function parseUrlOption(option: string): ParsedUrlOption {
  if (typeof option !== 'string' || option.length === 0) throw new TypeError('a URL option must be a non-empty string');
  if (/[\x00-\x20\x7f\\]/.test(option)) throw new TypeError(`URL option contains spaces, backslashes or control characters: ${option}`);
  const scheme = SCHEME.exec(option);
  if (scheme !== null) {
    const protocol = (scheme[1] as string).toLowerCase();
    if (protocol !== 'http' && protocol !== 'https') throw new TypeError(`only http and https URL options are supported: ${option}`);
    const url = new URL(option);
    if (url.username !== '' || url.password !== '') throw new TypeError(`URL option must not carry credentials: ${option}`);
    return { kind: 'absolute', href: url.href, host: url.host, pathname: url.pathname };
  }
  if (option.startsWith('//')) throw new TypeError(`URL option must be a path, host/path or absolute URL: ${option}`);
  if (option.startsWith('/')) {
    // Parsing against a placeholder origin normalises the path the way browsers will send it.
    const url = new URL(option, 'http://placeholder.invalid');
    return { kind: 'path', path: url.pathname + url.search, pathname: url.pathname };
  }
  const slash = option.indexOf('/');
  const hostPart = slash < 0 ? option : option.slice(0, slash);
  const pathPart = slash < 0 ? '/' : option.slice(slash);
  if (hostPart.includes('@') || hostPart.includes('?') || hostPart.includes('#')) {
    throw new TypeError(`URL option has an invalid host: ${option}`);
  }
  let url: URL;
  try {
    url = new URL(`http://${hostPart}${pathPart}`);
  } catch {
    throw new TypeError(`URL option has an invalid host: ${option}`);
  }
  return { kind: 'host-path', host: url.host, path: url.pathname + url.search, pathname: url.pathname };
}

/** The option as an absolute URL for a request whose (reconstructed) URL is `original`. */
export function resolveParsedUrlOption(parsed: ParsedUrlOption, original: URL): URL {
  switch (parsed.kind) {
    case 'path':
      return new URL(`${original.protocol}//${original.host}${parsed.path}`);
    case 'host-path':
      return new URL(`${original.protocol}//${parsed.host}${parsed.path}`);
    case 'absolute':
      return new URL(parsed.href);
  }
}

export function resolveUrlOption(option: string, original: URL): URL {
  return resolveParsedUrlOption(parseUrlOption(option), original);
}

/**
 * Whether the request is for this option's URL: same host and port, and the same path compared
 * exactly on the raw path the client sent (no decoding, no dot-segment removal), so "/x/../cb" or
 * "/%63b" never reach the callback handler. Scheme and query are ignored: TLS may end before us.
 */
export function matchesUrlOption(parsed: ParsedUrlOption, original: { readonly host: string }, rawPath: string): boolean {
  // Compared without building a URL: this runs on every forward-auth request.
  if (parsed.pathname !== rawPath) return false;
  return parsed.kind === 'path' || parsed.host === original.host;
}
