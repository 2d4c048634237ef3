import type { Cluster, Redis } from 'ioredis';

/** The connection's default command timeout: a readiness probe waits no longer. */
const PING_TIMEOUT_MS = 1_500;

/**
 * True when Redis answers a PING in time. A Cluster connection has no command timeout of its own
 * (connection.ts): the wait is bounded here.
 */
export async function pingRedis(client: Redis | Cluster): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), PING_TIMEOUT_MS);
  });
  const answered = client.ping().then(
    () => true,
    () => false,
  );
  return Promise.race([answered, late]).finally(() => clearTimeout(timer));
}
