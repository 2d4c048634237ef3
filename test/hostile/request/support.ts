/**
 * Shared by the request-side hostile-input tests: a raw HTTP/1.1 client that sends exactly the
 * bytes a test names (repeated fields, odd names, non-ASCII bytes, oversized headers — things
 * undici and the Traefik harness normalise away), and the invariants every attack must keep.
 */
import { connect } from 'node:net';
import { expect } from 'vitest';
import { TEST_CLIENT_SECRET } from '../../support/op.js';
import { TEST_SECRET } from '../../support/service.js';

export interface RawResponse {
  readonly status: number;
  /** Lower-case names; every value of a repeated field, in order. */
  readonly headers: Readonly<Record<string, readonly string[]>>;
  readonly body: string;
}

/** One header field, sent as is; the value is a byte string (one char per byte, U+0000–U+00FF). */
export type RawHeader = readonly [name: string, value: string];

/** Headers a browser sends on a page load; the service tells those from API calls. */
export const NAVIGATION: readonly RawHeader[] = [
  ['Accept', 'text/html,application/xhtml+xml'],
  ['Sec-Fetch-Mode', 'navigate'],
  ['Sec-Fetch-Dest', 'document'],
];

export const API: readonly RawHeader[] = [
  ['Accept', 'application/json'],
  ['Sec-Fetch-Mode', 'cors'],
  ['Sec-Fetch-Dest', 'empty'],
];

/** What a browser's UTF-8 text becomes on the wire: one latin1 char per byte. */
export function utf8Bytes(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/**
 * Sends `GET <target>` (or `method`) to the service with exactly these header fields and returns
 * the parsed response. Connection: close, so the body is everything after the head.
 */
export function rawRequest(
  origin: string,
  target: string,
  headers: readonly RawHeader[],
  method = 'GET',
): Promise<RawResponse> {
  const { hostname, port } = new URL(origin);
  const lines = [`${method} ${target} HTTP/1.1`];
  if (!headers.some(([name]) => name.toLowerCase() === 'host')) lines.push(`Host: ${hostname}:${port}`);
  for (const [name, value] of headers) lines.push(`${name}: ${value}`);
  lines.push('Connection: close', '', '');
  const head = Buffer.from(lines.join('\r\n'), 'latin1');
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      try {
        resolve(parseResponse(Buffer.concat(chunks)));
      } catch (error) {
        reject(error instanceof Error ? error : new Error(String(error)));
      }
    });
    socket.write(head);
  });
}

function parseResponse(bytes: Buffer): RawResponse {
  const text = bytes.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) throw new Error(`incomplete response: ${JSON.stringify(text.slice(0, 200))}`);
  const [statusLine = '', ...fieldLines] = text.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1]);
  if (!Number.isInteger(status)) throw new Error(`bad status line ${JSON.stringify(statusLine)}`);
  const headers: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
  for (const line of fieldLines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    (headers[name] ??= []).push(line.slice(colon + 1).trim());
  }
  let body = text.slice(end + 4);
  if (headers['transfer-encoding']?.some((v) => v.toLowerCase().includes('chunked'))) body = dechunk(body);
  return { status, headers, body: Buffer.from(body, 'latin1').toString('utf8') };
}

function dechunk(text: string): string {
  let out = '';
  let rest = text;
  for (;;) {
    const lineEnd = rest.indexOf('\r\n');
    const size = Number.parseInt(rest.slice(0, lineEnd), 16);
    if (!Number.isFinite(size) || size === 0) return out;
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size);
    rest = rest.slice(lineEnd + 2 + size + 2);
  }
}

/** X-Forwarded-* as Traefik sets them for a request to `url` (absolute, parsed by WHATWG URL). */
export function forwardedFor(url: string, method = 'GET'): RawHeader[] {
  const parsed = new URL(url);
  return [
    ['X-Forwarded-Method', method],
    ['X-Forwarded-Proto', parsed.protocol.slice(0, -1)],
    ['X-Forwarded-Host', parsed.host],
    ['X-Forwarded-Uri', `${parsed.pathname}${parsed.search}`],
    ['X-Forwarded-For', '203.0.113.7'],
  ];
}

export function header(response: RawResponse, name: string): string | undefined {
  return response.headers[name.toLowerCase()]?.[0];
}

export function setCookies(response: { readonly headers: Readonly<Record<string, unknown>> }): string[] {
  const value = response.headers['set-cookie'];
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

export interface NothingGrantedOptions {
  /** The session cookie name(s) of the middleware under attack. */
  readonly sessionCookies: readonly string[];
  /** Identity header names the middleware would forward on success. */
  readonly identityHeaders?: readonly string[];
  /** Values that must never be echoed (cookies and tokens the attacker sent or we hold). */
  readonly secrets?: readonly string[];
  /** Allowed statuses; default any 4xx, or a 302 (a login started afresh). */
  readonly statuses?: readonly number[];
}

/**
 * The invariants of a refused attack: the documented status (never a 5xx), no session cookie
 * set, no identity forwarded, and nothing secret in the body or headers.
 */
export function expectNothingGranted(
  response: { readonly status: number; readonly headers: Readonly<Record<string, unknown>>; readonly body: string },
  options: NothingGrantedOptions,
  label = '',
): void {
  expect(response.status, `${label}: status`).toBeLessThan(500);
  if (options.statuses !== undefined) expect(options.statuses, `${label}: status ${response.status}`).toContain(response.status);
  else expect(response.status === 302 || (response.status >= 400 && response.status < 500), `${label}: status ${response.status}`).toBe(true);
  for (const cookie of setCookies(response)) {
    for (const name of options.sessionCookies) {
      // Clearing (empty value) is fine; handing out a session is not.
      expect(cookie.startsWith(`${name}=v1.`), `${label}: sets ${name}`).toBe(false);
    }
  }
  for (const name of options.identityHeaders ?? []) {
    expect(response.headers[name.toLowerCase()], `${label}: forwards ${name}`).toBeUndefined();
  }
  const everything = `${response.body}\n${JSON.stringify(response.headers)}`;
  for (const secret of [TEST_SECRET, TEST_CLIENT_SECRET, ...(options.secrets ?? [])]) {
    if (secret.length >= 8) expect(everything.includes(secret), `${label}: echoes a secret`).toBe(false);
  }
}

/** Runs `work` over `items` with at most `limit` in flight, keeping order of results. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, work: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
