import type { MiddlewareConfig } from './types.js';

/**
 * What `check` says about handing the application tokens or unauthenticated preflights. The
 * service never sees the hop from the proxy to the application, so it cannot tell whether that hop
 * is TLS: every recipe proxies to a plain http:// upstream, so passing a token is warned about
 * whenever it is on.
 */
export function applicationWarnings(middleware: MiddlewareConfig): string[] {
  const at = `middlewares.${middleware.name}`;
  const warnings: string[] = [];
  const tokens = middleware.applicationTokens;
  if (tokens !== undefined) {
    const names = [tokens.accessTokenHeader, tokens.idTokenHeader].filter((name) => name !== undefined).join(' and ');
    warnings.push(
      `${at}.applicationTokens: hands the application the user's tokens in ${names}: the proxy-to-application hop of the recipes is plain http, so keep it on this machine or a private network, or proxy to https`,
    );
    if (middleware.session.store === undefined) {
      warnings.push(
        `${at}.applicationTokens: sessions are cookies, so each now carries the token(s) (a JWT access token adds about its own length to the cookie, which holds at most 3800 bytes): session.store.redis keeps them server-side`,
      );
    }
  }
  if (middleware.allowCorsPreflight === true) {
    warnings.push(
      `${at}.allowCorsPreflight: CORS preflights (OPTIONS with Origin and Access-Control-Request-Method) reach the application without a signed-in user: it must answer them without acting on them`,
    );
  }
  return warnings;
}
