/** The options written in the claims language: the rule (claims), usernameClaim and the claims forwardHeaders pass on. */
import { ClaimsSyntaxError, compileClaims, parseClaimKey } from '../claims/index.js';
import { HTTP_TOKEN } from './cookie-options.js';
import { joinPath, readOptionalString, readStringMap, type ProblemSink, type RawObject } from './field-reader.js';
import { isReservedHeaderName } from './reserved-headers.js';

export function readClaimsExpression(options: RawObject, path: string, sink: ProblemSink): string | undefined {
  const claims = readOptionalString(options, 'claims', path, sink);
  if (claims === undefined) return undefined;
  try {
    compileClaims(claims);
  } catch (error) {
    sink.error(joinPath(path, 'claims'), describeClaimsError(error));
  }
  return claims;
}

export function readClaimKeyOption(options: RawObject, key: string, path: string, sink: ProblemSink): string | undefined {
  const value = readOptionalString(options, key, path, sink);
  if (value !== undefined) checkClaimKey(value, joinPath(path, key), sink);
  return value;
}

function checkClaimKey(value: string, path: string, sink: ProblemSink): void {
  try {
    parseClaimKey(value);
  } catch (error) {
    sink.error(path, `"${value}" is not a claim key: ${describeClaimsError(error)}`);
  }
}

function describeClaimsError(error: unknown): string {
  if (error instanceof ClaimsSyntaxError || error instanceof Error) return error.message;
  return String(error);
}

export function readForwardHeaders(options: RawObject, path: string, sink: ProblemSink): Record<string, string> {
  const headers = readStringMap(options, 'forwardHeaders', path, sink) ?? {};
  const here = joinPath(path, 'forwardHeaders');
  const seen = new Map<string, string>();
  for (const [header, claim] of Object.entries(headers)) {
    const headerPath = joinPath(here, header);
    if (!HTTP_TOKEN.test(header)) sink.error(headerPath, `"${header}" is not a valid HTTP header name`);
    else if (isReservedHeaderName(header)) {
      sink.error(headerPath, `"${header}" is a header the proxies or HTTP itself rely on and cannot carry a claim`);
    }
    const lowered = header.toLowerCase();
    const earlier = seen.get(lowered);
    if (earlier !== undefined) sink.error(headerPath, `names the same header as "${earlier}" (header names ignore case)`);
    seen.set(lowered, header);
    checkClaimKey(claim, headerPath, sink);
  }
  return headers;
}
