/**
 * Values for the identity headers we hand to the proxy (forwardHeaders, the username header).
 *
 * Non-ASCII text is sent as raw UTF-8 bytes, as Go peers (Traefik Hub, oauth2-proxy) do, so
 * applications written for them read the same bytes. Node writes header strings as latin1, so
 * the returned string is a "byte string": one char (U+0000–U+00FF) per UTF-8 byte. Pass it to
 * setHeader as is; Node accepts it (it rejects only chars above U+00FF and controls).
 *
 * Characters that are invisible or change how text around them reads are percent-encoded as
 * their UTF-8 bytes (`\n` → `%0A`, U+202E → `%E2%80%AE`): C0 controls, DEL, C1 controls, the
 * line and paragraph separators U+2028/U+2029, and the Unicode Bidi_Control characters (U+061C,
 * U+200E, U+200F, U+202A–U+202E, U+2066–U+2069). No CR/LF injection, no right-to-left override
 * that shows one name for another, and unlike a space (which HTTP trims at the edges) or removal,
 * `admin\n` cannot arrive as `admin`. A `%` already in a claim is left alone: the encoding marks
 * what was taken out and is not meant to be decoded. All other text, `José` included, is sent as is.
 */

/**
 * Longest value in UTF-8 bytes; longer ones are cut at a character boundary. This only bounds the
 * work: a value this long never fits MAX_IDENTITY_HEADERS_BYTES, so a cut value is never sent.
 */
export const MAX_HEADER_VALUE_BYTES = 8 * 1024;

/** The total of all identity headers of one answer, as they go on the wire (`Name: value\r\n`). */
export const MAX_IDENTITY_HEADERS_BYTES = 8 * 1024;

const INVISIBLE = /[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** List elements that need quoting to stay one element in an HTTP list (RFC 9110 §5.6.1). */
const NEEDS_QUOTES = /[",\\]|^\s|\s$/;

export function headerValueFromClaim(value: unknown): string {
  return toLatin1Bytes(claimText(value).replace(INVISIBLE, percentEncode));
}

function percentEncode(character: string): string {
  return [...Buffer.from(character, 'utf8')].map((byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`).join('');
}

export type IdentityHeaderBudget =
  | { readonly ok: true; readonly bytes: number }
  | { readonly ok: false; readonly bytes: number; readonly limit: number; readonly largest: string };

/**
 * Whether the identity headers of one answer fit MAX_IDENTITY_HEADERS_BYTES together. Past it a
 * proxy would answer 502 (nginx reads the whole auth answer into proxy_buffer_size) or the
 * application would refuse the request (Node: 16 KiB of headers), so the caller fails closed
 * with its own code instead. `headers` holds the byte strings headerValueFromClaim returns.
 */
export function checkIdentityHeaderBudget(headers: Readonly<Record<string, string>>): IdentityHeaderBudget {
  let bytes = 0;
  let largest = '';
  let largestBytes = -1;
  for (const [name, value] of Object.entries(headers)) {
    const size = name.length + value.length + 4;
    bytes += size;
    if (size > largestBytes) {
      largest = name;
      largestBytes = size;
    }
  }
  return bytes <= MAX_IDENTITY_HEADERS_BYTES ? { ok: true, bytes } : { ok: false, bytes, limit: MAX_IDENTITY_HEADERS_BYTES, largest };
}

/** The claim as Unicode text, before byte encoding. */
export function claimText(value: unknown): string {
  if (value === null || value === undefined) return '';
  if (Array.isArray(value)) return value.map(listElement).join(',');
  return scalarOrJson(value);
}

function scalarOrJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
      return String(value);
    case 'object':
      return json(value);
    default:
      return '';
  }
}

/** Elements holding a comma, quote or edge space are quoted, so `["a,b","c"]` stays two elements. */
function listElement(element: unknown): string {
  if (element === null || element === undefined) return '';
  const text = typeof element === 'object' ? json(element) : scalarOrJson(element);
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/["\\]/g, '\\$&')}"` : text;
}

function json(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

function toLatin1Bytes(text: string): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= MAX_HEADER_VALUE_BYTES) return bytes.toString('latin1');
  let end = MAX_HEADER_VALUE_BYTES;
  // Back off continuation bytes (10xxxxxx) so no character is cut in half, nor a %XX in two.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  if (bytes[end - 1] === 0x25) end -= 1;
  else if (bytes[end - 2] === 0x25) end -= 2;
  return bytes.subarray(0, end).toString('latin1');
}
