/**
 * Values for the identity headers we hand to the proxy (forwardHeaders, the username header).
 *
 * Non-ASCII text is sent as raw UTF-8 bytes, as Go peers (Traefik Hub, oauth2-proxy) do, so
 * applications written for them read the same bytes. Node writes header strings as latin1, so
 * the returned string is a "byte string": one char (U+0000–U+00FF) per UTF-8 byte. Pass it to
 * setHeader as is; Node accepts it (it rejects only chars above U+00FF and controls).
 * Controls (C0 and DEL) become spaces: no CR/LF injection, word boundaries kept.
 */

/** Longest value in UTF-8 bytes; longer ones are cut at a character boundary. */
export const MAX_HEADER_VALUE_BYTES = 8 * 1024;

const CONTROL = /[\x00-\x1f\x7f]/g;
/** List elements that need quoting to stay one element in an HTTP list (RFC 9110 §5.6.1). */
const NEEDS_QUOTES = /[",\\]|^\s|\s$/;

export function headerValueFromClaim(value: unknown): string {
  return toLatin1Bytes(claimText(value).replace(CONTROL, ' '));
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
  // Back off continuation bytes (10xxxxxx) so no character is cut in half.
  while (end > 0 && ((bytes[end] as number) & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString('latin1');
}
