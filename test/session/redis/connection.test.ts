import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RedisStoreConfig, RedisTlsConfig } from '../../../src/config/types.js';
import { closeRedisConnection, createRedisConnection, type RedisConnection } from '../../../src/session/redis/connection.js';
import { createTestLogger, type TestLogger } from '../../support/log.js';
import { makeRedisStoreConfig } from '../../support/redis-service.js';
import {
  startRedisCluster,
  startRedisSentinelGroup,
  startRedisServer,
  type RedisCluster,
  type RedisEndpoint,
  type RedisSentinelGroup,
  type RedisServer,
} from '../../support/redis.js';
import { createTestPki, type TestPki } from '../../support/tls.js';

// Distinctive, so a leak into the log cannot hide.
const DEFAULT_PASSWORD = 'default-user-secret-5e1f';
const USER_PASSWORD = 'acl-user-secret-9c2d';
const WRONG_PASSWORD = 'wrong-password-secret-77aa';
const DATA_PASSWORD = 'data-server-secret-31b0';
const SENTINEL_PASSWORD = 'sentinel-secret-c4d8';
const ALL_SECRETS = [DEFAULT_PASSWORD, USER_PASSWORD, WRONG_PASSWORD, DATA_PASSWORD, SENTINEL_PASSWORD];

interface Opened {
  readonly connection: RedisConnection;
  readonly logger: TestLogger;
}

const opened: Opened[] = [];

function open(config: RedisStoreConfig): Opened {
  const logger = createTestLogger('debug');
  const connection = createRedisConnection(config, { log: logger.log, connectionName: 'ofa-test' });
  const entry = { connection, logger };
  opened.push(entry);
  return entry;
}

afterEach(async () => {
  const closing = opened.splice(0);
  await Promise.all(closing.map(({ connection }) => closeRedisConnection(connection)));
  // Checked after close, so the lines written while shutting down count too.
  for (const { logger } of closing) {
    for (const secret of ALL_SECRETS) expect(logger.text()).not.toContain(secret);
  }
});

/** A plain client that gives up at once, to look at what the connection under test did. */
async function peek<T>(endpoint: RedisEndpoint, options: { password?: string; db?: number }, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ ...endpoint, ...options, retryStrategy: null, maxRetriesPerRequest: 0, lazyConnect: true });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return await use(client);
  } finally {
    client.disconnect();
  }
}

function readyOf(connection: RedisConnection, withinMs = 10_000): Promise<void> {
  if (connection.status === 'ready') return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not ready within ${withinMs} ms (status ${connection.status})`)), withinMs);
    connection.once('ready', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Retries `attempt` until it resolves, for what becomes true a moment after an event. */
async function eventually<T>(attempt: () => Promise<T>, withinMs = 10_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

async function elapsedMs(promise: Promise<unknown>): Promise<{ ms: number; outcome: PromiseSettledResult<unknown> }> {
  const started = Date.now();
  const [outcome] = await Promise.allSettled([promise]);
  return { ms: Date.now() - started, outcome: outcome! };
}

describe('a single server', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer({ password: DEFAULT_PASSWORD, users: [{ name: 'ofa', password: USER_PASSWORD }] });
  });
  afterAll(() => server?.destroy());

  it('logs in as the configured ACL user', async () => {
    const { connection } = open(makeRedisStoreConfig({ endpoints: [server.address], username: 'ofa', password: USER_PASSWORD }));
    await connection.set('acl:key', 'value');
    expect(await connection.call('ACL', 'WHOAMI')).toBe('ofa');
  });

  it('is refused with a wrong password, and says so once in the log without the password', async () => {
    const { connection, logger } = open(makeRedisStoreConfig({ endpoints: [server.address], username: 'ofa', password: WRONG_PASSWORD }));
    let errors = 0;
    connection.on('error', () => errors++);
    await expect(connection.get('acl:key')).rejects.toThrow(/WRONGPASS/);
    // ioredis keeps trying (the password may be rotated on the server): still one line.
    await eventually(async () => expect(errors).toBeGreaterThanOrEqual(3));
    const refused = logger.warnings().filter((record) => record['code'] === 'WRONGPASS');
    expect(refused).toHaveLength(1);
  });

  it('selects the configured database', async () => {
    const { connection } = open(makeRedisStoreConfig({ endpoints: [server.address], password: DEFAULT_PASSWORD, database: 3 }));
    await connection.set('db:key', 'in three');
    expect(await peek(server.endpoint, { password: DEFAULT_PASSWORD, db: 3 }, (client) => client.get('db:key'))).toBe('in three');
    expect(await peek(server.endpoint, { password: DEFAULT_PASSWORD, db: 0 }, (client) => client.get('db:key'))).toBeNull();
  });

  it('uses only the first of several endpoints without cluster or sentinel, and warns', async () => {
    const { connection, logger } = open(makeRedisStoreConfig({ endpoints: [server.address, '127.0.0.1:1'], password: DEFAULT_PASSWORD }));
    expect(await connection.ping()).toBe('PONG');
    expect(logger.warnings().map((record) => record.msg)).toEqual([expect.stringContaining('using only the first')]);
  });
});

describe('a server that stops and comes back', () => {
  let server: RedisServer;
  beforeAll(async () => {
    server = await startRedisServer({ password: DEFAULT_PASSWORD });
  });
  afterAll(() => server?.destroy());

  it('fails commands within 3 s while it is down, and serves the same connection again once it is back', async () => {
    const { connection, logger } = open(makeRedisStoreConfig({ endpoints: [server.address], password: DEFAULT_PASSWORD }));
    await connection.set('outage:key', 'kept');

    await server.stop();
    const during = await elapsedMs(connection.get('outage:key'));
    expect(during.outcome.status).toBe('rejected');
    expect(during.ms).toBeLessThan(3_000);
    // Still failing fast a while into the outage, when the reconnect delay has grown.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const many = await elapsedMs(Promise.allSettled(Array.from({ length: 20 }, () => connection.get('outage:key'))));
    expect(many.ms).toBeLessThan(3_000);

    await server.start();
    expect(await eventually(() => connection.get('outage:key'))).toBe('kept');
    const messages = logger.records.map((record) => record.msg);
    expect(messages).toContain('redis connection lost; reconnecting');
    expect(messages).toContain('redis connection restored');
    // Many failed reconnects, one line for the error they share.
    expect(logger.warnings().filter((record) => record.msg === 'redis connection error')).toHaveLength(1);
  });
});

describe('TLS with a private CA and a required client certificate', () => {
  let pki: TestPki;
  let otherPki: TestPki;
  let server: RedisServer;
  beforeAll(async () => {
    [pki, otherPki] = await Promise.all([createTestPki(), createTestPki()]);
    server = await startRedisServer({
      password: DEFAULT_PASSWORD,
      tls: { ca: pki.ca, cert: pki.serverCert, key: pki.serverKey, requireClientCert: true },
    });
  });
  afterAll(async () => {
    await server?.destroy();
    await Promise.all([pki?.cleanup(), otherPki?.cleanup()]);
  });

  function overTls(tls: RedisTlsConfig): Opened {
    return open(makeRedisStoreConfig({ endpoints: [server.address], password: DEFAULT_PASSWORD, tls }));
  }

  it('connects with the CA and a client certificate', async () => {
    const { connection } = overTls({ caBundle: pki.ca, cert: pki.clientCert, key: pki.clientKey, insecureSkipVerify: false });
    await connection.set('tls:key', 'over tls');
    expect(await connection.get('tls:key')).toBe('over tls');
  });

  it('is refused without a client certificate', async () => {
    const { connection, logger } = overTls({ caBundle: pki.ca, cert: undefined, key: undefined, insecureSkipVerify: false });
    await expect(connection.get('tls:key')).rejects.toThrow();
    await eventually(async () => expect(logger.warnings().length).toBeGreaterThan(0));
  });

  it('connects with insecureSkipVerify and no CA', async () => {
    const { connection } = overTls({ caBundle: undefined, cert: pki.clientCert, key: pki.clientKey, insecureSkipVerify: true });
    expect(await connection.ping()).toBe('PONG');
  });

  it('is refused when the server certificate is not from the configured CA', async () => {
    const { connection, logger } = overTls({ caBundle: otherPki.ca, cert: pki.clientCert, key: pki.clientKey, insecureSkipVerify: false });
    await expect(connection.ping()).rejects.toThrow();
    await eventually(async () =>
      expect(logger.warnings().map((record) => String(record['code']))).toContainEqual(expect.stringMatching(/VERIFY|CERT/)),
    );
  });
});

describe('a Cluster of three masters', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster({ masters: 3, password: DATA_PASSWORD });
  });
  afterAll(() => cluster?.destroy());

  /** One key per node, each in a slot that node serves. */
  async function keyPerNode(): Promise<Map<number, string>> {
    const seed = cluster.nodes[0]!.endpoint;
    return peek(seed, { password: DATA_PASSWORD }, async (client) => {
      const ranges = (await client.call('CLUSTER', 'SLOTS')) as [number, number, [string, number, ...unknown[]]][];
      const keys = new Map<number, string>();
      for (let i = 0; keys.size < cluster.nodes.length && i < 1_000; i++) {
        const key = `cluster:key:${i}`;
        const slot = Number(await client.call('CLUSTER', 'KEYSLOT', key));
        const owner = ranges.find(([first, last]) => slot >= first && slot <= last)?.[2][1];
        if (owner !== undefined && !keys.has(owner)) keys.set(owner, key);
      }
      return keys;
    });
  }

  it('writes a key to every node through one connection', async () => {
    const { connection } = open(makeRedisStoreConfig({ endpoints: [...cluster.endpoints], password: DATA_PASSWORD, cluster: true }));
    await readyOf(connection);
    const keys = await keyPerNode();
    expect(keys.size).toBe(3);
    for (const [port, key] of keys) {
      await connection.set(key, `on ${port}`);
      expect(await peek({ host: '127.0.0.1', port }, { password: DATA_PASSWORD }, (client) => client.get(key))).toBe(`on ${port}`);
    }
  });

  it('fails a command for a stopped node within 3 s, and serves it again once the node is back', async () => {
    const { connection } = open(makeRedisStoreConfig({ endpoints: [...cluster.endpoints], password: DATA_PASSWORD, cluster: true }));
    await readyOf(connection);
    const keys = await keyPerNode();
    const node = cluster.nodes[1]!;
    const key = keys.get(node.endpoint.port)!;
    await connection.set(key, 'before');

    await node.stop();
    try {
      const during = await elapsedMs(connection.get(key));
      expect(during.outcome.status).toBe('rejected');
      expect(during.ms).toBeLessThan(3_000);
    } finally {
      await node.start();
    }
    expect(await eventually(() => connection.get(key), 20_000)).toBe('before');
  });
});

describe('Sentinel with passwords on the sentinels and on the data servers', () => {
  let group: RedisSentinelGroup;
  beforeAll(async () => {
    group = await startRedisSentinelGroup({ password: DATA_PASSWORD, sentinelPassword: SENTINEL_PASSWORD });
  });
  afterAll(() => group?.destroy());

  it('writes to the master, and on through a failover to the new one without a failed command', async () => {
    const { connection } = open(
      makeRedisStoreConfig({
        endpoints: [...group.sentinelEndpoints],
        password: DATA_PASSWORD,
        sentinel: { masterSet: group.masterSet, username: undefined, password: SENTINEL_PASSWORD },
      }),
    );
    await connection.set('sentinel:before', 'written');
    const first = await group.currentMaster();
    expect(await peek(first, { password: DATA_PASSWORD }, (client) => client.get('sentinel:before'))).toBe('written');

    // Writes keep coming while the master changes: they wait for the new master instead of failing.
    const failures: string[] = [];
    let writing = true;
    const writer = (async () => {
      for (let n = 0; writing; n++) {
        await connection.set('sentinel:during', String(n)).catch((error: unknown) => failures.push(String(error)));
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    })();
    const promoted = await group.failover().finally(() => {
      writing = false;
    });
    await writer;
    expect(promoted).not.toEqual(first);
    expect(failures).toEqual([]);

    await connection.set('sentinel:after', 'on the new master');
    expect(await peek(promoted, { password: DATA_PASSWORD }, (client) => client.get('sentinel:after'))).toBe('on the new master');
    expect(await connection.get('sentinel:before')).toBe('written');
  });
});
