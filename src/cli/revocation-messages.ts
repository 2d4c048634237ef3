import type { RevocationEvent } from '../session/revocation-hub.js';

/**
 * What the workers and the primary say to each other about revocations over the cluster's IPC
 * channel. Tagged, since prom-client's metric requests travel on the same channel.
 */
const TAG = 'ofa-revocations';

export type WorkerMessage =
  /** A worker about to serve asks for every revocation still in force. */
  | { readonly tag: typeof TAG; readonly type: 'hello' }
  | { readonly tag: typeof TAG; readonly type: 'publish'; readonly id: number; readonly event: RevocationEvent }
  /** The worker applied a relayed event. */
  | { readonly tag: typeof TAG; readonly type: 'applied'; readonly relay: number }
  | { readonly tag: typeof TAG; readonly type: 'record-once'; readonly id: number; readonly key: string; readonly untilSeconds: number; readonly nowSeconds: number };

export type PrimaryMessage =
  | { readonly tag: typeof TAG; readonly type: 'snapshot'; readonly events: readonly RevocationEvent[] }
  | { readonly tag: typeof TAG; readonly type: 'apply'; readonly relay: number; readonly event: RevocationEvent }
  /** Every other serving worker applied the worker's event (or `ok: false`: that could not be confirmed). */
  | { readonly tag: typeof TAG; readonly type: 'published'; readonly id: number; readonly ok: boolean }
  | { readonly tag: typeof TAG; readonly type: 'recorded'; readonly id: number; readonly fresh: boolean };

type Untagged<T> = T extends unknown ? Omit<T, 'tag'> : never;

export const workerMessage = (message: Untagged<WorkerMessage>): WorkerMessage => ({ tag: TAG, ...message }) as WorkerMessage;
export const primaryMessage = (message: Untagged<PrimaryMessage>): PrimaryMessage => ({ tag: TAG, ...message }) as PrimaryMessage;

type Fields = Record<string, unknown>;

const isRecord = (value: unknown): value is Fields => typeof value === 'object' && value !== null && !Array.isArray(value);
const isTime = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isCount = (value: unknown): value is number => Number.isSafeInteger(value);
const isText = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

export function isRevocationEvent(value: unknown): value is RevocationEvent {
  if (!isRecord(value) || !isText(value.middleware) || !isTime(value.lifetimeSeconds)) return false;
  switch (value.kind) {
    case 'session':
      return isTime(value.nowSeconds) && isRecord(value.session) && isText(value.session.id) && isTime(value.session.expiresAt);
    case 'provider-session':
      return isTime(value.nowSeconds) && isText(value.issuer) && isText(value.providerSid);
    case 'subject':
      return isTime(value.cutoffSeconds) && isText(value.issuer) && isText(value.subject);
    default:
      return false;
  }
}

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  if (!isRecord(value) || value.tag !== TAG) return false;
  switch (value.type) {
    case 'hello':
      return true;
    case 'publish':
      return isCount(value.id) && isRevocationEvent(value.event);
    case 'applied':
      return isCount(value.relay);
    case 'record-once':
      return isCount(value.id) && isText(value.key) && isTime(value.untilSeconds) && isTime(value.nowSeconds);
    default:
      return false;
  }
}

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  if (!isRecord(value) || value.tag !== TAG) return false;
  switch (value.type) {
    case 'snapshot':
      return Array.isArray(value.events) && value.events.every(isRevocationEvent);
    case 'apply':
      return isCount(value.relay) && isRevocationEvent(value.event);
    case 'published':
      return isCount(value.id) && typeof value.ok === 'boolean';
    case 'recorded':
      return isCount(value.id) && typeof value.fresh === 'boolean';
    default:
      return false;
  }
}
