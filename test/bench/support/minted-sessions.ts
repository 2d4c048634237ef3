/**
 * Many distinct, valid session cookies from one real sign-in: the real session is opened with the
 * service's own codec (same secrets, same sealing purpose), given a fresh session ID, and sealed
 * again, as the service would seal a login of the same user. Thousands of real logins would take
 * minutes at the provider; what the 10,000-session case measures is the service opening cookies it
 * has not cached, which these are.
 */
import { sessionPurpose } from '../../../src/session/sealed-session.js';
import { createSealer } from '../../../src/session/seal.js';
import { openSession, sealSession } from '../../../src/session/sealed-session.js';
import { newSessionId } from '../../../src/session/session.js';

export interface MintOptions {
  /** The Cookie header of the real sign-in. */
  readonly cookieHeader: string;
  /** The session cookie's name in it. */
  readonly cookieName: string;
  readonly secrets: readonly string[];
  /** What the sealing purpose is bound to, as in the service's config. */
  readonly middleware: { readonly name: string; readonly issuer: string; readonly clientID: string };
  readonly count: number;
}

/** `count` Cookie headers, each the real one with another session in place of the signed-in one. */
export function mintSessionCookies(options: MintOptions): string[] {
  const sealer = createSealer(options.secrets);
  const purpose = sessionPurpose(options.middleware);
  const parts = options.cookieHeader.split('; ');
  const index = parts.findIndex((part) => part.startsWith(`${options.cookieName}=`));
  if (index < 0) throw new Error(`the sign-in left no ${options.cookieName} cookie`);
  const opened = openSession(sealer, (parts[index] as string).slice(options.cookieName.length + 1), purpose);
  if (opened === undefined) throw new Error(`the real ${options.cookieName} cookie does not open with the benchmark's secrets and purpose`);
  const headers: string[] = [];
  for (let i = 0; i < options.count; i += 1) {
    const sealed = sealSession(sealer, { ...opened.session, id: newSessionId() }, purpose);
    const copy = [...parts];
    copy[index] = `${options.cookieName}=${sealed.value}`;
    headers.push(copy.join('; '));
  }
  return headers;
}
