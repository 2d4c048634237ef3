import type { ErrorCode } from '../errors.js';

/**
 * What the service answers to one forward-auth subrequest, before it is written for a proxy.
 * Cookies are serialized `Set-Cookie` values.
 */
export type Answer = AnswerBody & {
  /**
   * An answer to the callback URL, whose query holds a code and a state: written with
   * `Cache-Control: no-store` and `Referrer-Policy: no-referrer` whatever its kind.
   */
  readonly callback?: true;
};

type AnswerBody =
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
      readonly code: 'OFA_LOGIN_REQUIRED' | 'OFA_CLAIMS_DENIED' | 'OFA_CSRF_INVALID' | 'OFA_BEARER_TOKEN_INVALID';
      /** Why, for the page and the log; never claim values. */
      readonly reason: string;
      readonly cookies: readonly string[];
      /** A refused bearer token: the RFC 6750 §3.1 error code its WWW-Authenticate names. */
      readonly bearerError?: 'invalid_token' | 'insufficient_scope';
      /** A signed-in user refused (403): the absolute logout URL the page offers, to switch user. */
      readonly signOutUrl?: string;
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
      /** Which dependency could not answer: one of the table's transient codes. */
      readonly code: ErrorCode;
      readonly retryAfterSeconds: number;
    }
  | {
      /**
       * A logout navigation from another site: not performed, but offered on a page whose link
       * (absolute, to the logout URL on the same origin) is a same-origin navigation when followed.
       */
      readonly kind: 'confirm-logout';
      readonly location: string;
    }
  | {
      /**
       * The userinfoUrl's answer, routed straight to the browser: the forwarded identity as JSON
       * (200), signed out (401), or a method other than GET and HEAD (405).
       */
      readonly kind: 'userinfo';
      readonly status: 200 | 401 | 405;
      /** Header name → value, the forwardHeaders of a 200. */
      readonly identity?: Readonly<Record<string, string>>;
      readonly cookies: readonly string[];
    }
  | {
      /** The answer to the provider's back-channel logout POST (Back-Channel Logout 1.0, 2.8). */
      readonly kind: 'backchannel-logout';
      readonly status: 200 | 400 | 405;
      /** Why a 400 or 405, for the provider's log and ours; fixed words, never token contents. */
      readonly reason: string;
    };

/** The same answer, marked as an answer to the callback URL. */
export function callbackAnswer(answer: Answer): Answer {
  return { ...answer, callback: true };
}

/**
 * Which proxy sent the subrequest; our nginx and Caddy snippets say so in `X-Forward-Auth-Proxy`
 * (Traefik v2.11, which drops every cookie of a 2xx, says `traefik-v2` through a headers middleware).
 * A client forging it changes only the shape of an answer, never who gets in.
 */
export type ProxyKind = 'traefik' | 'traefik-v2' | 'nginx' | 'caddy';

const PROXY_KINDS: ReadonlySet<string> = new Set(['traefik', 'traefik-v2', 'nginx', 'caddy']);

export function proxyKindOf(headerValue: string | string[] | undefined, trustedPeer: boolean): ProxyKind {
  if (!trustedPeer || typeof headerValue !== 'string') return 'traefik';
  const value = headerValue.trim().toLowerCase();
  return PROXY_KINDS.has(value) ? (value as ProxyKind) : 'traefik';
}

/** Proxies that pass no Set-Cookie of a 2xx: a renewal must ride a 302 to reach the browser. */
export function dropsCookiesOnSuccess(proxy: ProxyKind): boolean {
  return proxy === 'caddy' || proxy === 'traefik-v2';
}
