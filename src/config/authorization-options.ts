/** The authorization request's own options: scopes and authParams. */
import { joinPath, readStringList, readStringMap, type ProblemSink, type RawObject } from './field-reader.js';

/**
 * Parameters the authorization request sets itself; letting authParams override them would
 * break the state/nonce/PKCE checks or point the provider elsewhere.
 */
const RESERVED_AUTH_PARAMS = [
  'client_id',
  'redirect_uri',
  'response_type',
  'scope',
  'state',
  'nonce',
  'code_challenge',
  'code_challenge_method',
];

export function readScopes(options: RawObject, path: string, sink: ProblemSink): string[] {
  const here = joinPath(path, 'scopes');
  const raw = options['scopes'];
  // A space-separated string is how scopes travel in OAuth (RFC 6749 §3.3), so accept it as well;
  // "" is the spec's "not set", like every other string option.
  const scopes =
    typeof raw === 'string' ? raw.split(/\s+/).filter((scope) => scope !== '') : readStringList(options, 'scopes', path, sink);
  if (scopes === undefined || raw === '') return ['openid'];
  if (!scopes.includes('openid')) sink.error(here, 'must include "openid"');
  scopes.forEach((scope, index) => {
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(scope)) sink.error(`${here}[${index}]`, `"${scope}" is not a valid scope`);
  });
  return [...new Set(scopes)];
}

export function readAuthParams(options: RawObject, path: string, sink: ProblemSink): Record<string, string> {
  const params = readStringMap(options, 'authParams', path, sink) ?? {};
  for (const key of Object.keys(params)) {
    if (RESERVED_AUTH_PARAMS.includes(key)) {
      const hint = key === 'scope' ? ' (use scopes)' : '';
      sink.error(joinPath(joinPath(path, 'authParams'), key), `is set by the middleware itself and cannot be overridden${hint}`);
    }
  }
  return params;
}
