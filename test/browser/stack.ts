/**
 * Everything a browser test signs in through, each a real process or server on 127.0.0.1: the
 * demo's echo application, real nginx, Caddy or Traefik running the shipped recipe (nginx
 * optionally, Traefik always, over HTTPS under a private CA's certificate), the real oidc-provider
 * and our service. Stopped, by
 * PID where it is a process, by `stop()`; a start that fails half-way stops what it started.
 */
import { readFileSync } from 'node:fs';
import { startEchoUpstream } from '../../deploy/demo/echo-upstream.js';
import { SNIPPET_PATH } from '../../deploy/demo/nginx-conf.js';
import type { CookieOptions } from '../../src/config/types.js';
import { startCaddy, type CaddyBuild } from '../deploy/caddy-process.js';
import { startNginx, type RunningNginx } from '../deploy/nginx-process.js';
import { readShippedDynamic, renderDynamic } from '../deploy/traefik-dynamic.js';
import { startTraefik, type TraefikPeer } from '../deploy/traefik-process.js';
import { makeMiddlewareConfig } from '../support/middleware-config.js';
import { startTestProvider, TEST_CLIENT_ID, TEST_CLIENT_SECRET, type DevProvider } from '../support/op.js';
import { findFreePort } from '../support/scripted-server.js';
import { startService, type TestService } from '../support/service.js';
import type { SiteCertificate } from './site-certificate.js';

export const MIDDLEWARE = 'app';
const FORWARD_HEADERS = { 'X-Forwarded-User': 'email', 'X-Forwarded-Groups': 'groups' };

type CookieChoice = Pick<CookieOptions, 'name' | 'secure' | 'sameSite'>;

export interface BrowserStackOptions {
  readonly proxy: 'nginx' | 'caddy' | TraefikPeer;
  /** nginx (optional) and Traefik (required): serve the site over HTTPS at https://HOST:PORT with this certificate. */
  readonly certificate?: SiteCertificate;
  /** Caddy only: Debian's (default) or the current release. */
  readonly caddyBuild?: CaddyBuild;
  readonly sessionExpirySeconds: number;
  readonly session: CookieChoice;
  readonly stateCookie: CookieChoice;
}

export interface BrowserStack {
  /** The origin the browser opens. */
  readonly site: string;
  readonly op: DevProvider;
  readonly service: TestService;
  /** The port the site's TLS listener is on (with a certificate). */
  readonly tlsPort: number | undefined;
  stop(): Promise<void>;
}

export async function startBrowserStack(options: BrowserStackOptions): Promise<BrowserStack> {
  const stops: (() => Promise<void>)[] = [];
  const stopAll = async (): Promise<void> => {
    for (const stop of stops.reverse()) await stop();
    stops.length = 0;
  };
  try {
    // The proxy only needs the service's address, the provider the proxy's callback URL, and the
    // service the provider's issuer: so the service's port is chosen first and bound last.
    const servicePort = await findFreePort();
    const upstream = await startEchoUpstream();
    stops.push(() => upstream.close());
    const upstreams = { authAddress: `127.0.0.1:${servicePort}`, appAddress: `127.0.0.1:${upstream.port}`, middleware: MIDDLEWARE };

    let site: string;
    let tlsPort: number | undefined;
    if (options.proxy === 'traefik-v3' || options.proxy === 'traefik-v2') {
      if (options.certificate === undefined) throw new Error("the shipped dynamic.yml's router serves HTTPS only: give Traefik a certificate");
      const { certificate } = options;
      const dynamic = renderDynamic(
        readShippedDynamic(),
        { authAddress: upstreams.authAddress, appAddress: upstreams.appAddress, host: certificate.hostName },
        options.proxy === 'traefik-v2' ? ['traefik-v2'] : [],
      );
      const traefik = await startTraefik({
        peer: options.proxy,
        dynamic,
        certificate: { cert: readFileSync(certificate.certFile, 'utf8'), key: readFileSync(certificate.keyFile, 'utf8'), ca: certificate.ca },
        underscoreHeadersStrategy: 'delete',
        host: certificate.hostName,
      });
      stops.push(() => traefik.stop());
      tlsPort = traefik.port;
      site = `https://${certificate.hostName}:${traefik.port}`;
    } else if (options.proxy === 'caddy') {
      if (options.certificate !== undefined) throw new Error('HTTPS is set up for nginx only');
      const caddy = await startCaddy({ ...upstreams, copyHeaders: Object.keys(FORWARD_HEADERS) }, undefined, options.caddyBuild);
      stops.push(() => caddy.stop());
      site = caddy.url;
    } else if (options.certificate === undefined) {
      const nginx = await startNginx(upstreams);
      stops.push(() => nginx.stop());
      site = nginx.url;
    } else {
      const nginx = await startNginxWithTls(upstreams, options.certificate);
      stops.push(() => nginx.stop());
      tlsPort = nginx.tlsPort;
      site = `https://${options.certificate.hostName}:${nginx.tlsPort}`;
    }

    const op = await startTestProvider({
      clients: [
        {
          client_id: TEST_CLIENT_ID,
          client_secret: TEST_CLIENT_SECRET,
          redirect_uris: [`${site}/callback`],
          post_logout_redirect_uris: [`${site}/`],
        },
      ],
    });
    stops.push(() => op.stop());

    const defaults = makeMiddlewareConfig({ name: MIDDLEWARE });
    const service = await startService({
      port: servicePort,
      trustedProxies: ['127.0.0.1/32'],
      middlewares: [
        {
          name: MIDDLEWARE,
          issuer: op.issuer,
          redirectUrl: '/callback',
          logoutUrl: '/logout',
          postLogoutRedirectUrl: '/',
          forwardHeaders: FORWARD_HEADERS,
          session: { ...defaults.session, ...options.session, expiry: options.sessionExpirySeconds, sliding: true },
          stateCookie: { ...defaults.stateCookie, ...options.stateCookie },
        },
      ],
    });
    stops.push(() => service.stop());
    return { site, op, service, tlsPort, stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

interface NginxWithTls extends RunningNginx {
  readonly tlsPort: number;
}

/**
 * The shipped recipe with one more `listen … ssl` beside its own, and the certificate: what an
 * operator adds for HTTPS. The TLS port is probed before nginx binds it, so a port taken in
 * between is retried with another.
 */
async function startNginxWithTls(
  upstreams: { authAddress: string; appAddress: string; middleware: string },
  certificate: SiteCertificate,
): Promise<NginxWithTls> {
  const recipe = readFileSync(SNIPPET_PATH, 'utf8');
  const listen = '    listen 8080;\n';
  if (recipe.split(listen).length !== 2) throw new Error(`nginx recipe: expected "${listen.trim()}" once`);
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt += 1) {
    const tlsPort = await findFreePort();
    const snippet = recipe.replace(
      listen,
      `${listen}    listen 127.0.0.1:${tlsPort} ssl;\n    ssl_certificate ${certificate.certFile};\n    ssl_certificate_key ${certificate.keyFile};\n`,
    );
    try {
      return { ...(await startNginx({ ...upstreams, snippet })), tlsPort };
    } catch (error) {
      lastError = error;
      if (!/address already in use/i.test(String(error))) throw error;
    }
  }
  throw lastError;
}
