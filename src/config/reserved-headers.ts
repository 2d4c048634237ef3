/**
 * Header names `forwardHeaders` may not use: the ones HTTP itself gives a meaning to, the ones the
 * proxies send us or act on in an auth answer, and the X-Forwarded-* family the proxies set on the
 * way in (Traefik strips these at its entry point, nginx and Caddy set them). A claim written into
 * one of them would change how the proxy or the application reads the request, not who the user is.
 * Identity headers people rely on (X-Forwarded-User, -Groups, -Email, …) are not on the list.
 */
const RESERVED = new Set([
  // HTTP framing, connection management and routing (RFC 9110, RFC 9112).
  'host',
  'content-length',
  'transfer-encoding',
  'connection',
  'keep-alive',
  'upgrade',
  'te',
  'trailer',
  'proxy-connection',
  // Credentials and state.
  'cookie',
  'set-cookie',
  'authorization',
  'proxy-authorization',
  // What an auth answer means to the proxies and to this service.
  'location',
  'x-auth-location',
  'x-forward-auth-proxy',
  // The request as the proxies describe it.
  'forwarded',
  'x-forwarded-for',
  'x-forwarded-host',
  'x-forwarded-proto',
  'x-forwarded-port',
  'x-forwarded-uri',
  'x-forwarded-method',
  'x-forwarded-server',
  'x-forwarded-prefix',
  'x-forwarded-scheme',
  'x-forwarded-ssl',
  'x-forwarded-tls-client-cert',
  'x-forwarded-tls-client-cert-info',
  'x-real-ip',
  'x-scheme',
  'x-original-uri',
  'x-original-method',
  'x-original-url',
]);

/** Case-insensitive; `_` counts as `-`, as Traefik's entry point and several servers treat them alike. */
export function isReservedHeaderName(name: string): boolean {
  return RESERVED.has(name.toLowerCase().replaceAll('_', '-'));
}
