import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';
import type { RevocationEvent } from '../session/revocation-hub.js';
import { isWorkerMessage, primaryMessage, type PrimaryMessage } from './revocation-messages.js';

/** A worker that has not applied a relayed revocation by then is stuck: its sender's request fails closed. */
export const RELAY_ACK_TIMEOUT_MS = 5_000;
/** Revocations kept for workers that start later; past this the expired, then the oldest, are dropped. */
const MAX_EVENTS = 40_000;
/** Logout-token ids remembered; past this the expired, then the oldest, are forgotten. */
const MAX_RECORDED = 10_000;

export interface RevocationRelay {
  close(): void;
}

interface Pending {
  readonly origin: Worker;
  readonly id: number;
  readonly waiting: Set<Worker>;
  readonly timer: NodeJS.Timeout;
}

/**
 * The primary's side of shared revocations (`server.workers` above 1). A worker applies its own
 * revocation at once and sends it here; the primary keeps it (for workers that start later),
 * relays it to every other serving worker, and tells the sender once all of them applied it, so
 * the answer to a logout leaves only when no worker would let the cookie in. Logout-token ids are
 * decided here alone: a token replayed to another worker is still a replay.
 */
export function startRevocationRelay(options: { readonly log: Logger }): RevocationRelay {
  const { log } = options;
  let events: RevocationEvent[] = [];
  const recorded = new Map<string, number>();
  const serving = new Set<Worker>();
  const pending = new Map<number, Pending>();
  let nextRelay = 0;

  const send = (worker: Worker, message: PrimaryMessage): void => {
    // A worker that is going away cannot be told; its exit settles what waited for it.
    if (worker.isConnected()) worker.send(message, () => {});
  };

  const settle = (relay: number, ok: boolean): void => {
    const entry = pending.get(relay);
    if (entry === undefined) return;
    pending.delete(relay);
    clearTimeout(entry.timer);
    send(entry.origin, primaryMessage({ type: 'published', id: entry.id, ok }));
  };

  const keep = (event: RevocationEvent): void => {
    events.push(event);
    if (events.length <= MAX_EVENTS) return;
    const nowSeconds = Date.now() / 1000;
    events = events.filter((kept) => keptUntil(kept) > nowSeconds);
    if (events.length > MAX_EVENTS) events = events.slice(events.length - MAX_EVENTS);
  };

  const recordOnce = (key: string, untilSeconds: number, nowSeconds: number): boolean => {
    const until = recorded.get(key);
    if (until !== undefined && until > nowSeconds) return false;
    recorded.delete(key);
    recorded.set(key, untilSeconds);
    if (recorded.size > MAX_RECORDED) {
      for (const [kept, keptUntilSeconds] of recorded) if (keptUntilSeconds <= nowSeconds) recorded.delete(kept);
      for (const kept of recorded.keys()) {
        if (recorded.size <= MAX_RECORDED) break;
        recorded.delete(kept);
      }
    }
    return true;
  };

  const onMessage = (worker: Worker, message: unknown): void => {
    if (!isWorkerMessage(message)) return;
    switch (message.type) {
      case 'hello': {
        const nowSeconds = Date.now() / 1000;
        events = events.filter((kept) => keptUntil(kept) > nowSeconds);
        // Sent and marked serving in one step: every later event reaches it as a relay.
        send(worker, primaryMessage({ type: 'snapshot', events }));
        serving.add(worker);
        return;
      }
      case 'publish': {
        keep(message.event);
        const others = [...serving].filter((other) => other !== worker && other.isConnected());
        const relay = (nextRelay += 1);
        const timer = setTimeout(() => {
          log.error({ waitingFor: [...(pending.get(relay)?.waiting ?? [])].map((other) => other.id) }, 'a worker did not confirm a revocation in time');
          settle(relay, false);
        }, RELAY_ACK_TIMEOUT_MS);
        timer.unref();
        pending.set(relay, { origin: worker, id: message.id, waiting: new Set(others), timer });
        if (others.length === 0) return settle(relay, true);
        for (const other of others) send(other, primaryMessage({ type: 'apply', relay, event: message.event }));
        return;
      }
      case 'applied': {
        const entry = pending.get(message.relay);
        entry?.waiting.delete(worker);
        if (entry !== undefined && entry.waiting.size === 0) settle(message.relay, true);
        return;
      }
      case 'record-once':
        send(worker, primaryMessage({ type: 'recorded', id: message.id, fresh: recordOnce(message.key, message.untilSeconds, message.nowSeconds) }));
        return;
    }
  };

  const onExit = (worker: Worker): void => {
    serving.delete(worker);
    for (const [relay, entry] of pending) {
      if (entry.origin === worker) {
        pending.delete(relay);
        clearTimeout(entry.timer);
        continue;
      }
      entry.waiting.delete(worker);
      if (entry.waiting.size === 0) settle(relay, true);
    }
  };

  cluster.on('message', onMessage);
  cluster.on('exit', onExit);
  return {
    close() {
      cluster.off('message', onMessage);
      cluster.off('exit', onExit);
      for (const entry of pending.values()) clearTimeout(entry.timer);
      pending.clear();
    },
  };
}

/**
 * A subject's cutoff may lie before its arrival (a logout token's iat): its revocation is kept
 * this much longer, at least as long as the workers' own memory keeps it.
 */
const CUTOFF_LAG_ALLOWANCE_SECONDS = 600;

/** Past this no session the event matches can still be alive. */
function keptUntil(event: RevocationEvent): number {
  switch (event.kind) {
    case 'session':
      return event.session.expiresAt;
    case 'provider-session':
      return event.nowSeconds + event.lifetimeSeconds;
    case 'subject':
      return event.cutoffSeconds + CUTOFF_LAG_ALLOWANCE_SECONDS + event.lifetimeSeconds;
  }
}
