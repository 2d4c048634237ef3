/**
 * Apache httpd with mod_auth_openidc (Debian's apache2 and libapache2-mod-auth-openidc) as the
 * benchmark's second peer. Nothing stands in front of it: Apache is the proxy, checks the session
 * in-process and serves the protected static file itself, as nginx does for the other sites. The
 * module keeps the defaults the issue names: sessions in the server cache (OIDCSessionType
 * server-cache) held in shared memory (OIDCCacheType shm).
 *
 * Our own config in a directory of its own, `apache2 -DFOREGROUND`, one event-MPM child process
 * (as nginx runs one worker), pinned, stopped by PID.
 */
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmodSync, closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { findBinary } from '../../deploy/binaries.js';
import { STATIC_PAGE, type BenchNginx } from './bench-nginx.js';
import { isRunning, pinProcessTree, spawnPinned, stopChild, type CpuList } from './processes.js';

const MODULES_DIR = '/usr/lib/apache2/modules';

/** Where the provider sends the browser back; the module wants it inside the protected location. */
export const APACHE_REDIRECT_PATH = '/app/redirect_uri';

export interface ApacheSpec {
  readonly port: number;
  readonly issuer: string;
  readonly clientID: string;
  readonly clientSecret: string;
}

/** Apache answers where nginx does for the other sites: the same fields, read the same way. */
export interface BenchApache extends BenchNginx {
  /** "Apache/2.4.x, mod_auth_openidc 2.4.x". */
  readonly version: string;
}

export function findApache(): string {
  return findBinary('apache2', ['/usr/sbin', '/usr/local/sbin']);
}

function packageVersion(name: string): string {
  try {
    return execFileSync('dpkg-query', ['-W', '-f', '${Version}', name], { encoding: 'utf8' }).trim();
  } catch {
    return '?';
  }
}

function apacheVersion(binary: string): string {
  const server = /Server version:\s*(\S+)/.exec(execFileSync(binary, ['-v'], { encoding: 'utf8' }))?.[1] ?? 'Apache ?';
  return `${server}, mod_auth_openidc ${packageVersion('libapache2-mod-auth-openidc')}`;
}

/**
 * When started as root (a container), Apache's children drop to `User`: they read the document
 * root, the parent (still root) opens the logs and reads this file, which holds the secrets.
 */
function runAsLines(): string {
  return process.getuid?.() === 0 ? 'User www-data\nGroup www-data\n' : '';
}

export function apacheConfig(spec: ApacheSpec, paths: { readonly root: string; readonly docroot: string }): string {
  const { root, docroot } = paths;
  const site = `http://127.0.0.1:${spec.port}`;
  return `# Written by test/bench/support/bench-apache.ts for one benchmark run.
ServerRoot ${root}
ServerName 127.0.0.1
Listen 127.0.0.1:${spec.port}
PidFile ${root}/apache2.pid
DefaultRuntimeDir ${root}/run
ErrorLog ${root}/error.log
LogLevel warn
${runAsLines()}
LoadModule mpm_event_module ${MODULES_DIR}/mod_mpm_event.so
LoadModule authn_core_module ${MODULES_DIR}/mod_authn_core.so
LoadModule authz_core_module ${MODULES_DIR}/mod_authz_core.so
LoadModule alias_module ${MODULES_DIR}/mod_alias.so
LoadModule mime_module ${MODULES_DIR}/mod_mime.so
LoadModule auth_openidc_module ${MODULES_DIR}/mod_auth_openidc.so

# One child, its threads enough for every wrk connection: nginx runs one worker for the others.
StartServers 1
ServerLimit 1
ThreadsPerChild 64
ThreadLimit 64
MaxRequestWorkers 64
MinSpareThreads 1
MaxSpareThreads 64
# nginx's default keepalive_requests for clients.
KeepAlive On
MaxKeepAliveRequests 1000

TypesConfig /etc/mime.types
# nginx's combined format, so the benchmark counts statuses in both logs alike (%O: bytes sent).
LogFormat "%h %l %u %t \\"%r\\" %>s %O \\"%{Referer}i\\" \\"%{User-Agent}i\\"" combined
CustomLog ${root}/access.log combined

OIDCProviderMetadataURL ${spec.issuer}/.well-known/openid-configuration
OIDCClientID ${spec.clientID}
OIDCClientSecret ${spec.clientSecret}
OIDCRedirectURI ${site}${APACHE_REDIRECT_PATH}
OIDCCryptoPassphrase ${randomBytes(32).toString('base64url')}
OIDCScope "openid email profile groups"
OIDCRemoteUserClaim email
OIDCSessionType server-cache
OIDCCacheType shm
# Its default (300 s) would end the one session between two of its runs in a long benchmark.
OIDCSessionInactivityTimeout 86400

<Directory />
    Require all denied
</Directory>

# The application: every path under /app/ is the one static page, as the nginx sites serve it.
AliasMatch ^/app/ ${docroot}/index.html
<Directory ${docroot}>
    Require all granted
</Directory>

<Location /app/>
    AuthType openid-connect
    Require claim groups:admin
</Location>
`;
}

export async function startBenchApache(spec: ApacheSpec, options: { readonly cpus: CpuList | undefined }): Promise<BenchApache> {
  const binary = findApache();
  const version = apacheVersion(binary);
  // Its own directory: when Apache runs as root its children become www-data and must reach the
  // page, but not the suite's directory with every other secret in it.
  const root = mkdtempSync(join(tmpdir(), 'ofa-bench-apache-'));
  const docroot = join(root, 'htdocs');
  mkdirSync(docroot);
  mkdirSync(join(root, 'run'));
  writeFileSync(join(docroot, 'index.html'), STATIC_PAGE);
  chmodSync(root, 0o711);
  chmodSync(docroot, 0o755);
  chmodSync(join(docroot, 'index.html'), 0o644);
  const configPath = join(root, 'apache2.conf');
  writeFileSync(configPath, apacheConfig(spec, { root, docroot }), { mode: 0o600 });

  const errPath = join(root, 'stderr');
  const err = openSync(errPath, 'a');
  const child = spawnPinned(options.cpus, binary, ['-f', configPath, '-DFOREGROUND'], { stdio: ['ignore', 'ignore', err], cwd: root, env: { PATH: process.env.PATH ?? '' } });
  closeSync(err);
  const removeRoot = (): void => rmSync(root, { recursive: true, force: true });
  const stop = async (): Promise<void> => {
    // SIGTERM: the parent stops its children and exits (graceful-stop would wait for keep-alives).
    await stopChild(child);
    removeRoot();
  };
  const failed = (why: string): Error =>
    new Error(`Apache ${why}; its error.log and stderr:\n${[readText(join(root, 'error.log')), readText(errPath)].join('\n').trim().split('\n').slice(-20).join('\n')}`);
  try {
    await waitUntilListening(`http://127.0.0.1:${spec.port}`, () => isRunning(child), failed);
    if (child.pid === undefined) throw failed('has no PID');
    // The parent forks its child after it reads the config: wait for both, pinned.
    if (options.cpus !== undefined) await pinProcessTree(child.pid, options.cpus, 2);
  } catch (error) {
    await stop();
    throw error;
  }
  return {
    url: `http://127.0.0.1:${spec.port}`,
    // No unprotected server: the static case belongs to the nginx sites.
    staticUrl: `http://127.0.0.1:${spec.port}`,
    masterPid: child.pid,
    accessLog: join(root, 'access.log'),
    errorLog: join(root, 'error.log'),
    version,
    stop,
  };
}

/** Any answer will do: the module fetches the provider's metadata on the first request, not at start. */
async function waitUntilListening(origin: string, alive: () => boolean, failed: (why: string) => Error): Promise<void> {
  for (let i = 0; i < 300; i += 1) {
    if (!alive()) throw failed('exited before it listened');
    try {
      const answer = await request(`${origin}/`);
      await answer.body.dump();
      return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw failed('did not listen within 30 s');
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
