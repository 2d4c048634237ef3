import {
  checkKnownKeys,
  joinPath,
  readNumber,
  readOptionalString,
  readStringList,
  type ProblemSink,
  type RawObject,
} from './field-reader.js';
import { checkAddressOrCidr, parseHostPort } from './network.js';
import type { PendingSecret } from './secret-references.js';
import type { ServerConfig } from './types.js';

export const SERVER_KEYS = ['listen', 'metricsListen', 'workers', 'secrets', 'trustedProxies', 'logLevel', 'requestTimeoutSeconds', 'maxConnections'] as const;
/** More workers than this only adds memory on any machine we know of. */
export const MAX_WORKERS = 64;
/**
 * Sets `listen` when the file does not: a container image sets it to 0.0.0.0:4181, since the
 * default loopback address cannot be reached from outside the container.
 */
export const LISTEN_ENV = 'OIDC_FORWARD_AUTH_LISTEN';
export const MIN_SECRET_LENGTH = 32;
/**
 * Proxies send a whole request at once (the only body the service reads, a back-channel logout
 * token, is at most 64 KiB), so a request still incomplete after this long is a client holding
 * the connection.
 */
export const DEFAULT_REQUEST_TIMEOUT_SECONDS = 10;
/** Node's own limit is 300 s; above that the option would only weaken it. */
export const MAX_REQUEST_TIMEOUT_SECONDS = 300;
/**
 * Room for the proxies' pools of idle connections (nginx's recipe keeps 128 per worker, Traefik
 * 200 per instance) many times over, while bounding what idle sockets can cost a process.
 */
export const DEFAULT_MAX_CONNECTIONS = 4096;

const LOG_LEVELS: readonly ServerConfig['logLevel'][] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const DEFAULT_LISTEN = { host: '127.0.0.1', port: 4181 };

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * Reads the `server` section:
 * - `listen` (host:port, default 127.0.0.1:4181; $OIDC_FORWARD_AUTH_LISTEN when the file has none);
 * - `metricsListen` (host:port, default unset): serve /metrics there alone instead of on `listen`,
 *   so the port the proxies reach exposes nothing but forward-auth, health and readiness;
 * - `workers` (whole number, default 1): processes serving the same address (node:cluster);
 * - `requestTimeoutSeconds` (default 10): time a client has to send a whole request;
 * - `maxConnections` (whole number, default 4096): open connections per process;
 * - `secrets`, `trustedProxies`, `logLevel`.
 * Secrets are queued on `pending`; their length is checked by `checkServerSecrets` once they are
 * resolved, since a reference says nothing about its value.
 */
export function readServerConfig(
  server: RawObject | undefined,
  sink: ProblemSink,
  pending: PendingSecret[],
  env: Readonly<Record<string, string | undefined>> = {},
): ServerConfig {
  const path = 'server';
  const object = server ?? {};
  checkKnownKeys(object, path, SERVER_KEYS, sink);

  let listen = DEFAULT_LISTEN;
  const rawListen = readOptionalString(object, 'listen', path, sink);
  const listenFromEnv = env[LISTEN_ENV]?.trim();
  if (rawListen !== undefined) {
    const parsed = parseHostPort(rawListen);
    if ('reason' in parsed) sink.error(joinPath(path, 'listen'), parsed.reason);
    else listen = parsed;
  } else if (listenFromEnv !== undefined && listenFromEnv !== '') {
    const parsed = parseHostPort(listenFromEnv);
    if ('reason' in parsed) sink.error(`$${LISTEN_ENV}`, parsed.reason);
    else listen = parsed;
  }

  let metricsListen: ServerConfig['metricsListen'];
  const rawMetricsListen = readOptionalString(object, 'metricsListen', path, sink);
  if (rawMetricsListen !== undefined) {
    const parsed = parseHostPort(rawMetricsListen);
    if ('reason' in parsed) sink.error(joinPath(path, 'metricsListen'), parsed.reason);
    else if (parsed.port !== 0 && parsed.port === listen.port && parsed.host === listen.host) {
      sink.error(joinPath(path, 'metricsListen'), 'must differ from listen: /metrics is served on listen when metricsListen is unset');
    } else metricsListen = parsed;
  }

  const workers = readNumber(object, 'workers', path, { integer: true, min: 1 }, sink) ?? 1;
  if (workers > MAX_WORKERS) sink.error(joinPath(path, 'workers'), `must be ${MAX_WORKERS} or fewer (got ${workers})`);

  const requestTimeoutSeconds = readNumber(object, 'requestTimeoutSeconds', path, { above: 0 }, sink) ?? DEFAULT_REQUEST_TIMEOUT_SECONDS;
  if (requestTimeoutSeconds > MAX_REQUEST_TIMEOUT_SECONDS) {
    sink.error(joinPath(path, 'requestTimeoutSeconds'), `must be ${MAX_REQUEST_TIMEOUT_SECONDS} or less (got ${requestTimeoutSeconds})`);
  }
  const maxConnections = readNumber(object, 'maxConnections', path, { integer: true, min: 1 }, sink) ?? DEFAULT_MAX_CONNECTIONS;

  const secrets: string[] = [];
  const rawSecrets = readStringList(object, 'secrets', path, sink);
  if (object['secrets'] === undefined || object['secrets'] === null || rawSecrets?.length === 0) {
    sink.error(
      joinPath(path, 'secrets'),
      `is required: a list of secrets of at least ${MIN_SECRET_LENGTH} characters (make one with "oidc-forward-auth gen-secret")`,
    );
  }
  rawSecrets?.forEach((raw, index) => {
    secrets.push('');
    if (raw === '') sink.error(`${path}.secrets[${index}]`, 'must not be empty');
    else pending.push({ path: `${path}.secrets[${index}]`, raw, namespace: undefined, assign: (value) => (secrets[index] = value) });
  });

  const trustedProxies = readStringList(object, 'trustedProxies', path, sink) ?? [];
  trustedProxies.forEach((entry, index) => {
    const reason = checkAddressOrCidr(entry);
    if (reason !== undefined) sink.error(`${path}.trustedProxies[${index}]`, reason);
  });

  let logLevel: ServerConfig['logLevel'] = 'info';
  const rawLevel = readOptionalString(object, 'logLevel', path, sink);
  if (rawLevel !== undefined) {
    const match = LOG_LEVELS.find((level) => level === rawLevel);
    if (match === undefined) sink.error(joinPath(path, 'logLevel'), `must be one of ${LOG_LEVELS.join(', ')} (got "${rawLevel}")`);
    else logLevel = match;
  }

  const config: Mutable<ServerConfig> = { listen, workers, secrets, trustedProxies, logLevel, requestTimeoutSeconds, maxConnections };
  if (metricsListen !== undefined) config.metricsListen = metricsListen;
  return config;
}

/** Runs after resolution: a short secret is only visible once its reference is read. */
export function checkServerSecrets(server: ServerConfig, sink: ProblemSink): void {
  server.secrets.forEach((secret, index) => {
    if (secret !== '' && secret.length < MIN_SECRET_LENGTH) {
      sink.error(`server.secrets[${index}]`, `must be at least ${MIN_SECRET_LENGTH} characters long (make one with "oidc-forward-auth gen-secret")`);
    }
  });
}
