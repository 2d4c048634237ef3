import {
  joinPath,
  readBoolean,
  readNumber,
  readObject,
  readOptionalString,
  readStringList,
  type RawObject,
} from './field-reader.js';
import { parseHostPort } from './network.js';
import { checkPair, queueSecret, type Mutable, type Reading } from './option-reading.js';
import type { RedisStoreConfig, RedisTlsConfig } from './types.js';

const REDIS_KEYS = ['endpoints', 'username', 'password', 'database', 'cluster', 'tls', 'sentinel'];

/** `session.store.redis`: single, Cluster or Sentinel, auth, database and TLS, as the spec lists them. */
export function readRedis(store: RawObject, path: string, reading: Reading): RedisStoreConfig | undefined {
  const { sink } = reading;
  const here = joinPath(path, 'redis');
  const object = readObject(store, 'redis', path, REDIS_KEYS, sink);
  if (object === undefined) return undefined;

  const endpoints = readStringList(object, 'endpoints', here, sink);
  const endpointsGiven = object['endpoints'] !== undefined && object['endpoints'] !== null;
  if (!endpointsGiven || endpoints?.length === 0) {
    sink.error(joinPath(here, 'endpoints'), 'is required (a list of host:port)');
  } else {
    endpoints?.forEach((endpoint, index) => {
      const parsed = parseHostPort(endpoint);
      if ('reason' in parsed) sink.error(`${joinPath(here, 'endpoints')}[${index}]`, parsed.reason);
      else if (parsed.port === 0) sink.error(`${joinPath(here, 'endpoints')}[${index}]`, 'port must not be 0');
    });
  }

  const cluster = readBoolean(object, 'cluster', here, sink) ?? false;
  let database = readNumber(object, 'database', here, { integer: true, min: 0 }, sink) ?? 0;
  if (cluster && object['database'] !== undefined && object['database'] !== null) {
    sink.warn(joinPath(here, 'database'), 'is ignored with cluster: true (Redis Cluster only has database 0)');
    database = 0;
  }

  const config: Mutable<RedisStoreConfig> = {
    endpoints: endpoints ?? [],
    username: undefined,
    password: undefined,
    database,
    cluster,
    tls: readRedisTls(object, here, reading),
    sentinel: undefined,
  };
  queueSecret(object, 'username', here, reading, (value) => (config.username = value));
  queueSecret(object, 'password', here, reading, (value) => (config.password = value));

  const sentinelPath = joinPath(here, 'sentinel');
  const sentinelObject = readObject(object, 'sentinel', here, ['masterSet', 'username', 'password'], sink);
  if (sentinelObject !== undefined) {
    if (cluster) sink.error(sentinelPath, 'cannot be combined with cluster: true');
    const masterSet = readOptionalString(sentinelObject, 'masterSet', sentinelPath, sink);
    if (masterSet === undefined) sink.error(joinPath(sentinelPath, 'masterSet'), 'is required when using Sentinel');
    const sentinel: Mutable<NonNullable<RedisStoreConfig['sentinel']>> = {
      masterSet: masterSet ?? '',
      username: undefined,
      password: undefined,
    };
    queueSecret(sentinelObject, 'username', sentinelPath, reading, (value) => (sentinel.username = value));
    queueSecret(sentinelObject, 'password', sentinelPath, reading, (value) => (sentinel.password = value));
    config.sentinel = sentinel;
  }
  return config;
}

function readRedisTls(redis: RawObject, path: string, reading: Reading): RedisTlsConfig | undefined {
  const { sink } = reading;
  const here = joinPath(path, 'tls');
  const object = readObject(redis, 'tls', path, ['caBundle', 'cert', 'key', 'insecureSkipVerify'], sink);
  if (object === undefined) return undefined;
  const tls: Mutable<RedisTlsConfig> = {
    caBundle: undefined,
    cert: undefined,
    key: undefined,
    insecureSkipVerify: readBoolean(object, 'insecureSkipVerify', here, sink) ?? false,
  };
  queueSecret(object, 'caBundle', here, reading, (value) => (tls.caBundle = value));
  const hasCert = queueSecret(object, 'cert', here, reading, (value) => (tls.cert = value));
  const hasKey = queueSecret(object, 'key', here, reading, (value) => (tls.key = value));
  checkPair(hasCert, hasKey, here, sink);
  return tls;
}
