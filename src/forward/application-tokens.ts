import type { MiddlewareConfig } from '../config/types.js';
import type { Session } from '../session/session.js';
import { checkIdentityHeaderBudget, type IdentityHeaderBudget } from './forwarded-headers.js';

/**
 * How long before its expiry a passed access token is refreshed. Identity alone needs only a few
 * seconds of leeway; an application that calls an API with the token needs it valid for that
 * call too, and its clock may run ahead of ours.
 */
export const PASSED_ACCESS_TOKEN_LEEWAY_SECONDS = 30;

type TokenOptions = Pick<MiddlewareConfig, 'applicationTokens'>;

export function passesAccessToken(config: TokenOptions): boolean {
  return config.applicationTokens?.accessTokenHeader !== undefined;
}

export function passesIdToken(config: TokenOptions): boolean {
  return config.applicationTokens?.idTokenHeader !== undefined;
}

/**
 * The raw access token a new or refreshed session keeps: only when the application is handed it
 * (a refresh after a reload turned the option off drops the one kept before).
 */
export function keptAccessToken(config: TokenOptions, accessToken: string): Pick<Session, 'accessToken'> {
  return { accessToken: passesAccessToken(config) ? accessToken : undefined };
}

/**
 * A session made before the option was on (a reload turned it on) holds no token to pass: it must
 * be refreshed, or signed in again, before an answer can carry one.
 */
export function lacksPassedTokens(config: TokenOptions, session: Session): boolean {
  return (passesAccessToken(config) && session.accessToken === undefined) || (passesIdToken(config) && session.idToken === undefined);
}

/**
 * The access token has expired, or will within `leewaySeconds` (then the session's refresh runs
 * first). A session whose provider named no lifetime never counts as expired.
 */
export function accessTokenExpiresWithin(session: Session, nowSeconds: number, leewaySeconds: number): boolean {
  return session.accessTokenExpiresAt !== undefined && nowSeconds >= session.accessTokenExpiresAt - leewaySeconds;
}

/** The leeway the session check refreshes with: wider when the token itself goes to the application. */
export function accessTokenLeewaySeconds(config: TokenOptions, identityLeewaySeconds: number): number {
  return passesAccessToken(config) ? Math.max(identityLeewaySeconds, PASSED_ACCESS_TOKEN_LEEWAY_SECONDS) : identityLeewaySeconds;
}

/**
 * A passed access token that has expired and could not be refreshed here (its refresh waits for a
 * page load behind Caddy or Traefik v2.11): the application must not get it.
 */
export function passedAccessTokenExpired(config: TokenOptions, session: Session, nowSeconds: number): boolean {
  return passesAccessToken(config) && accessTokenExpiresWithin(session, nowSeconds, 0);
}

/**
 * The token headers of a 2xx answer, beside the identity headers: `Authorization: Bearer <token>`,
 * or the bare token under any other name. Every configured header is always present (empty when
 * there is nothing to send), since Caddy's copy_headers mishandles a listed header an answer lacks.
 */
export function applicationTokenHeaders(config: TokenOptions, tokens: { readonly accessToken?: string | undefined; readonly idToken?: string | undefined }): Record<string, string> {
  const names = config.applicationTokens;
  if (names === undefined) return {};
  const headers: Record<string, string> = {};
  if (names.accessTokenHeader !== undefined) headers[names.accessTokenHeader] = tokenValue(names.accessTokenHeader, tokens.accessToken);
  if (names.idTokenHeader !== undefined) headers[names.idTokenHeader] = tokenValue(names.idTokenHeader, tokens.idToken);
  return headers;
}

function tokenValue(header: string, token: string | undefined): string {
  if (token === undefined) return '';
  return header.toLowerCase() === 'authorization' ? `Bearer ${token}` : token;
}

interface ForwardedHeaders {
  readonly headers: Readonly<Record<string, string>>;
  readonly budget: IdentityHeaderBudget;
}

/**
 * A 2xx's identity headers with the session's tokens added, measured again together: tokens are
 * the largest headers an answer carries, and past the budget nginx would answer 502.
 */
export function withApplicationTokens<T extends ForwardedHeaders>(config: TokenOptions, identity: T, session: Session): T {
  if (config.applicationTokens === undefined) return identity;
  const headers = { ...identity.headers, ...applicationTokenHeaders(config, session) };
  return { ...identity, headers, budget: checkIdentityHeaderBudget(headers) };
}
