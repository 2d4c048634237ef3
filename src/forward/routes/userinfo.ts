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
  const decision = decideUserinfo(request, loaded);
  if (decision.kind !== 'check-session') return decision;
  return userinfoAnswer(rt, await checkSession(decision.loaded));
}

/** Put this session through the session check, then `userinfoAnswer`. */
export interface CheckSessionFirst {
  readonly kind: 'check-session';
  readonly loaded: LoadedSession;
}

const METHOD_NOT_ALLOWED: Answer = Object.freeze({ kind: 'userinfo', status: 405, cookies: Object.freeze([]) });
const SIGNED_OUT: Answer = Object.freeze({ kind: 'userinfo', status: 401, cookies: Object.freeze([]) });

/** 405 for a method other than GET and HEAD, 401 without a session, else the session check first. */
export function decideUserinfo(request: Pick<ForwardAuthRequest, 'original'>, loaded: LoadedSession | undefined): Answer | CheckSessionFirst {
  const { method } = request.original;
  if (method !== 'GET' && method !== 'HEAD') return METHOD_NOT_ALLOWED;
  if (loaded === undefined) return SIGNED_OUT;
  return { kind: 'check-session', loaded };
}

/**
 * The session check's verdict as the userinfo answer: an allow becomes the forwarded identity as
 * JSON (with any renewed cookie); anything else (a refusal, a renewal redirect, a login) stands.
 */
export function userinfoAnswer(rt: Pick<MiddlewareRuntime, 'forwardHeaders'>, checked: Answer): Answer {
  if (checked.kind !== 'allow') return checked;
  return { kind: 'userinfo', status: 200, identity: forwardedIdentity(rt, checked.headers), cookies: checked.cookies };
}

/** The forwardHeaders values of an allow answer as text: headers carry UTF-8 as one char per byte. */
function forwardedIdentity(rt: Pick<MiddlewareRuntime, 'forwardHeaders'>, headers: Readonly<Record<string, string>>): Record<string, string> {
  const identity: Record<string, string> = {};
  for (const { name } of rt.forwardHeaders) {
    const value = headers[name];
    if (value !== undefined) identity[name] = Buffer.from(value, 'latin1').toString('utf8');
  }
  return identity;
}
