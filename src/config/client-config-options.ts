/** How we reach the provider (clientConfig): TLS, the deadline of one attempt and the retries. */
import { joinPath, readBoolean, readNumber, readObject, type RawObject } from './field-reader.js';
import { checkPair, queueSecret, type Mutable, type Reading } from './option-reading.js';
import type { ClientConfig } from './types.js';

export function readClientConfig(options: RawObject, path: string, reading: Reading): ClientConfig {
  const { sink } = reading;
  const here = joinPath(path, 'clientConfig');
  const clientConfig = readObject(options, 'clientConfig', path, ['tls', 'timeoutSeconds', 'maxRetries'], sink) ?? {};
  const tlsPath = joinPath(here, 'tls');
  const tlsObject = readObject(clientConfig, 'tls', here, ['ca', 'cert', 'key', 'insecureSkipVerify'], sink) ?? {};
  const tls: Mutable<ClientConfig['tls']> = {
    ca: undefined,
    cert: undefined,
    key: undefined,
    insecureSkipVerify: readBoolean(tlsObject, 'insecureSkipVerify', tlsPath, sink) ?? false,
  };
  queueSecret(tlsObject, 'ca', tlsPath, reading, (value) => (tls.ca = value));
  const hasCert = queueSecret(tlsObject, 'cert', tlsPath, reading, (value) => (tls.cert = value));
  const hasKey = queueSecret(tlsObject, 'key', tlsPath, reading, (value) => (tls.key = value));
  checkPair(hasCert, hasKey, tlsPath, sink);
  return {
    tls,
    timeoutSeconds: readNumber(clientConfig, 'timeoutSeconds', here, { above: 0 }, sink) ?? 5,
    maxRetries: readNumber(clientConfig, 'maxRetries', here, { integer: true, min: 0 }, sink) ?? 3,
  };
}
