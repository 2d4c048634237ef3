import type { ErrorCode } from '../errors.js';

/**
 * What the service answers to one forward-auth subrequest, before it is written for a proxy.
 * Cookies are serialized `Set-Cookie` values.
 */
export type Answer =
  | {
      readonly kind: 'allow';
      readonly headers: Readonly<Record<string, string>>;
      readonly cookies: readonly string[];
      readonly username: string | undefined;
    }
  | {
      readonly kind: 'redirect';
      /** Always absolute: Traefik resolves a relative Location against the auth server's address. */
      readonly location: string;
      readonly cookies: readonly string[];
      readonly purpose: 'login' | 'callback' | 'logout' | 'renew';
    }
  | {
      readonly kind: 'deny';
      readonly status: 401 | 403;
      readonly reason: string;
      readonly cookies: readonly string[];
    }
  | {
      readonly kind: 'error';
      readonly code: ErrorCode;
      readonly detail: string;
      /** Where "try again" leads on the error page. */
      readonly retryUrl: string | undefined;
      readonly cookies: readonly string[];
    }
  | {
      readonly kind: 'signed-out';
      readonly cookies: readonly string[];
    }
  | {
      readonly kind: 'unavailable';
      readonly retryAfterSeconds: number;
    };

/** Which proxy sent the subrequest; our nginx and Caddy snippets say so in `X-Forward-Auth-Proxy`. */
export type ProxyKind = 'traefik' | 'nginx' | 'caddy';

export function proxyKindOf(headerValue: string | string[] | undefined, trustedPeer: boolean): ProxyKind {
  if (!trustedPeer || typeof headerValue !== 'string') return 'traefik';
  const value = headerValue.trim().toLowerCase();
  return value === 'nginx' || value === 'caddy' ? value : 'traefik';
}
