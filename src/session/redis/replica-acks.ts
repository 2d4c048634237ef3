import { Redis, type Cluster } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisCommands } from './commands.js';
import { closeRedisConnection, createAcknowledgedWriteConnection } from './connection.js';

/** Where the writes a failover must not lose go, and the wait for a replica to have them. */
export interface ReplicaAcks {
  /** The store's own connection when replicas acknowledge, else the shared client. */
  readonly writer: Redis | Cluster;
  /** Waits (bounded, best effort) until one replica has every write sent to `writer` so far. */
  awaitReplica(): Promise<void>;
  close(): Promise<void>;
}

/**
 * With replicas (Sentinel) and a timeout, writes go on a connection of the store's own: WAIT holds
 * up every command queued behind it on a connection, so it must not share the one every session
 * read uses. Without them (a single server, where WAIT would always run out its time, or a Cluster,
 * which has no WAIT across shards) writes share the client and nothing waits.
 */
export function createReplicaAcks(
  client: Redis | Cluster,
  timeoutMs: number | undefined,
  commands: RedisCommands,
  log: Logger | undefined,
): ReplicaAcks {
  if (timeoutMs === undefined || !(client instanceof Redis)) {
    return Object.freeze({ writer: client, awaitReplica: async () => undefined, close: async () => undefined });
  }
  const acknowledged = createAcknowledgedWriteConnection(client, log);
  const waitMs = timeoutMs;

  async function awaitReplica(): Promise<void> {
    try {
      // WAIT covers every earlier write of its connection: those that went to `writer`.
      const count = await commands.timed('wait', () => acknowledged.wait(1, waitMs));
      if (count < 1) log?.warn({ timeoutMs: waitMs }, 'no Redis replica acknowledged a session write in time');
    } catch {
      // The master took the write; whether a replica has it yet is best effort.
    }
  }

  return Object.freeze({ writer: acknowledged, awaitReplica, close: () => closeRedisConnection(acknowledged) });
}
