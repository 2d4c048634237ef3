/**
 * oauth2-proxy (the pinned v7 that deploy/peers/build.sh builds) as the benchmark's other backend
 * behind nginx's auth_request: `--provider=oidc` at the same dev provider, a cookie session, the
 * same rule as our middleware (members of `admin` only) and the same two identity headers. A
 * child process pinned like the service; its stdout (one request log line per request, as ours
 * logs one access line per decision) is read by this process, as a container runtime would.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { request } from 'undici';
import { peerBinary, peerVersion } from '../../support/peers.js';
import { isRunning, spawnPinned, stopChild, type CpuList } from './processes.js';

export interface Oauth2ProxySpec {
  readonly port: number;
  readonly issuer: string;
  readonly clientID: string;
  readonly clientSecret: string;
  /** The nginx site's origin: its /oauth2/callback is the redirect URL. */
  readonly site: string;
}

export interface BenchOauth2Proxy {
  readonly pid: number;
  readonly version: string;
  stop(): Promise<void>;
}

export const OAUTH2_PROXY_LABEL = `oauth2-proxy ${peerVersion('oauth2-proxy')}`;

export function oauth2ProxyArguments(spec: Oauth2ProxySpec): string[] {
  return [
    `--http-address=127.0.0.1:${spec.port}`,
    '--provider=oidc',
    `--oidc-issuer-url=${spec.issuer}`,
    `--client-id=${spec.clientID}`,
    `--client-secret=${spec.clientSecret}`,
    `--redirect-url=${spec.site}/oauth2/callback`,
    '--scope=openid email profile groups',
    // 32 random bytes: AES-256 for the session cookie.
    `--cookie-secret=${randomBytes(32).toString('base64url')}`,
    '--cookie-secure=false',
    // No renewal on a 2xx, like our middleware's sliding: false.
    '--cookie-refresh=0',
    '--email-domain=*',
    '--allowed-group=admin',
    '--oidc-groups-claim=groups',
    '--set-xauthrequest',
    '--skip-provider-button',
    '--reverse-proxy',
    '--trusted-proxy-ip=127.0.0.1/32',
    '--upstream=static://202',
    '--silence-ping-logging',
  ];
}

export async function startBenchOauth2Proxy(spec: Oauth2ProxySpec, options: { readonly dir: string; readonly cpus: CpuList | undefined }): Promise<BenchOauth2Proxy> {
  const binary = peerBinary('oauth2-proxy');
  const errPath = join(options.dir, 'oauth2-proxy.stderr');
  const err = openSync(errPath, 'a');
  const child = spawnPinned(options.cpus, binary, oauth2ProxyArguments(spec), { stdio: ['ignore', 'pipe', err], cwd: options.dir, env: { PATH: process.env.PATH ?? '' } });
  closeSync(err);
  // Read and dropped: the cost of writing its log is oauth2-proxy's, as the service's is ours.
  child.stdout?.on('data', () => undefined);
  const stop = (): Promise<void> => stopChild(child);
  try {
    await waitUntilReady(`http://127.0.0.1:${spec.port}`, () => isRunning(child), errPath);
  } catch (error) {
    await stop();
    throw error;
  }
  if (child.pid === undefined) throw new Error('oauth2-proxy has no PID');
  return { pid: child.pid, version: peerVersion('oauth2-proxy'), stop };
}

/** /ready answers 200 once oauth2-proxy has discovered the provider and listens. */
async function waitUntilReady(origin: string, alive: () => boolean, errPath: string): Promise<void> {
  for (let i = 0; i < 300; i += 1) {
    if (!alive()) throw new Error(`oauth2-proxy exited before it was ready; its stderr:\n${readFileSync(errPath, 'utf8').slice(-3000)}`);
    try {
      const answer = await request(`${origin}/ready`);
      await answer.body.dump();
      if (answer.statusCode === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`oauth2-proxy was not ready within 30 s; its stderr:\n${readFileSync(errPath, 'utf8').slice(-3000)}`);
}
