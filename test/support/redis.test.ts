import { Cluster, Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  startRedisCluster,
  startRedisSentinelGroup,
  startRedisServer,
  type RedisCluster,
  type RedisEndpoint,
  type RedisSentinelGroup,
  type RedisServer,
} from './redis.js';

/** A plain client that gives up at once: the harness, not the client, is under test here. */
function connect(endpoint: RedisEndpoint, password?: string): Redis {
  const client = new Redis({ ...endpoint, password, retryStrategy: null, maxRetriesPerRequest: 0, lazyConnect: true });
  client.on('error', () => undefined);
  return client;
}

async function withClient<T>(endpoint: RedisEndpoint, password: string | undefined, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = connect(endpoint, password);
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

describe('startRedisServer', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer({ password: 'server-pass' });
  });
  afterAll(() => server?.destroy());

  it('answers on 127.0.0.1 and keeps its data across stop() and start() on the same port', async () => {
    expect(server.address).toBe(`127.0.0.1:${server.endpoint.port}`);
    await withClient(server.endpoint, 'server-pass', (client) => client.set('kept', 'across restarts'));
    const firstPid = server.pid;
    await server.stop();
    await expect(withClient(server.endpoint, 'server-pass', (client) => client.ping())).rejects.toThrow();
    await server.start();
    expect(server.pid).not.toBe(firstPid);
    expect(await withClient(server.endpoint, 'server-pass', (client) => client.get('kept'))).toBe('across restarts');
  });
});

describe('startRedisCluster', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster({ password: 'cluster-pass' });
  });
  afterAll(() => cluster?.destroy());

  it('reports cluster_state:ok and serves a key through ioredis Cluster', async () => {
    expect(cluster.nodes).toHaveLength(3);
    for (const node of cluster.nodes) {
      const info = await withClient(node.endpoint, 'cluster-pass', (client) => client.call('CLUSTER', 'INFO'));
      expect(String(info)).toContain('cluster_state:ok');
    }
    const client = new Cluster(
      cluster.endpoints.map((endpoint) => {
        const [host, port] = endpoint.split(':');
        return { host, port: Number(port) };
      }),
      { redisOptions: { password: 'cluster-pass' }, clusterRetryStrategy: () => null },
    );
    client.on('error', () => undefined);
    try {
      await client.set('{cluster}key', 'value');
      expect(await client.get('{cluster}key')).toBe('value');
    } finally {
      client.disconnect();
    }
  });
});

describe('startRedisSentinelGroup', () => {
  let group: RedisSentinelGroup;
  beforeAll(async () => {
    group = await startRedisSentinelGroup({ password: 'data-pass', sentinelPassword: 'sentinel-pass' });
  });
  afterAll(() => group?.destroy());

  it('fails over to the replica, which has the data written before', async () => {
    const [first, second] = group.servers;
    expect(await group.currentMaster()).toEqual(first?.endpoint);
    await withClient(first!.endpoint, 'data-pass', (client) => client.set('before-failover', 'still here'));

    const promoted = await group.failover();
    expect(promoted).toEqual(second?.endpoint);
    expect(await group.currentMaster()).toEqual(second?.endpoint);
    expect(await withClient(promoted, 'data-pass', (client) => client.get('before-failover'))).toBe('still here');
    // The old master follows the new one, so it refuses writes instead of silently taking them.
    await expect(withClient(first!.endpoint, 'data-pass', (client) => client.set('stray', 'write'))).rejects.toThrow(/READONLY/);
  });
});
