import { createHash } from 'node:crypto';

/**
 * Where the Redis store keeps what, and the atomic steps it runs there.
 *
 * Keys (p = the store's versioned, per-middleware prefix; {id} is the Cluster hash tag, so one
 * session's keys share a slot and a script may touch them together):
 *   p s:{id}        the sealed session, EX until expiresAt
 *   p s:{id}:lock   the cross-replica refresh lock, PX refreshLockSeconds
 *   p sid:<digest>  sorted set of session ids of one provider login (issuer, sid), scored by createdAt
 *   p sub:<digest>  sorted set of session ids of one user (issuer, sub), scored by createdAt
 *   p jti:<digest>  a back-channel logout token id, EX until the token expires
 *   p sid-ended:<digest>  a provider login (issuer, sid) ended by back-channel logout, for a while
 *   p sub-cutoff:<digest> the latest cutoff of a subject-wide logout (issuer, sub), for a while
 * The last two let a login that is stored after the revocation read its index still end with it.
 * The index keys live in other slots than the sessions they name: nothing here sends one command
 * (or one script) across slots. Scripts go by EVAL rather than defineCommand: they are a few
 * hundred bytes, and the client may be shared with other stores, so it is not ours to extend.
 */
export interface RedisKeys {
  sessionKey(id: string): string;
  lockKey(id: string): string;
  providerSessionKey(issuer: string, sid: string): string;
  subjectKey(issuer: string, subject: string): string;
  logoutTokenKey(issuer: string, jti: string): string;
  providerSessionEndedKey(issuer: string, sid: string): string;
  subjectCutoffKey(issuer: string, subject: string): string;
}

const SESSION_ID = /^[A-Za-z0-9_-]{22}$/;

/** Our own 22-character session ids: the only ids that ever become part of a key name. */
export const isSessionId = (value: string): boolean => SESSION_ID.test(value);

/** Provider values (issuer, sid, sub, jti) never appear in key names: only a digest of them. */
const digest = (issuer: string, value: string): string =>
  createHash('sha256').update(issuer).update('\0').update(value).digest('base64url');

export function createRedisKeys(prefix: string): RedisKeys {
  // A brace in the prefix would become the Cluster hash tag of every key, instead of the session id.
  if (typeof prefix !== 'string' || prefix.length === 0 || /[{}]/.test(prefix)) {
    throw new TypeError('the Redis key prefix must be a non-empty string without { or }');
  }
  return {
    sessionKey: (id) => `${prefix}s:{${id}}`,
    lockKey: (id) => `${prefix}s:{${id}}:lock`,
    providerSessionKey: (issuer, sid) => `${prefix}sid:${digest(issuer, sid)}`,
    subjectKey: (issuer, subject) => `${prefix}sub:${digest(issuer, subject)}`,
    logoutTokenKey: (issuer, jti) => `${prefix}jti:${digest(issuer, jti)}`,
    providerSessionEndedKey: (issuer, sid) => `${prefix}sid-ended:${digest(issuer, sid)}`,
    subjectCutoffKey: (issuer, subject) => `${prefix}sub-cutoff:${digest(issuer, subject)}`,
  };
}

/**
 * Replaces the stored value only while it is still the one we read (ARGV[1]: its SHA-1, or '' for
 * any value), and never brings back a key that is gone: a revoked session stays revoked, and a
 * sliding renewal that read the session before a refresh cannot put the spent refresh token back.
 * With a second key (the refresh lock, in the session's slot), only while that lock still holds
 * ARGV[4], else -1: a refresh that outlived its lock leaves the session to the lock's new holder.
 */
export const COMPARE_AND_SET = `
if KEYS[2] and redis.call('GET', KEYS[2]) ~= ARGV[4] then return -1 end
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
if ARGV[1] ~= '' and redis.sha1hex(current) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'EX', ARGV[3])
return 1
`;

/** Deletes the lock only while it still holds our token: a lock that expired and was taken by another replica is theirs. */
export const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`;

/**
 * Adds a session to an index scored by its createdAt, and lets the index live at least ARGV[3]
 * seconds: never shortened, so it outlives every session in it. (EXPIRE … GT would not do:
 * it treats a key without a TTL as infinite and leaves it without one.)
 */
export const ADD_TO_INDEX = `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('TTL', KEYS[1]) < tonumber(ARGV[3]) then redis.call('EXPIRE', KEYS[1], ARGV[3]) end
return 1
`;

/**
 * Keeps the later of two cutoffs (ARGV[1], seconds to the millisecond) for ARGV[2] seconds: two
 * logouts of one subject arriving out of order must not move the cutoff back.
 */
export const RAISE_CUTOFF = `
local current = tonumber(redis.call('GET', KEYS[1]))
if current and current >= tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return 1
`;
