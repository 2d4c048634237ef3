import { hash } from 'node:crypto';
import { createAdmissionFilter } from '../cache/admission.js';
import type { Answer } from './answer.js';

export type AllowAnswer = Extract<Answer, { kind: 'allow' }>;

/**
 * The signed-in check's answers, kept per middleware runtime for each session cookie value, so a
 * request whose cookie was answered before costs a lookup: no decryption, no claims rule, no
 * header building. An entry is the answer for as long as nothing that decided it moves:
 *  - time: `freshUntilSeconds` is the first moment the session needs something (expiry, refresh,
 *    sliding renewal, maxLifetime);
 *  - revocations: the store's epoch moves with every logout, back-channel logout and max-lifetime
 *    end applied in this process (relayed ones from other workers included); a new epoch empties
 *    the cache;
 *  - the configuration: a reload builds a new runtime, hence a new cache.
 * Only answers that carry no cookie are kept (a renewal or refresh must reach the browser), and
 * only for requests that the answer does not depend on (see handle-forward-auth.ts).
 *
 * Bounded by bytes, not entries: cookie values and identity headers vary in size by a factor of
 * ten between deployments. Oldest first out; a hit does not reorder (a Map keeps insertion order).
 * Once full, an answer is let in only when its cookie comes back within about as many misses as
 * the cache holds (admission.ts): a crowd of sessions seen once each does not churn it.
 *
 * Keyed by the value's last characters (the GCM tag, random per sealing): a Map hashes a fresh key
 * string character by character, ~4 µs for a 2 KiB cookie. The entry holds a SHA-256 of the whole
 * value, compared on a hit (~1.6 µs), not the value itself: 32 bytes instead of 2 KiB a session, so
 * the cache holds ten times the sessions in the same memory. A shared tail is a miss, never
 * another session's answer.
 */
export interface VerdictCache {
  lookup(cookieValue: string, nowSeconds: number, epoch: number): AllowAnswer | undefined;
  remember(cookieValue: string, answer: AllowAnswer, freshUntilSeconds: number, epoch: number): void;
  /** Bytes held now (keys, header values, a fixed overhead per entry). */
  readonly bytes: number;
}

/** Holds ~25,000 sessions with two identity headers, per middleware. */
export const DEFAULT_VERDICT_CACHE_BYTES = 8 * 1024 * 1024;
/** Map entry, entry object, key and digest strings, answer object and header record: measured order of magnitude. */
const ENTRY_OVERHEAD_BYTES = 280;

const KEY_CHARS = 32;
/** An entry's size when working out how many misses the admission window spans. */
const TYPICAL_ENTRY_BYTES = 340;

interface Entry {
  /** SHA-256 of the whole cookie value, as a 32-character one-byte string. */
  readonly digest: string;
  readonly answer: AllowAnswer;
  readonly freshUntilSeconds: number;
  readonly bytes: number;
}

export function createVerdictCache(maxBytes: number = DEFAULT_VERDICT_CACHE_BYTES): VerdictCache {
  if (!Number.isInteger(maxBytes) || maxBytes < 0) throw new TypeError('verdict cache size must be a non-negative integer');
  const entries = new Map<string, Entry>();
  const admission = createAdmissionFilter(Math.max(1, Math.floor(maxBytes / TYPICAL_ENTRY_BYTES)));
  let bytes = 0;
  let cacheEpoch = 0;

  function adopt(epoch: number): void {
    if (epoch === cacheEpoch) return;
    entries.clear();
    bytes = 0;
    cacheEpoch = epoch;
  }

  function drop(key: string, entry: Entry): void {
    entries.delete(key);
    bytes -= entry.bytes;
  }

  return {
    lookup(cookieValue, nowSeconds, epoch) {
      adopt(epoch);
      const key = cookieValue.slice(-KEY_CHARS);
      const entry = entries.get(key);
      if (entry === undefined || entry.digest !== digestOf(cookieValue)) return undefined;
      if (nowSeconds >= entry.freshUntilSeconds) {
        drop(key, entry);
        return undefined;
      }
      return entry.answer;
    },
    remember(cookieValue, answer, freshUntilSeconds, epoch) {
      adopt(epoch);
      const size = entrySize(answer);
      if (size > maxBytes) return;
      const key = cookieValue.slice(-KEY_CHARS);
      const previous = entries.get(key);
      if (previous !== undefined) drop(key, previous);
      // Full, a newcomer would push a kept answer out: only one whose cookie came back gets in.
      else if (bytes + size > maxBytes && !admission.offer(key)) return;
      // A slice of the request's Cookie header: copied, so the entry keeps only itself alive.
      entries.set(flatCopy(key), { digest: digestOf(cookieValue), answer, freshUntilSeconds, bytes: size });
      bytes += size;
      for (const [key, entry] of entries) {
        if (bytes <= maxBytes) break;
        drop(key, entry);
      }
    },
    get bytes() {
      return bytes;
    },
  };
}

function entrySize(answer: AllowAnswer): number {
  let size = ENTRY_OVERHEAD_BYTES + (answer.username?.length ?? 0);
  for (const name in answer.headers) size += name.length + (answer.headers[name]?.length ?? 0);
  return size;
}

function digestOf(cookieValue: string): string {
  return hash('sha256', cookieValue, 'binary');
}

function flatCopy(text: string): string {
  return Buffer.from(text, 'latin1').toString('latin1');
}
