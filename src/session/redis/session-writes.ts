import { createHash } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { Sealer } from '../seal.js';
import { sealSession } from '../sealed-session.js';
import type { Session, SessionCodecVersion } from '../session.js';
import type { RedisCommands } from './commands.js';
import { COMPARE_AND_SET, type RedisKeys } from './keys.js';
import type { StoredSession } from './opened-sessions.js';

/** What a write came to: the session kept, or nothing (gone, changing under us, or the refresh lock lost). */
export type LockedWrite = { readonly kept: Session } | { readonly kept: undefined; readonly lockLost: boolean };

export type WriteSession = (
  id: string,
  nowSeconds: number,
  first: StoredSession | undefined,
  change: (stored: Session) => Session,
  overwrite: { readonly last: boolean; readonly lockToken?: string },
) => Promise<LockedWrite>;

/** Compare-and-set rounds before a save gives up (a lost sliding renewal is harmless). */
const MAX_WRITE_ROUNDS = 4;

/** Seconds until expiresAt, at least 1: Redis rejects EX 0, and load checks the time anyway. */
export const secondsUntil = (expiresAt: number, nowSeconds: number): number => Math.max(1, Math.ceil(expiresAt - nowSeconds));

/**
 * Read-change-write of one stored session under compare-and-set, so no writer loses another's
 * change: `change` sees the latest stored session (`first`, or read afresh). Undefined when the
 * session is gone (or, with `overwrite.last` false, when it kept changing under us). With
 * `overwrite.last`, the last round writes over whatever is there (still never over a missing key):
 * used for tokens the provider has just rotated, which must not be dropped. With `lockToken`, only
 * while the refresh lock holds it.
 */
export function createSessionWrites(deps: {
  readonly client: Redis | Cluster;
  /** Where writes under the refresh lock go (see replica-acks.ts). */
  readonly writer: Redis | Cluster;
  readonly commands: RedisCommands;
  readonly keys: RedisKeys;
  readonly sealer: Sealer;
  readonly purpose: string;
  readonly codecVersion: SessionCodecVersion | undefined;
  readonly read: (id: string) => Promise<StoredSession | undefined>;
  /** After a write: sliding may carry the session past its indexes' TTL. */
  readonly index: (session: Session, nowSeconds: number) => Promise<void>;
  /** For the log line of a refresh that outlived its lock. */
  readonly lockSeconds: number;
  readonly log: Logger | undefined;
}): WriteSession {
  const { client, writer, commands, keys, sealer, purpose, read, log } = deps;

  return async (id, nowSeconds, first, change, overwrite) => {
    let stored = first ?? (await read(id));
    for (let round = 1; stored !== undefined; round++) {
      const next = sealSession(sealer, change(stored.session), purpose, deps.codecVersion);
      if (next.session.id !== id) throw new TypeError('a stored session cannot change its id');
      const last = round >= MAX_WRITE_ROUNDS;
      const expected = last && overwrite.last ? '' : createHash('sha1').update(stored.raw).digest('hex');
      const ttl = String(secondsUntil(next.session.expiresAt, nowSeconds));
      const { lockToken } = overwrite;
      const written = await commands.run('save a session', 'eval', () =>
        lockToken === undefined
          ? client.eval(COMPARE_AND_SET, 1, keys.sessionKey(id), expected, next.value, ttl)
          : writer.eval(COMPARE_AND_SET, 2, keys.sessionKey(id), keys.lockKey(id), expected, next.value, ttl, lockToken),
      );
      if (written === -1) {
        log?.warn({ refreshLockSeconds: deps.lockSeconds }, 'a refresh outlived its lock; its result is dropped for the replica that took the lock');
        return { kept: undefined, lockLost: true };
      }
      if (written === 1) {
        // Sliding may carry the session past the indexes' TTL: they must outlive it, or a
        // back-channel logout would no longer find it.
        await deps.index(next.session, nowSeconds);
        return { kept: next.session };
      }
      if (last) {
        log?.debug('a session kept changing while it was saved; this save is dropped');
        return { kept: undefined, lockLost: false };
      }
      stored = await read(id);
    }
    return { kept: undefined, lockLost: false };
  };
}
