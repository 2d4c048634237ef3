import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { OfaError } from '../../errors.js';
import type { RedisCommandName, RedisCommandObserver } from '../../observability/observers.js';

/** How the Redis session store sends one command: timed, and failing closed as OFA_STORE_UNAVAILABLE. */
export interface RedisCommands {
  /** One command; any failure (refused, timed out, CLUSTERDOWN, READONLY…) becomes OFA_STORE_UNAVAILABLE. */
  run<T>(action: string, command: RedisCommandName, call: () => Promise<T>): Promise<T>;
  /** Times a command for the observer without translating its failure. */
  timed<T>(command: RedisCommandName, call: () => Promise<T>): Promise<T>;
  /**
   * SET … NX on `client`, true when this call set the key. ioredis sends a command again after a
   * dropped connection (autoResendUnfulfilledCommands) even if Redis had run it: the resent SET
   * then finds our own value, which must count as ours, not as someone else's (a taken lock, a
   * replayed token).
   */
  setIfAbsent(client: Redis | Cluster, action: string, key: string, value: string, expiry: 'EX' | 'PX', amount: number): Promise<boolean>;
}

/**
 * What is safe to carry from an ioredis error: ioredis attaches the failed command with its
 * arguments (a sealed session, a key holding a session id) to the error object, and an error's
 * cause ends up in logs.
 */
function safeCause(error: unknown): Error {
  if (!(error instanceof Error)) return new Error('unknown Redis failure');
  const copy = new Error(error.message);
  copy.name = error.name;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') Object.assign(copy, { code });
  return copy;
}

export function createRedisCommands(options: {
  readonly isClosed: () => boolean;
  readonly observer: RedisCommandObserver | undefined;
  readonly log: Logger | undefined;
}): RedisCommands {
  const { observer, log } = options;

  async function timed<T>(command: RedisCommandName, call: () => Promise<T>): Promise<T> {
    if (observer === undefined) return call();
    const started = process.hrtime.bigint();
    let failed = true;
    try {
      const result = await call();
      failed = false;
      return result;
    } finally {
      observer.observe(command, Number(process.hrtime.bigint() - started) / 1e9, failed);
    }
  }

  async function run<T>(action: string, command: RedisCommandName, call: () => Promise<T>): Promise<T> {
    if (options.isClosed()) throw new OfaError('OFA_STORE_UNAVAILABLE', `the Redis session store is closed (${action})`);
    try {
      return await timed(command, call);
    } catch (error) {
      const cause = safeCause(error);
      log?.debug({ err: cause, action }, 'the Redis session store did not answer');
      throw new OfaError('OFA_STORE_UNAVAILABLE', `the Redis session store did not answer (${action})`, { cause });
    }
  }

  async function setIfAbsent(
    client: Redis | Cluster,
    action: string,
    key: string,
    value: string,
    expiry: 'EX' | 'PX',
    amount: number,
  ): Promise<boolean> {
    const set = await run(action, 'set', () => (expiry === 'EX' ? client.set(key, value, 'EX', amount, 'NX') : client.set(key, value, 'PX', amount, 'NX')));
    if (set !== null) return true;
    return (await run(action, 'get', () => client.get(key))) === value;
  }

  return Object.freeze({ run, timed, setIfAbsent });
}
