import { HTTP_TOKEN } from './cookie-options.js';
import { joinPath, readObject, readOptionalString, type ProblemSink, type RawObject } from './field-reader.js';
import { isReservedHeaderName } from './reserved-headers.js';
import type { ApplicationTokensConfig } from './types.js';

const TOKEN_HEADER_KEYS = ['accessTokenHeader', 'idTokenHeader'] as const;

/**
 * `applicationTokens`: which headers of a 2xx carry the session's tokens to the application.
 * Authorization is the one reserved name allowed here: `Bearer <access token>` is what it is for.
 * A name may not double a forwardHeaders entry, whose value would be lost to the token's.
 */
export function readApplicationTokens(
  options: RawObject,
  path: string,
  forwardHeaders: Readonly<Record<string, string>>,
  sink: ProblemSink,
): ApplicationTokensConfig | undefined {
  const here = joinPath(path, 'applicationTokens');
  const object = readObject(options, 'applicationTokens', path, TOKEN_HEADER_KEYS, sink);
  if (object === undefined) return undefined;
  const names = { accessTokenHeader: readOptionalString(object, 'accessTokenHeader', here, sink), idTokenHeader: readOptionalString(object, 'idTokenHeader', here, sink) };
  const forwarded = new Set(Object.keys(forwardHeaders).map((name) => name.toLowerCase()));
  for (const key of TOKEN_HEADER_KEYS) {
    const name = names[key];
    if (name === undefined) continue;
    const at = joinPath(here, key);
    if (!HTTP_TOKEN.test(name)) sink.error(at, `"${name}" is not a valid HTTP header name`);
    else if (isReservedHeaderName(name) && name.toLowerCase() !== 'authorization') {
      sink.error(at, `"${name}" is a header the proxies or HTTP itself rely on and cannot carry a token`);
    } else if (forwarded.has(name.toLowerCase())) sink.error(at, `"${name}" is already a forwardHeaders entry`);
  }
  if (names.accessTokenHeader !== undefined && names.accessTokenHeader.toLowerCase() === names.idTokenHeader?.toLowerCase()) {
    sink.error(joinPath(here, 'idTokenHeader'), 'names the same header as accessTokenHeader (header names ignore case)');
  }
  if (names.accessTokenHeader === undefined && names.idTokenHeader === undefined) {
    sink.error(here, 'names no header: set accessTokenHeader, idTokenHeader or both (or leave applicationTokens out)');
  }
  return names;
}
