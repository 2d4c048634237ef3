import type { IncomingHttpHeaders } from 'node:http';
import { isIPv6 } from 'node:net';
import type { IsTrustedProxy } from './trusted-proxies.js';

/** The request the browser made to the protected application, as best the proxy told us. */
export interface OriginalRequest {
  readonly method: string;
  readonly protocol: 'http:' | 'https:';
  /** Lower-cased host[:port], the default port dropped: what `url.host` prints, without building `url`. */
  readonly host: string;
  /**
   * Absolute, http or https. WHATWG-normalised (dot segments removed): use it to build URLs, not to
   * match paths. Built on first use: a signed-in check needs none.
   */
  readonly url: URL;
  /** The path exactly as sent (before "?"), for exact matching of callback/logout paths. */
  readonly rawPath: string;
  /** X-Forwarded-* came from a trusted proxy and were used. */
  readonly trustedForwarding: boolean;
}

export interface AuthRequestInput {
  readonly peerAddress: string | undefined;
  readonly method: string;
  /** The auth request's request-target. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Node's rawHeaders, when available: lets us see a repeated Host, which Node's headers object hides. */
  readonly rawHeaders?: readonly string[];
  /** The connection to us is TLS (used only when no trusted X-Forwarded-Proto applies). */
  readonly secure?: boolean;
}

export type ReconstructResult =
  | {
      readonly ok: true;
      readonly request: OriginalRequest;
      /**
       * The peer is not trusted yet sent X-Forwarded-* (ignored), and this is the first time it
       * did: most likely server.trustedProxies does not name the proxy, which the caller warns of.
       */
      readonly untrustedPeerForwarded?: true;
    }
  | { readonly ok: false; readonly reason: string };

export const MAX_URI_LENGTH = 8 * 1024;
const MAX_HOSTNAME_LENGTH = 253;
const METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,32}$/;
/** Printable ASCII without space: browsers percent-encode everything else in a request-target. */
const URI = /^\/[\x21-\x7e]*$/;
const HOST = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(?::([1-9][0-9]{0,4}))?$/;
const DEFAULT_PORT: Readonly<Record<string, string>> = { http: '80', https: '443' };
/** Traefik reports WebSocket upgrades as ws/wss; for us they are the http/https they ride on. */
const PROTO: Readonly<Record<string, 'http' | 'https'>> = { http: 'http', https: 'https', ws: 'http', wss: 'https' };
const SINGLE_VALUED: ReadonlySet<string> = new Set(['host', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-uri', 'x-forwarded-method']);

const fail = (reason: string): ReconstructResult => ({ ok: false, reason });

/**
 * Rebuild the original request. X-Forwarded-* count only from trusted peers; from anyone else
 * they are ignored (not an error: a client may send them, the proxy in front should have stripped
 * them). Anything ambiguous — a repeated header, a list, a host that is not host[:port], a URI that
 * does not start with "/" — is refused rather than guessed, since the host and path decide where
 * we redirect and which handler runs.
 */
export function reconstructOriginalRequest(input: AuthRequestInput, isTrusted: IsTrustedProxy): ReconstructResult {
  const trusted = isTrusted(input.peerAddress);
  if (input.rawHeaders !== undefined) {
    const repeated = findRepeatedHeader(input.rawHeaders, trusted);
    if (repeated !== undefined) return fail(`repeated ${repeated} header`);
  }

  const host = single(input.headers, 'host');
  if (host === null) return fail('multi-valued Host header');
  let forwardedHost: string | null | undefined;
  let forwardedProto: string | null | undefined;
  let forwardedUri: string | null | undefined;
  let forwardedMethod: string | null | undefined;
  if (trusted) {
    forwardedHost = single(input.headers, 'x-forwarded-host');
    forwardedProto = single(input.headers, 'x-forwarded-proto');
    forwardedUri = single(input.headers, 'x-forwarded-uri', true);
    forwardedMethod = single(input.headers, 'x-forwarded-method');
    if (forwardedHost === null) return fail('multi-valued X-Forwarded-Host header');
    if (forwardedProto === null) return fail('multi-valued X-Forwarded-Proto header');
    if (forwardedUri === null) return fail('multi-valued X-Forwarded-Uri header');
    if (forwardedMethod === null) return fail('multi-valued X-Forwarded-Method header');
  }

  const protoText = forwardedProto ?? (input.secure === true ? 'https' : 'http');
  const proto = PROTO[protoText.toLowerCase()];
  if (proto === undefined) return fail('unsupported forwarded protocol');

  const hostText = forwardedHost ?? host;
  if (hostText === undefined || hostText === '') return fail('missing host');
  const expectedHost = normaliseHost(hostText, proto);
  if (expectedHost === undefined) return fail('invalid host');

  const uri = forwardedUri ?? input.url;
  if (typeof uri !== 'string' || uri.length > MAX_URI_LENGTH) return fail('request URI too long');
  if (!URI.test(uri)) return fail('request URI is not an origin-form path');

  const method = forwardedMethod ?? input.method;
  if (typeof method !== 'string' || !METHOD.test(method)) return fail('invalid method');

  // The URI starts with "/" and follows the authority, so nothing in it ("//x", "@x", "\\x") can be
  // read as a host: whether the URL keeps the host is a question about the host alone.
  if (!parsesToSameHost(proto, expectedHost)) return fail('request URL changed host when parsed');

  const end = uri.search(/[?#]/);
  const rawPath = end < 0 ? uri : uri.slice(0, end);
  let url: URL | undefined;
  const request: OriginalRequest = {
    method,
    protocol: `${proto}:`,
    host: expectedHost,
    rawPath,
    trustedForwarding: trusted,
    get url() {
      return (url ??= new URL(`${proto}://${expectedHost}${uri}`));
    },
  };
  if (!trusted && sendsForwardedHeaders(input.headers) && isTrusted.firstIgnoredForwarding(input.peerAddress)) {
    return { ok: true, request, untrustedPeerForwarded: true };
  }
  return { ok: true, request };
}

/** Hosts checked so far; past this many the memory starts over (a flood of made-up names costs a parse each). */
const CHECKED_HOSTS_MAX = 1024;
const hostsKeptWhenParsed = new Map<string, boolean>();

/**
 * A host that passed normaliseHost can still change when WHATWG parses it (numeric IPv4 forms such
 * as "0x7f.1", IDNA): parsed once per scheme and host, then remembered.
 */
function parsesToSameHost(proto: 'http' | 'https', host: string): boolean {
  const origin = `${proto}://${host}`;
  let same = hostsKeptWhenParsed.get(origin);
  if (same === undefined) {
    try {
      same = new URL(`${origin}/`).host === host;
    } catch {
      same = false;
    }
    if (hostsKeptWhenParsed.size >= CHECKED_HOSTS_MAX) hostsKeptWhenParsed.clear();
    hostsKeptWhenParsed.set(origin, same);
  }
  return same;
}

function sendsForwardedHeaders(headers: IncomingHttpHeaders): boolean {
  return (
    headers['x-forwarded-host'] !== undefined ||
    headers['x-forwarded-proto'] !== undefined ||
    headers['x-forwarded-uri'] !== undefined ||
    headers['x-forwarded-method'] !== undefined
  );
}

/**
 * undefined: absent. null: several values (an array, or for single-valued headers a comma list,
 * which is how Node joins repeats). A URI may legitimately contain commas, so it is checked only
 * for arrays; repeats of it are caught through rawHeaders.
 */
function single(headers: IncomingHttpHeaders, name: string, commasAllowed = false): string | null | undefined {
  const value: unknown = headers[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return null;
  if (!commasAllowed && value.includes(',')) return null;
  return value.trim();
}

function findRepeatedHeader(rawHeaders: readonly string[], trusted: boolean): string | undefined {
  const seen = new Set<string>();
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const raw = rawHeaders[i] ?? '';
    // Every name we look for starts with h or x: most headers are passed over without lower-casing.
    const first = raw.charCodeAt(0) | 0x20;
    if (first !== 0x68 && first !== 0x78) continue;
    const name = raw.toLowerCase();
    if (!SINGLE_VALUED.has(name)) continue;
    if (name !== 'host' && !trusted) continue;
    if (seen.has(name)) return name;
    seen.add(name);
  }
  return undefined;
}

/** Lower-cased host[:port] as WHATWG URL will print it (default port dropped); undefined when invalid. */
function normaliseHost(text: string, proto: 'http' | 'https'): string | undefined {
  if (text.length > MAX_HOSTNAME_LENGTH + 6) return undefined;
  const match = HOST.exec(text);
  if (match === null) return undefined;
  const hostname = (match[1] as string).toLowerCase();
  const port = match[2];
  if (hostname.startsWith('[')) {
    if (!isIPv6(hostname.slice(1, -1))) return undefined;
  } else if (hostname.length > MAX_HOSTNAME_LENGTH) {
    return undefined;
  }
  if (port !== undefined && Number(port) > 65535) return undefined;
  return port === undefined || port === DEFAULT_PORT[proto] ? hostname : `${hostname}:${port}`;
}
