import type { ClaimKey } from './ast.js';
import { ClaimsSyntaxError } from './errors.js';

const TOKEN_PREFIXES: ReadonlySet<string> = new Set(['id_token', 'access_token']);
/**
 * A path segment indexes an array only in this canonical decimal form: `groups.0` reads the first
 * group, while `groups.00` or `groups.+1` read nothing. On an object the same segment is an
 * ordinary property name, so `{"0": …}` still works. Nine digits is past any real claim array.
 */
const ARRAY_INDEX = /^(?:0|[1-9][0-9]{0,8})$/;

export function parseClaimKey(raw: string): ClaimKey {
  return parseClaimKeyAt(raw, 0);
}

/** `offset` is where `raw` starts in the enclosing source, so errors point into the expression. */
export function parseClaimKeyAt(raw: string, offset: number): ClaimKey {
  if (raw.length === 0) {
    throw new ClaimsSyntaxError(offset, 'a claim key', 'an empty key');
  }
  const segments: string[] = [];
  let current = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i];
    if (c === '\\') {
      const next = raw[i + 1];
      if (next !== '.' && next !== '\\') {
        const found = next === undefined ? 'a lone "\\" at the end of the key' : `"\\${next}"`;
        throw new ClaimsSyntaxError(offset + i, '"\\." or "\\\\"', found);
      }
      current += next;
      i++;
    } else if (c === '.') {
      if (current.length === 0) {
        throw new ClaimsSyntaxError(offset + i, 'a key segment before "."', '"."');
      }
      segments.push(current);
      current = '';
    } else {
      current += c;
    }
  }
  if (current.length === 0) {
    throw new ClaimsSyntaxError(offset + raw.length, 'a key segment after "."', 'the end of the key');
  }
  segments.push(current);
  // Escapes only produce "." and "\", so a first segment equal to a prefix name was written
  // literally: `id_token\.x` stays a single claim named "id_token.x" in the ID token.
  const first = segments[0];
  if (segments.length > 1 && first !== undefined && TOKEN_PREFIXES.has(first)) {
    return Object.freeze({
      raw,
      token: first as 'id_token' | 'access_token',
      path: Object.freeze(segments.slice(1)),
    });
  }
  return Object.freeze({ raw, token: undefined, path: Object.freeze(segments) });
}

/**
 * The value at `key.path` in `claims` (the caller picks the token), or undefined when any step is
 * missing. Reads own data properties only: never the prototype chain, never a getter.
 */
export function readClaim(claims: Readonly<Record<string, unknown>> | undefined, key: ClaimKey): unknown {
  let current: unknown = claims;
  try {
    for (const segment of key.path) {
      if (current === null || typeof current !== 'object') return undefined;
      if (Array.isArray(current) && !ARRAY_INDEX.test(segment)) return undefined;
      const descriptor = Object.getOwnPropertyDescriptor(current, segment);
      if (descriptor === undefined || !('value' in descriptor)) return undefined;
      current = descriptor.value;
    }
  } catch {
    // Only an exotic object (a Proxy) can throw here; claims from JSON never do.
    return undefined;
  }
  return current;
}
