import type { LoadedSession } from '../../session/store.js';
import type { Answer } from '../answer.js';
import type { ForwardAuthRequest } from '../forward-request.js';
import type { MiddlewareRuntime } from '../runtime.js';

/**
 * The userinfoUrl: who is signed in, for a single-page application. The session goes through the
 * same check as any request (refresh, revocation, the claims rule), so the JSON says exactly what
 * the application's headers would: the forwardHeaders entries, by header name, and nothing else
 * (never a token, whatever applicationTokens passes). Signed out is 401, never a login redirect.
 */
export async function answerUserinfo(
  rt: MiddlewareRuntime,
  request: ForwardAuthRequest,
  loaded: LoadedSession | undefined,
  checkSession: (loaded: LoadedSession) => Promise<Answer>,
): Promise<Answer> {
  const { method } = request.original;
  if (method !== 'GET' && method !== 'HEAD') return { kind: 'userinfo', status: 405, cookies: [] };
  if (loaded === undefined) return { kind: 'userinfo', status: 401, cookies: [] };
  const checked = await checkSession(loaded);
  if (checked.kind !== 'allow') return checked;
  return { kind: 'userinfo', status: 200, identity: forwardedIdentity(rt, checked.headers), cookies: checked.cookies };
}

/** The forwardHeaders values of an allow answer as text: headers carry UTF-8 as one char per byte. */
function forwardedIdentity(rt: MiddlewareRuntime, headers: Readonly<Record<string, string>>): Record<string, string> {
  const identity: Record<string, string> = {};
  for (const { name } of rt.forwardHeaders) {
    const value = headers[name];
    if (value !== undefined) identity[name] = Buffer.from(value, 'latin1').toString('utf8');
  }
  return identity;
}
