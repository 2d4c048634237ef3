/**
 * The four real proxies behind one shape, so a test written once runs through each: nginx, Caddy
 * (Debian's or the current release), Traefik v3 and v2.11, each running its shipped recipe. Each
 * is a process stopped by PID (see its *-process.ts); a missing binary fails, never skips.
 */
import { readFileSync } from 'node:fs';
import { SNIPPET_PATH } from '../../deploy/demo/nginx-conf.js';
import { startCaddy, type CaddyBuild } from './caddy-process.js';
import { startNginx } from './nginx-process.js';
import { readShippedDynamic, renderDynamic, type DynamicAddition } from './traefik-dynamic.js';
import { startTraefik, type TraefikPeer } from './traefik-process.js';

export type ProxyKind = 'nginx' | 'caddy' | TraefikPeer;

/** Certificate files for nginx's HTTPS listener, and the name the site answers to. */
export interface NginxTls {
  readonly hostName: string;
  readonly certFile: string;
  readonly keyFile: string;
}

export interface NginxSpec {
  readonly kind: 'nginx';
  /** The middleware in /auth/NAME (default: the stack's first). */
  readonly middleware?: string;
  /** The recipe's text, when the test turns commented lines on (default: the shipped file). */
  readonly snippet?: string;
  /** An HTTPS listener beside the recipe's own; the site is then https://hostName:PORT. */
  readonly tls?: NginxTls;
}

export interface CaddySpec {
  readonly kind: 'caddy';
  readonly middleware?: string;
  /** Debian's 2.6.2 (default) or the pinned current release. */
  readonly build?: CaddyBuild;
  readonly copyHeaders?: readonly string[];
  readonly backchannelLogout?: boolean;
  readonly userinfo?: boolean;
  readonly snippet?: string;
}

export interface TraefikSpec {
  readonly kind: TraefikPeer;
  /** The commented parts of the shipped dynamic.yml to turn on. */
  readonly additions?: readonly DynamicAddition[];
  /** Traefik serves HTTPS only: PEM certificate, key and the CA that signed it. */
  readonly certificate: { readonly cert: string; readonly key: string; readonly ca: string };
  /** The host name the routers ask for (default 127.0.0.1). */
  readonly host?: string;
  readonly underscoreHeadersStrategy?: 'keep' | 'delete';
  readonly trustedIPs?: readonly string[];
}

export type ProxySpec = NginxSpec | CaddySpec | TraefikSpec;

/** Where the proxy sends what it lets through. */
export interface ProxyUpstreams {
  /** host:port of our service. */
  readonly authAddress: string;
  /** host:port of the application. */
  readonly appAddress: string;
  /** The middleware a spec names none for. */
  readonly middleware: string;
}

export interface RunningProxy {
  readonly kind: ProxyKind;
  /** The origin a browser opens, e.g. http://127.0.0.1:PORT or https://app.oidc.test:PORT. */
  readonly url: string;
  /** The port of `url`. */
  readonly port: number;
  /** What the proxy logged so far. */
  readonly log: () => string;
  stop(): Promise<void>;
}

/** The origin a browser opens for the proxy of `spec` listening on `port`. */
export function proxyOrigin(spec: ProxySpec, port: number): string {
  switch (spec.kind) {
    case 'nginx':
      return spec.tls === undefined ? `http://127.0.0.1:${port}` : `https://${spec.tls.hostName}:${port}`;
    case 'caddy':
      return `http://127.0.0.1:${port}`;
    case 'traefik-v3':
    case 'traefik-v2':
      return `https://${spec.host ?? '127.0.0.1'}:${port}`;
  }
}

/**
 * Starts the proxy of `spec` with its site on `port`: a port promised to the provider (its
 * redirect_uris) before the proxy could bind it, so a clash fails rather than moves the site.
 */
export async function startProxy(spec: ProxySpec, upstreams: ProxyUpstreams, port: number): Promise<RunningProxy> {
  const middleware = 'middleware' in spec && spec.middleware !== undefined ? spec.middleware : upstreams.middleware;
  const { authAddress, appAddress } = upstreams;
  const url = proxyOrigin(spec, port);
  switch (spec.kind) {
    case 'nginx': {
      const snippet = spec.tls === undefined ? spec.snippet : withTlsListener(spec.snippet, spec.tls, port);
      // With TLS the site is the TLS listener; the recipe's own plain listener takes any free port.
      const nginx = await startNginx({ authAddress, appAddress, middleware, ...(snippet === undefined ? {} : { snippet }) }, spec.tls === undefined ? port : undefined);
      return { kind: 'nginx', url, port, log: nginx.log, stop: nginx.stop };
    }
    case 'caddy': {
      const { kind: _kind, build, middleware: _middleware, ...caddyfile } = spec;
      const caddy = await startCaddy({ authAddress, appAddress, middleware, ...caddyfile }, port, build);
      return { kind: 'caddy', url, port, log: caddy.log, stop: caddy.stop };
    }
    case 'traefik-v3':
    case 'traefik-v2': {
      const host = spec.host ?? '127.0.0.1';
      const dynamic = renderDynamic(readShippedDynamic(), { authAddress, appAddress, host }, spec.additions ?? []);
      const traefik = await startTraefik({
        peer: spec.kind,
        dynamic,
        certificate: spec.certificate,
        host,
        port,
        ...(spec.underscoreHeadersStrategy === undefined ? {} : { underscoreHeadersStrategy: spec.underscoreHeadersStrategy }),
        ...(spec.trustedIPs === undefined ? {} : { trustedIPs: spec.trustedIPs }),
      });
      return { kind: spec.kind, url, port, log: traefik.log, stop: traefik.stop };
    }
  }
}

/** The recipe with one more `listen … ssl` beside its own, and the certificate: what an operator adds for HTTPS. */
function withTlsListener(snippet: string | undefined, tls: NginxTls, tlsPort: number): string {
  const recipe = snippet ?? readFileSync(SNIPPET_PATH, 'utf8');
  const listen = '    listen 8080;\n';
  if (recipe.split(listen).length !== 2) throw new Error(`nginx recipe: expected "${listen.trim()}" once`);
  return recipe.replace(listen, `${listen}    listen 127.0.0.1:${tlsPort} ssl;\n    ssl_certificate ${tls.certFile};\n    ssl_certificate_key ${tls.keyFile};\n`);
}
