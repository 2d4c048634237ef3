import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import { createLru } from '../../cache/lru.js';
import type { Sealer } from '../seal.js';
import { openSession } from '../sealed-session.js';
import type { RedisCommands } from './commands.js';
import { isSessionId, type RedisKeys } from './keys.js';
import type { Session } from '../session.js';

/** The stored session as read, with the sealed value to compare-and-set against. */
export interface StoredSession {
  readonly raw: string;
  readonly session: Session;
}

/** Reading sessions out of Redis and session ids out of cookies, each opened once. */
export interface OpenedSessions {
  /** The stored session, or undefined when there is none (or it does not open under our secrets). */
  read(id: string): Promise<StoredSession | undefined>;
  /** The session id a cookie holds, or undefined for anything that is not one of our cookies. */
  idOf(cookieValue: string): string | undefined;
  /** The session is gone: its opened value is not kept. */
  forget(id: string): void;
}

/**
 * What opening costs is remembered, never what Redis says: every read still asks Redis, so a
 * revocation or a write by any replica counts at once. A cookie always opens to the same id, and a
 * stored value to the same session, so the same bytes need opening once.
 */
export function createOpenedSessions(deps: {
  readonly client: Redis | Cluster;
  readonly commands: RedisCommands;
  readonly keys: RedisKeys;
  readonly sealer: Sealer;
  /** AAD of a stored value; a cookie's id is sealed under purpose + ':id'. */
  readonly purpose: string;
  readonly idPurpose: string;
  readonly cacheSize: number;
  readonly log: Logger | undefined;
}): OpenedSessions {
  const { client, commands, keys, sealer, purpose, idPurpose, log } = deps;
  const idsByCookie = createLru<string, string>(deps.cacheSize);
  const openedById = createLru<string, StoredSession>(deps.cacheSize);

  async function read(id: string): Promise<StoredSession | undefined> {
    const raw = await commands.run('read a session', 'get', () => client.get(keys.sessionKey(id)));
    if (raw === null) {
      openedById.delete(id);
      return undefined;
    }
    const cached = openedById.get(id);
    if (cached !== undefined && cached.raw === raw) return cached;
    const opened = openSession(sealer, raw, purpose);
    if (opened === undefined || opened.session.id !== id) {
      // Ours by key, not by seal: a secret removed too early, or a value written by something else.
      log?.warn('a session stored in Redis did not open; was a secret removed while sessions sealed with it were alive?');
      return undefined;
    }
    const stored: StoredSession = { raw, session: opened.session };
    openedById.set(id, stored);
    return stored;
  }

  function idOf(cookieValue: string): string | undefined {
    const known = idsByCookie.get(cookieValue);
    if (known !== undefined) return known;
    const opened = sealer.open(cookieValue, idPurpose);
    if (opened === undefined) return undefined;
    const id = Buffer.from(opened).toString('latin1');
    if (!isSessionId(id)) return undefined;
    idsByCookie.set(cookieValue, id);
    return id;
  }

  return Object.freeze({ read, idOf, forget: (id: string) => void openedById.delete(id) });
}
