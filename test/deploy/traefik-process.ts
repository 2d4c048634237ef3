/**
 * Runs a real Traefik (the pinned v3 or v2.11 that deploy/peers/build.sh builds) in the
 * foreground: a static configuration with one HTTPS entry point `websecure` on 127.0.0.1 (the
 * shipped dynamic.yml's routers ask for TLS) and the file provider reading a folder with the
 * rendered dynamic configuration and the site's certificate. Its log is captured; it is stopped
 * by PID. A missing binary fails the test (never a skip).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, request } from 'undici';
import { stringify } from 'yaml';
import { peerBinary } from '../support/peers.js';
import { startOnFreePort } from './binaries.js';

export type TraefikPeer = 'traefik-v3' | 'traefik-v2';

export interface TraefikOptions {
  readonly peer: TraefikPeer;
  /** What the file provider serves (renderDynamic's result). */
  readonly dynamic: Record<string, unknown>;
  /** PEM certificate and key the entry point serves to every client (its default certificate). */
  readonly certificate: { readonly cert: string; readonly key: string; readonly ca: string };
  /** The entry point's http.underscoreHeadersStrategy; unset keeps Traefik's default. */
  readonly underscoreHeadersStrategy?: 'keep' | 'delete';
  /** The entry point's forwardedHeaders.trustedIPs: proxies whose X-Forwarded-* it keeps. */
  readonly trustedIPs?: readonly string[];
  /** A port promised before the start (the provider's redirect_uris); default a free one. */
  readonly port?: number;
  /** The host name the routers' rules ask for (default 127.0.0.1, the address itself). */
  readonly host?: string;
  /** Started once the log shows this, instead of once the routers answer (a configuration Traefik refuses). */
  readonly untilLog?: RegExp;
}

export interface RunningTraefik {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  /** Traefik's JSON log so far, one record a line. */
  readonly log: () => string;
  readonly stop: () => Promise<void>;
}

/**
 * The Traefik module version the binary was built from, e.g. "3.6.25", read from its Go build
 * information (`go version -m`): a build from the module proxy says "dev" to `traefik version`.
 */
export function traefikVersion(peer: TraefikPeer): string {
  const result = spawnSync('go', ['version', '-m', peerBinary(peer)], { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`go version -m failed (Go is needed to read the build's module version): ${result.stderr}`);
  const match = /^\s*mod\s+github\.com\/traefik\/traefik\/v\d+\s+v(\S+)/m.exec(result.stdout);
  if (match === null) throw new Error(`${peer}: no traefik module in the binary's build information`);
  return match[1]!;
}

export async function startTraefik(options: TraefikOptions): Promise<RunningTraefik> {
  const binary = peerBinary(options.peer);
  if (options.port !== undefined) return startOnPort(binary, options.port, options);
  return startOnFreePort((port) => startOnPort(binary, port, options));
}

function staticConfiguration(dir: string, port: number, options: TraefikOptions): string {
  const http = options.underscoreHeadersStrategy === undefined ? {} : { http: { underscoreHeadersStrategy: options.underscoreHeadersStrategy } };
  const forwarded = options.trustedIPs === undefined ? {} : { forwardedHeaders: { trustedIPs: [...options.trustedIPs] } };
  return stringify({
    global: { checkNewVersion: false, sendAnonymousUsage: false },
    log: { level: 'INFO', format: 'json' },
    entryPoints: { websecure: { address: `127.0.0.1:${port}`, ...http, ...forwarded } },
    providers: { file: { directory: join(dir, 'dynamic'), watch: false } },
  });
}

async function startOnPort(binary: string, port: number, options: TraefikOptions): Promise<RunningTraefik> {
  const dir = mkdtempSync(join(tmpdir(), 'ofa-traefik-'));
  mkdirSync(join(dir, 'dynamic'));
  writeFileSync(join(dir, 'site.crt'), options.certificate.cert);
  writeFileSync(join(dir, 'site.key'), options.certificate.key, { mode: 0o600 });
  writeFileSync(join(dir, 'dynamic', 'app.yml'), stringify(options.dynamic));
  // The test's own file beside the shipped one: the certificate, as an operator's TLS setup adds.
  const certificate = { certFile: join(dir, 'site.crt'), keyFile: join(dir, 'site.key') };
  writeFileSync(join(dir, 'dynamic', 'tls.yml'), stringify({ tls: { stores: { default: { defaultCertificate: certificate } } } }));
  const file = join(dir, 'traefik.yml');
  writeFileSync(file, staticConfiguration(dir, port, options));

  const child = spawn(binary, [`--configFile=${file}`], { cwd: dir, env: { PATH: process.env.PATH, HOME: dir }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const append = (chunk: string): void => {
    output += chunk;
  };
  child.stdout?.setEncoding('utf8').on('data', append);
  child.stderr?.setEncoding('utf8').on('data', append);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.once('error', () => undefined);
  const stopChild = async (signal: NodeJS.Signals): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, signal);
      await exited;
    }
  };
  const url = `https://127.0.0.1:${port}`;
  const host = options.host ?? '127.0.0.1';
  const agent = new Agent({ connect: { ca: options.certificate.ca, ...(isIP(host) === 0 ? { servername: host } : {}) } });
  try {
    if (options.untilLog === undefined) await waitUntilRouting(url, host === '127.0.0.1' ? undefined : `${host}:${port}`, agent, exited, () => output);
    else await waitUntilLogged(options.untilLog, exited, () => output);
  } catch (error) {
    await stopChild('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
    throw error;
  } finally {
    await agent.close();
  }
  return {
    url,
    port,
    log: () => output,
    stop: async () => {
      // Traefik drains its entry points on SIGTERM.
      await stopChild('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Traefik logs nothing when the file provider's routers go live; until they do it answers every
 * request with its own 404. Ready once `/` gets anything else (the service's answer).
 */
async function waitUntilRouting(
  url: string,
  hostHeader: string | undefined,
  agent: Agent,
  exited: Promise<number | null>,
  output: () => string,
): Promise<void> {
  let done = false;
  const failure = exited.then((code) => {
    if (!done) throw new Error(`traefik exited (code ${String(code)}) before routing:\n${output()}`);
  });
  const ready = (async () => {
    for (let attempt = 0; attempt < 400 && !done; attempt += 1) {
      try {
        const headers = { accept: 'application/json', ...(hostHeader === undefined ? {} : { host: hostHeader }) };
        const response = await request(`${url}/`, { dispatcher: agent, headers });
        const body = await response.body.text();
        if (response.statusCode !== 404 || body !== '404 page not found\n') return;
      } catch {
        // not listening yet
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`traefik did not route ${url}/ in time:\n${output()}`);
  })();
  try {
    await Promise.race([ready, failure]);
  } finally {
    done = true;
  }
}

async function waitUntilLogged(pattern: RegExp, exited: Promise<number | null>, output: () => string): Promise<void> {
  let done = false;
  const failure = exited.then((code) => {
    if (!done) throw new Error(`traefik exited (code ${String(code)}) before logging ${String(pattern)}:\n${output()}`);
  });
  const logged = (async () => {
    for (let attempt = 0; attempt < 400 && !done; attempt += 1) {
      if (pattern.test(output())) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    throw new Error(`traefik did not log ${String(pattern)} in time:\n${output()}`);
  })();
  try {
    await Promise.race([logged, failure]);
  } finally {
    done = true;
  }
}
