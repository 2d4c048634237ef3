/**
 * A private CA and a server certificate it signs for one host name, made with the `openssl` CLI
 * in a temporary directory, for a proxy that serves the site over HTTPS to a real browser.
 * (test/support/tls.ts issues for 127.0.0.1 and localhost only: a browser test needs a name.)
 * A missing openssl makes the test fail, never skip.
 */
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface SiteCertificate {
  readonly hostName: string;
  /** PEM of the private CA. */
  readonly ca: string;
  /** Files the proxy reads: the certificate and its key. */
  readonly certFile: string;
  readonly keyFile: string;
  /**
   * base64 SHA-256 of the certificate's SubjectPublicKeyInfo: what Chromium's
   * `--ignore-certificate-errors-spki-list` takes to trust exactly this key.
   */
  readonly spkiSha256: string;
  cleanup(): Promise<void>;
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

export async function createSiteCertificate(hostName: string): Promise<SiteCertificate> {
  if (!/^[a-z0-9.-]+$/.test(hostName)) throw new Error('host name must be lower-case letters, digits, dots and hyphens');
  const dir = await mkdtemp(join(tmpdir(), 'ofa-site-pki-'));
  const openssl = (args: readonly string[]): Promise<unknown> => run('openssl', args, { cwd: dir });
  try {
    await openssl([
      'req', '-x509', ...EC_KEY, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-sha256',
      '-subj', '/CN=oidc-forward-auth browser test CA',
      '-addext', 'basicConstraints=critical,CA:TRUE',
      '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    ]);
    await writeFile(
      join(dir, 'site.ext'),
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:${hostName}\n`,
    );
    await openssl(['req', ...EC_KEY, '-keyout', 'site.key', '-out', 'site.csr', '-subj', `/CN=${hostName}`]);
    await openssl([
      'x509', '-req', '-in', 'site.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
      '-days', '2', '-sha256', '-out', 'site.crt', '-extfile', 'site.ext',
    ]);
    const certificate = new X509Certificate(await readFile(join(dir, 'site.crt')));
    const spki = certificate.publicKey.export({ type: 'spki', format: 'der' });
    return {
      hostName,
      ca: await readFile(join(dir, 'ca.crt'), 'utf8'),
      certFile: join(dir, 'site.crt'),
      keyFile: join(dir, 'site.key'),
      spkiSha256: createHash('sha256').update(spki).digest('base64'),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
