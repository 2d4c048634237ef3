/**
 * The ioredis client the Redis session store talks through, built from the validated config: one
 * server, a Cluster, or the master a set of Sentinels names.
 *
 * The service must fail closed, fast: a request never waits on Redis for longer than the command
 * timeout, and the connection heals by itself when Redis comes back. What ioredis does (read in
 * its source, v6):
 * - `commandTimeout` arms a timer when a command is handed to a Redis connection, before it is
 *   queued, so it bounds the wait in the offline queue (while reconnecting) as well as on the wire.
 *   A command that timed out is not taken back out of the queue, though: it may still reach Redis
 *   after its caller gave up, so store operations must be safe to apply late (idempotent, guarded
 *   by compare-and-set, or expiring).
 * - The offline queue stays on for a single server and for Sentinel: a command issued during a
 *   restart or a failover waits (at most the command timeout) and runs once the new master is
 *   ready, instead of failing at once. `maxRetriesPerRequest: 1` empties the queue every second
 *   failed reconnect, so an outage does not pile up commands that have already timed out. (Not
 *   while every sentinel is unreachable: ioredis then loops inside its Sentinel connector without
 *   a reconnect to count, and timed-out commands stay queued until a sentinel answers.)
 * - A Cluster applies `commandTimeout` only once a command reaches a node: in the cluster's own
 *   offline queue (cluster not ready) a command would wait for the whole outage. So a Cluster runs
 *   without one: a command fails at once while the cluster is down, and a node that fails is
 *   retried a bounded number of times (`maxRedirections` × `retryDelayOnFailover`).
 * - `socketTimeout` drops a connection whose server stopped answering (a paused process, a lost
 *   network path): TCP keep-alive alone would take minutes to notice.
 * - Reconnecting never stops; the delay grows to a few seconds at most.
 */
import { rootCertificates, type ConnectionOptions } from 'node:tls';
import { Cluster, Redis, type ClusterOptions, type RedisOptions } from 'ioredis';
import type { Logger } from 'pino';
import { parseHostPort } from '../../config/network.js';
import type { RedisStoreConfig, RedisTlsConfig } from '../../config/types.js';
import { watchConnection, type ConnectionMode } from './connection-watch.js';

export type RedisConnection = Redis | Cluster;

export interface RedisConnectionOptions {
  readonly log: Logger;
  /** CLIENT SETNAME, to find our connections in CLIENT LIST. */
  readonly connectionName?: string;
  /** The longest a command may take, queued or on the wire, before it rejects (default 1500). */
  readonly commandTimeoutMs?: number;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 1_500;
/** TCP connect and TLS handshake; past it the attempt is abandoned and the next one scheduled. */
const CONNECT_TIMEOUT_MS = 3_000;
const MIN_SOCKET_TIMEOUT_MS = 5_000;
const RECONNECT_FIRST_MS = 50;
const RECONNECT_CAP_MS = 2_000;
/** Spreads the reconnects of many replicas after a Redis restart. */
const RECONNECT_JITTER_MS = 100;
const SENTINEL_RETRY_CAP_MS = 1_000;
const CLOSE_GRACE_MS = 1_000;

/** Exponential from 50 ms, capped at 2 s, forever: the service recovers when Redis does. */
function reconnectDelay(attempt: number): number {
  const exponential = RECONNECT_FIRST_MS * 2 ** Math.min(Math.max(attempt - 1, 0), 16);
  return Math.min(exponential, RECONNECT_CAP_MS) + Math.floor(Math.random() * RECONNECT_JITTER_MS);
}

function parseEndpoints(endpoints: readonly string[]): { host: string; port: number }[] {
  return endpoints.map((endpoint) => {
    const parsed = parseHostPort(endpoint);
    // The config loader has already rejected these; reaching here is a programming error.
    if ('reason' in parsed) throw new TypeError(`Redis endpoint ${parsed.reason}`);
    return parsed;
  });
}

/**
 * The CA bundle is added to the system's roots, as for the provider's TLS. Host names are checked
 * against the certificate unless insecureSkipVerify; servers that Sentinel or a Cluster name are
 * reached by IP address, so their certificates must carry it.
 */
function tlsOptions(tls: RedisTlsConfig | undefined): ConnectionOptions | undefined {
  if (tls === undefined) return undefined;
  return {
    ...(tls.caBundle === undefined ? {} : { ca: [...rootCertificates, tls.caBundle] }),
    ...(tls.cert === undefined ? {} : { cert: tls.cert }),
    ...(tls.key === undefined ? {} : { key: tls.key }),
    rejectUnauthorized: !tls.insecureSkipVerify,
  };
}

/** What every connection to a data server shares, whatever the mode. */
function serverOptions(config: RedisStoreConfig, options: RedisConnectionOptions) {
  const commandTimeout = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
  return {
    username: config.username,
    password: config.password,
    tls: tlsOptions(config.tls),
    connectionName: options.connectionName,
    commandTimeout,
    socketTimeout: Math.max(MIN_SOCKET_TIMEOUT_MS, 2 * commandTimeout),
    connectTimeout: CONNECT_TIMEOUT_MS,
    maxRetriesPerRequest: 1,
  } satisfies RedisOptions;
}

function createSingle(config: RedisStoreConfig, options: RedisConnectionOptions): Redis {
  const [first, ...ignored] = parseEndpoints(config.endpoints);
  if (first === undefined) throw new TypeError('Redis needs at least one endpoint');
  if (ignored.length > 0) {
    // Several addresses without cluster or sentinel is most likely a forgotten flag. Picking one
    // keeps the service up, and the line says which, rather than guessing at a topology.
    options.log.warn(
      { endpoint: config.endpoints[0], ignored: config.endpoints.slice(1) },
      'redis: several endpoints without cluster or sentinel; using only the first',
    );
  }
  return new Redis({
    ...serverOptions(config, options),
    host: first.host,
    port: first.port,
    db: config.database,
    retryStrategy: reconnectDelay,
    enableOfflineQueue: true,
    lazyConnect: false,
  });
}

function createSentinel(
  config: RedisStoreConfig,
  sentinel: NonNullable<RedisStoreConfig['sentinel']>,
  options: RedisConnectionOptions,
): Redis {
  const shared = serverOptions(config, options);
  return new Redis({
    ...shared,
    sentinels: parseEndpoints(config.endpoints),
    name: sentinel.masterSet,
    sentinelUsername: sentinel.username,
    sentinelPassword: sentinel.password,
    // One tls block serves both: the sentinels and the data servers they name.
    enableTLSForSentinelMode: shared.tls !== undefined,
    sentinelTLS: shared.tls,
    sentinelCommandTimeout: shared.commandTimeout,
    sentinelRetryStrategy: (attempt) => Math.min(attempt * 100, SENTINEL_RETRY_CAP_MS),
    // Subscribe to +switch-master: move to the new master as soon as the sentinels switch, rather
    // than keep writing to the old one until it is demoted.
    failoverDetector: true,
    // A master that was demoted under us refuses writes with READONLY, having done nothing: ask the
    // sentinels again and send the same command to whichever server they name now.
    reconnectOnError: (error) => (error.message.startsWith('READONLY') ? 2 : false),
    db: config.database,
    retryStrategy: reconnectDelay,
    enableOfflineQueue: true,
    lazyConnect: false,
  });
}

function createCluster(config: RedisStoreConfig, options: RedisConnectionOptions): Cluster {
  const shared = serverOptions(config, options);
  const clusterOptions: ClusterOptions = {
    redisOptions: shared,
    clusterRetryStrategy: reconnectDelay,
    enableOfflineQueue: false,
    lazyConnect: false,
    // With TLS, keep the configured host names: resolving them to addresses first would check the
    // certificate against an IP it does not name.
    ...(shared.tls === undefined ? {} : { dnsLookup: (address, callback) => callback(null, address) }),
  };
  return new Cluster(parseEndpoints(config.endpoints), clusterOptions);
}

/** Builds the client for `config` and starts connecting; errors are logged, never thrown. */
export function createRedisConnection(config: RedisStoreConfig, options: RedisConnectionOptions): RedisConnection {
  const mode: ConnectionMode = config.sentinel !== undefined ? 'sentinel' : config.cluster ? 'cluster' : 'single';
  const connection =
    config.sentinel !== undefined
      ? createSentinel(config, config.sentinel, options)
      : config.cluster
        ? createCluster(config, options)
        : createSingle(config, options);
  const secrets = [config.password, config.sentinel?.password].filter((s): s is string => s !== undefined && s !== '');
  watchConnection(connection, mode, options.log, secrets);
  options.log.info({ redis: mode, endpoints: config.endpoints, tls: config.tls !== undefined }, 'redis connecting');
  return connection;
}

/**
 * A second connection to the same server (the master Sentinel names, followed through failovers)
 * for writes that WAIT for a replica. WAIT blocks its connection until a replica acknowledges or
 * its time runs out, and a reply comes only after the one before it: on the connection every
 * session read shares, one lagging replica would hold up every request.
 */
export function createAcknowledgedWriteConnection(connection: Redis, log: Logger | undefined): Redis {
  const { password, sentinelPassword, connectionName } = connection.options;
  const writer = connection.duplicate({ ...(connectionName === undefined ? {} : { connectionName: `${connectionName}:acknowledged` }) });
  const secrets = [password, sentinelPassword].filter((s): s is string => typeof s === 'string' && s !== '');
  // Its state is the main connection's to report; its errors are still told apart and never thrown.
  if (log === undefined) writer.on('error', () => undefined);
  else watchConnection(writer, connection.options.sentinels == null ? 'single' : 'sentinel', log.child({ connection: 'acknowledged writes' }), secrets);
  return writer;
}

function withinGrace<T>(promise: Promise<T>, fallback: T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<T>((resolve) => {
    timer = setTimeout(() => resolve(fallback), CLOSE_GRACE_MS);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/**
 * QUIT when connected, so replies in flight still arrive; if Redis does not answer within a
 * second, or the connection is down anyway, drop the sockets. Resolves once closed.
 */
export async function closeRedisConnection(connection: RedisConnection): Promise<void> {
  const isEnded = (): boolean => connection.status === 'end';
  if (!isEnded()) {
    const ended = new Promise<void>((resolve) => connection.once('end', () => resolve()));
    const quitAnswered =
      connection.status === 'ready' &&
      (await withinGrace(
        connection.quit().then(
          () => true,
          () => false,
        ),
        false,
      ));
    if (!quitAnswered) connection.disconnect();
    await withinGrace(ended, undefined);
  }
  if (connection instanceof Redis) {
    // After QUIT, ioredis (v6) leaves the Sentinel failover detector's own connections to the
    // sentinels open, reconnecting every minute; only disconnect() takes them down. Harmless on a
    // connection that has ended.
    connection.disconnect();
  } else if (!isEnded()) {
    // A Cluster that was between reconnects may never say 'end'.
    connection.disconnect();
  }
}
