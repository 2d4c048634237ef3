/**
 * The four real proxies behind one shape, so a test written once runs through each: nginx, Caddy
 * (Debian's or the current release), Traefik v3 and v2.11, each running its shipped recipe. Each
 * is a process stopped by PID (see its *-process.ts); a missing binary fails, never skips.
 */
import { readFileSync } from 'node:fs';
import { SNIPPET_PATH } from '../../deploy/demo/nginx-conf.js';
import { findFreePort } from '../support/scripted-server.js';
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

export async function startProxy(spec: ProxySpec, upstreams: ProxyUpstreams): Promise<RunningProxy> {
  const middleware = 'middleware' in spec && spec.middleware !== undefined ? spec.middleware : upstreams.middleware;
  const { authAddress, appAddress } = upstreams;
  switch (spec.kind) {
    case 'nginx': {
      if (spec.tls !== undefined) return startNginxWithTls({ authAddress, appAddress, middleware }, spec.snippet, spec.tls);
      const nginx = await startNginx({ authAddress, appAddress, middleware, ...(spec.snippet === undefined ? {} : { snippet: spec.snippet }) });
      return { kind: 'nginx', url: nginx.url, port: nginx.port, log: nginx.log, stop: nginx.stop };
    }
    case 'caddy': {
      const { kind: _kind, build, middleware: _middleware, ...caddyfile } = spec;
      const caddy = await startCaddy({ authAddress, appAddress, middleware, ...caddyfile }, undefined, build);
      return { kind: 'caddy', url: caddy.url, port: caddy.port, log: caddy.log, stop: caddy.stop };
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
        ...(spec.underscoreHeadersStrategy === undefined ? {} : { underscoreHeadersStrategy: spec.underscoreHeadersStrategy }),
        ...(spec.trustedIPs === undefined ? {} : { trustedIPs: spec.trustedIPs }),
      });
      return { kind: spec.kind, url: `https://${host}:${traefik.port}`, port: traefik.port, log: traefik.log, stop: traefik.stop };
    }
  }
}

/**
 * The shipped recipe with one more `listen … ssl` beside its own, and the certificate: what an
 * operator adds for HTTPS. The TLS port is probed before nginx binds it, so a port taken in
 * between is retried with another.
 */
async function startNginxWithTls(
  upstreams: { authAddress: string; appAddress: string; middleware: string },
  snippet: string | undefined,
  tls: NginxTls,
): Promise<RunningProxy> {
  const recipe = snippet ?? readFileSync(SNIPPET_PATH, 'utf8');
  const listen = '    listen 8080;\n';
  if (recipe.split(listen).length !== 2) throw new Error(`nginx recipe: expected "${listen.trim()}" once`);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const tlsPort = await findFreePort();
    const withTls = recipe.replace(listen, `${listen}    listen 127.0.0.1:${tlsPort} ssl;\n    ssl_certificate ${tls.certFile};\n    ssl_certificate_key ${tls.keyFile};\n`);
    try {
      const nginx = await startNginx({ ...upstreams, snippet: withTls });
      return { kind: 'nginx', url: `https://${tls.hostName}:${tlsPort}`, port: tlsPort, log: nginx.log, stop: nginx.stop };
    } catch (error) {
      lastError = error;
      if (!/address already in use/i.test(String(error))) throw error;
    }
  }
  throw lastError;
}
