import { OfaError } from '../errors.js';
import type { RevocationEvent, RevocationHub, RevocationShare } from '../session/revocation-hub.js';
import { RELAY_ACK_TIMEOUT_MS } from './revocation-relay.js';
import { isPrimaryMessage, workerMessage, type PrimaryMessage, type WorkerMessage } from './revocation-messages.js';

/** Longer than the primary's own wait for the other workers, so its answer normally comes first. */
const ANSWER_TIMEOUT_MS = RELAY_ACK_TIMEOUT_MS + 2_000;

export interface WorkerRevocationLink extends RevocationShare {
  /**
   * Applies every revocation in force (the primary's copy), then, as they come, those the other
   * workers make. Resolves once the first are applied: only then may this worker serve.
   */
  connect(hub: RevocationHub): Promise<void>;
  close(): void;
}

type Answer = Extract<PrimaryMessage, { type: 'published' | 'recorded' }>;

/** A node:cluster worker's side of shared revocations (revocation-relay.ts is the primary's). */
export function createWorkerRevocationLink(channel: NodeJS.Process = process): WorkerRevocationLink {
  const sendToPrimary = channel.send?.bind(channel);
  if (sendToPrimary === undefined) throw new TypeError('a worker revocation link needs an IPC channel to the primary');
  const send = (message: WorkerMessage): void => void sendToPrimary(message, undefined, {}, () => {});
  const waiting = new Map<number, (answer: Answer) => void>();
  let nextId = 0;
  let onMessage: ((message: unknown) => void) | undefined;

  function ask(message: (id: number) => WorkerMessage, what: string): Promise<Answer> {
    const id = (nextId += 1);
    return new Promise<Answer>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiting.delete(id);
        reject(new OfaError('OFA_STORE_UNAVAILABLE', `the primary process did not answer ${what} in time`));
      }, ANSWER_TIMEOUT_MS);
      timer.unref();
      waiting.set(id, (answer) => {
        clearTimeout(timer);
        resolve(answer);
      });
      send(message(id));
    });
  }

  return {
    async publish(event: RevocationEvent): Promise<void> {
      const answer = await ask((id) => workerMessage({ type: 'publish', id, event }), 'a revocation');
      if (answer.type !== 'published' || !answer.ok) {
        throw new OfaError('OFA_STORE_UNAVAILABLE', 'not every worker confirmed the revocation');
      }
    },
    async recordOnce(key: string, untilSeconds: number, nowSeconds: number): Promise<boolean> {
      const answer = await ask((id) => workerMessage({ type: 'record-once', id, key, untilSeconds, nowSeconds }), 'a logout-token id');
      return answer.type === 'recorded' && answer.fresh;
    },
    connect(hub: RevocationHub): Promise<void> {
      return new Promise<void>((connected) => {
        onMessage = (message: unknown): void => {
          if (!isPrimaryMessage(message)) return;
          switch (message.type) {
            case 'snapshot':
              for (const event of message.events) hub.apply(event);
              connected();
              return;
            case 'apply':
              hub.apply(message.event);
              send(workerMessage({ type: 'applied', relay: message.relay }));
              return;
            case 'published':
            case 'recorded': {
              const resolve = waiting.get(message.id);
              waiting.delete(message.id);
              resolve?.(message);
              return;
            }
          }
        };
        channel.on('message', onMessage);
        send(workerMessage({ type: 'hello' }));
      });
    },
    close() {
      if (onMessage !== undefined) channel.off('message', onMessage);
    },
  };
}
