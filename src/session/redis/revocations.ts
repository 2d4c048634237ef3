import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { RedisCommands } from './commands.js';
import { ADD_TO_INDEX, isSessionId, RAISE_CUTOFF, type RedisKeys } from './keys.js';
import { creationSeconds, type Session } from '../session.js';

/**
 * The indexes of the Redis store (sessions by provider login and by subject) and the revocations
 * that go through them.
 *
 * A revocation reads an index and deletes what it lists; a login adds itself to the index. A
 * login stored between that read and those deletes would escape, and one whose provider login
 * ended before its callback finished would find nobody to end it. So each revocation first leaves
 * a marker (the provider login ended; the subject's cutoff), and each login, once indexed, reads
 * the markers: whichever of the two comes second sees the other's write, and the login ends.
 */
export interface RedisRevocations {
  /** Indexes the session; its TTL outlives the session. */
  index(session: Session, nowSeconds: number): Promise<void>;
  /** After `index`: true when a revocation that came first has already ended this login. */
  endedBeforeStored(session: Session): Promise<boolean>;
  /** Drops from the subject's index the oldest ids whose sessions are gone (expired or deleted). */
  pruneSubjectIndex(session: Session): Promise<void>;
  unindex(session: Session): Promise<void>;
  revokeProviderSession(issuer: string, providerSid: string): Promise<void>;
  revokeSubject(issuer: string, subject: string, cutoffSeconds: number): Promise<void>;
}

/** Ids looked at per login when pruning: enough to keep up with one new login each time. */
const PRUNE_BATCH = 8;

export function createRedisRevocations(deps: {
  readonly client: Redis | Cluster;
  /** Where writes that a failover must not lose go (see store.ts). */
  readonly writer: Redis | Cluster;
  readonly commands: RedisCommands;
  readonly keys: RedisKeys;
  /** session.expiry: the shortest time an index is kept. */
  readonly sessionLifetimeSeconds: number;
  /**
   * How long a marker is kept: longer than a login may take from its clock reading (createdAt) to
   * its store write, and than an authorization code lives before its callback.
   */
  readonly markerSeconds: number;
  readonly deleteSession: (id: string) => Promise<void>;
  readonly log: Logger | undefined;
}): RedisRevocations {
  const { client, writer, commands, keys, markerSeconds, deleteSession, log } = deps;
  const { run } = commands;

  const indexesOf = (session: Session): string[] => {
    const indexes = [keys.subjectKey(session.issuer, session.subject)];
    if (session.providerSid !== undefined) indexes.push(keys.providerSessionKey(session.issuer, session.providerSid));
    return indexes;
  };

  async function index(session: Session, nowSeconds: number): Promise<void> {
    const ttl = String(Math.max(deps.sessionLifetimeSeconds, Math.ceil(session.expiresAt - nowSeconds)));
    // Scored in seconds to the millisecond: whole-second scores (older sessions) still compare right.
    const score = String(creationSeconds(session));
    await Promise.all(indexesOf(session).map((key) => run('index a session', 'eval', () => client.eval(ADD_TO_INDEX, 1, key, session.id, score, ttl))));
  }

  async function endedBeforeStored(session: Session): Promise<boolean> {
    const [sidEnded, cutoff] = await Promise.all([
      session.providerSid === undefined
        ? Promise.resolve(0)
        : run('check revocations', 'exists', () => client.exists(keys.providerSessionEndedKey(session.issuer, session.providerSid as string))),
      run('check revocations', 'get', () => client.get(keys.subjectCutoffKey(session.issuer, session.subject))),
    ]);
    return sidEnded === 1 || (cutoff !== null && creationSeconds(session) <= Number(cutoff));
  }

  async function pruneSubjectIndex(session: Session): Promise<void> {
    const key = keys.subjectKey(session.issuer, session.subject);
    const oldest = (await run('prune an index', 'zrange', () => client.zrange(key, '0', String(PRUNE_BATCH - 1)))).filter((id) => id !== session.id);
    const gone = (
      await Promise.all(oldest.map(async (id) => (isSessionId(id) && (await run('prune an index', 'exists', () => client.exists(keys.sessionKey(id)))) === 1 ? undefined : id)))
    ).filter((id): id is string => id !== undefined);
    if (gone.length > 0) await run('prune an index', 'zrem', () => client.zrem(key, ...gone));
  }

  async function unindex(session: Session): Promise<void> {
    await Promise.all(indexesOf(session).map((key) => run('revoke a session', 'zrem', () => client.zrem(key, session.id))));
  }

  async function revokeProviderSession(issuer: string, providerSid: string): Promise<void> {
    await run('revoke a provider session', 'set', () => writer.set(keys.providerSessionEndedKey(issuer, providerSid), '1', 'EX', markerSeconds));
    const index = keys.providerSessionKey(issuer, providerSid);
    const ids = await run('revoke a provider session', 'zrange', () => client.zrange(index, 0, '-1'));
    await Promise.all(ids.filter(isSessionId).map(deleteSession));
    await run('revoke a provider session', 'del', () => client.del(index));
  }

  async function revokeSubject(issuer: string, subject: string, cutoffSeconds: number): Promise<void> {
    const cutoff = String(cutoffSeconds);
    await run('revoke a subject', 'eval', () => writer.eval(RAISE_CUTOFF, 1, keys.subjectCutoffKey(issuer, subject), cutoff, String(markerSeconds)));
    const index = keys.subjectKey(issuer, subject);
    // Scored by creation: sessions created after the cutoff are later logins and stay.
    const ids = await run('revoke a subject', 'zrangebyscore', () => client.zrangebyscore(index, '-inf', cutoff));
    await Promise.all(ids.filter(isSessionId).map(deleteSession));
    await run('revoke a subject', 'zremrangebyscore', () => client.zremrangebyscore(index, '-inf', cutoff));
    log?.debug({ sessions: ids.length }, 'sessions of a subject ended');
  }

  return Object.freeze({ index, endedBeforeStored, pruneSubjectIndex, unindex, revokeProviderSession, revokeSubject });
}
