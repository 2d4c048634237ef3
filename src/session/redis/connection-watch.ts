import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';

export type ConnectionMode = 'single' | 'cluster' | 'sentinel';

const MAX_LOGGED_MESSAGE = 300;
/** Distinct problems logged per outage; past it the outage has said enough. */
const MAX_PROBLEMS_LOGGED = 10;

interface SafeError {
  readonly code: string | undefined;
  readonly reason: string;
}

/**
 * Only a code and the message, with every configured secret cut out: ioredis attaches the failed
 * command with its arguments (HELLO and AUTH carry the password) and some Redis errors echo them.
 */
function describeError(error: unknown, secrets: readonly string[]): SafeError {
  if (!(error instanceof Error)) return { code: undefined, reason: 'non-error value thrown' };
  let reason = error.message.trim();
  for (const secret of secrets) reason = reason.split(secret).join('[redacted]');
  if (reason.length > MAX_LOGGED_MESSAGE) reason = `${reason.slice(0, MAX_LOGGED_MESSAGE)}…`;
  const own: unknown = (error as { code?: unknown }).code;
  // Redis replies carry their code as the first word (WRONGPASS, NOAUTH, READONLY, …).
  const code = typeof own === 'string' ? own : /^[A-Z][A-Z_]+(?= )/.exec(error.message)?.[0];
  return { code, reason };
}

/**
 * One line per change of state, not per event: a Redis that is down makes ioredis report the same
 * error on every reconnect, which would otherwise fill the log.
 */
export function watchConnection(connection: Redis | Cluster, mode: ConnectionMode, log: Logger, secrets: readonly string[]): void {
  let state: 'connecting' | 'ready' | 'lost' | 'closed' = 'connecting';
  /** What was logged since the connection was last ready: a failing reconnect may alternate errors. */
  const logged = new Set<string>();
  let connectLogged = false;

  const problem = (event: string, error: unknown, node?: string): void => {
    const safe = describeError(error, secrets);
    // Numbers vary between repeats of one problem (ports, "retrying after 400ms"); they don't make it new.
    const key = `${event}|${node ?? ''}|${safe.code ?? ''}|${safe.reason.replace(/\d+/g, '#')}`;
    if (logged.has(key) || logged.size >= MAX_PROBLEMS_LOGGED) return;
    logged.add(key);
    log.warn({ redis: mode, ...(node === undefined ? {} : { node }), code: safe.code, reason: safe.reason }, `redis ${event}`);
  };

  connection.on('connect', () => {
    // Not again on every reconnect while Redis refuses us (a wrong password, a TLS failure).
    if (connectLogged) return;
    connectLogged = true;
    log.debug({ redis: mode }, 'redis connected');
  });
  connection.on('ready', () => {
    if (state !== 'ready') log.info({ redis: mode }, state === 'lost' ? 'redis connection restored' : 'redis connection ready');
    state = 'ready';
    logged.clear();
  });
  // 'reconnecting' rather than 'close': a close we asked for does not reconnect and is not a loss.
  connection.on('reconnecting', () => {
    if (state !== 'ready') return;
    state = 'lost';
    connectLogged = false;
    log.warn({ redis: mode }, 'redis connection lost; reconnecting');
  });
  connection.on('end', () => {
    if (state !== 'closed') log.info({ redis: mode }, 'redis connection closed');
    state = 'closed';
  });
  connection.on('error', (error: unknown) => problem('connection error', error));
  // Cluster: one node failing (the cluster may still serve the other slots).
  connection.on('node error', (error: unknown, node: unknown) => problem('node error', error, typeof node === 'string' ? node : undefined));
  // Sentinel: one sentinel unreachable while another may still answer.
  connection.on('sentinelError', (error: unknown) => problem('sentinel error', error));
}
