import { Cluster, type Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisCommands } from './commands.js';
import { closeRedisConnection } from './connection.js';

/**
 * Tells every replica sharing a Redis that sessions may have ended, so each can keep the signed-in
 * answers of its verdict cache (forward/verdict-cache.ts) without reading Redis on every request.
 * A Pub/Sub channel per middleware: every revocation publishes after its deletes are done, and
 * every replica moves its epoch on each message, which empties its cache.
 *
 * Only revocations publish. A sliding renewal or a refresh on another replica needs no message: a
 * cached answer is kept only until the session it was computed from needs renewal or refresh, and
 * until then that session's answer is still true.
 *
 * While the subscription is not in place (connecting, or the connection dropped, when messages may
 * have been missed) the epoch is undefined: nothing is cached and every request reads Redis. Once
 * subscribed again the epoch moves, so nothing cached before the gap survives it.
 */
export interface RedisInvalidations {
  epoch(): number | undefined;
  /** After the revocation's writes: every replica's cache, this one's first, forgets its answers. */
  publish(): Promise<void>;
  close(): Promise<void>;
}

export function createRedisInvalidations(options: {
  readonly client: Redis | Cluster;
  readonly writer: Redis | Cluster;
  readonly channel: string;
  readonly commands: RedisCommands;
  readonly log: Logger | undefined;
}): RedisInvalidations {
  const { channel, commands, log } = options;
  // A connection in subscriber mode can send nothing else: one of its own.
  const { client } = options;
  const subscriber: Redis | Cluster = client instanceof Cluster ? client.duplicate() : client.duplicate();
  let epoch = 0;
  let subscribed = false;
  let closed = false;

  const subscribe = (): void => {
    subscriber.subscribe(channel).then(
      () => {
        if (closed) return;
        epoch += 1;
        subscribed = true;
      },
      (error: unknown) => log?.warn({ code: (error as { code?: unknown }).code }, 'could not subscribe to session revocations; every request reads Redis meanwhile'),
    );
  };
  subscriber.on('ready', subscribe);
  subscriber.on('close', () => {
    subscribed = false;
  });
  subscriber.on('error', () => {
    // The connection retries on its own; until it has subscribed again, nothing is cached.
    subscribed = false;
  });
  subscriber.on('message', (from: string) => {
    if (from === channel) epoch += 1;
  });

  return Object.freeze({
    epoch: () => (subscribed ? epoch : undefined),
    async publish() {
      epoch += 1;
      await commands.run('announce a revocation', 'publish', () => options.writer.publish(channel, 'revoked'));
    },
    async close() {
      closed = true;
      subscribed = false;
      await closeRedisConnection(subscriber);
    },
  });
}
