import { createMemoryRevocations, type MemoryRevocations } from './memory-revocations.js';
import type { Session } from './session.js';

/**
 * One revocation as every process of the service applies it. It carries what the memory needs
 * to match a session, never a token or a claim.
 */
export type RevocationEvent =
  | {
      readonly kind: 'session';
      readonly middleware: string;
      readonly session: Session;
      readonly nowSeconds: number;
      readonly lifetimeSeconds: number;
    }
  | {
      readonly kind: 'provider-session';
      readonly middleware: string;
      readonly issuer: string;
      readonly providerSid: string;
      readonly nowSeconds: number;
      readonly lifetimeSeconds: number;
    }
  | {
      readonly kind: 'subject';
      readonly middleware: string;
      readonly issuer: string;
      readonly subject: string;
      /** Sessions of the subject created at or before this (to the millisecond) are revoked. */
      readonly cutoffSeconds: number;
      readonly lifetimeSeconds: number;
    };

/**
 * How revocations reach the other processes of the service (node:cluster workers). Absent, this
 * process is the whole service.
 */
export interface RevocationShare {
  /** Resolves once every other serving process has applied the event; rejects when that cannot be confirmed. */
  publish(event: RevocationEvent): Promise<void>;
  /** The one answer across processes: false when any process recorded the key before (a replay). */
  recordOnce(key: string, untilSeconds: number, nowSeconds: number): Promise<boolean>;
}

/** One middleware's revocations: the same object for every store generation, across reloads. */
export interface MiddlewareRevocations {
  /**
   * A number that moves whenever a revocation of this middleware is applied in this process
   * (local or relayed from another worker): a verdict cached under one epoch is stale under the next.
   */
  epoch(): number;
  isRevoked(session: Session, nowSeconds: number): boolean;
  /** `lifetimeSeconds`: session.expiry when revoked, how long a matching session could still be alive. */
  revokeSession(session: Session, nowSeconds: number, lifetimeSeconds: number): Promise<void>;
  revokeProviderSession(issuer: string, providerSid: string, nowSeconds: number, lifetimeSeconds: number): Promise<void>;
  revokeSubject(issuer: string, subject: string, cutoffSeconds: number, lifetimeSeconds: number): Promise<void>;
  recordOnce(key: string, untilSeconds: number, nowSeconds: number): Promise<boolean>;
}

/**
 * The process's revocation memory for stores whose sessions live in the browser, shared by every
 * middleware runtime and every reload generation, and by every worker through `share`.
 */
export interface RevocationHub {
  forMiddleware(name: string): MiddlewareRevocations;
  /** Applies an event published by another process. */
  apply(event: RevocationEvent): void;
}

export interface RevocationHubOptions {
  readonly share?: RevocationShare | undefined;
  /** Revocations remembered per kind and middleware; past this the oldest are forgotten. */
  readonly maxEntries?: number | undefined;
}

interface MiddlewareMemory {
  /**
   * One memory per session lifetime seen: a reload that changes session.expiry must neither cut
   * short what was revoked under the longer one nor keep the new ones too briefly.
   */
  readonly byLifetime: Map<number, MemoryRevocations>;
  /** Logout-token ids, when no other process decides them. */
  readonly recorded: MemoryRevocations;
  /** Moves with every revocation applied here, local or relayed (see MiddlewareRevocations.epoch). */
  epoch: number;
}

export function createRevocationHub(options: RevocationHubOptions = {}): RevocationHub {
  const { share } = options;
  const memories = new Map<string, MiddlewareMemory>();
  const memoryOptions = options.maxEntries === undefined ? {} : { maxEntries: options.maxEntries };

  function memoryOf(middleware: string): MiddlewareMemory {
    let memory = memories.get(middleware);
    if (memory === undefined) {
      memory = { byLifetime: new Map(), recorded: createMemoryRevocations({ sessionLifetimeSeconds: 0, ...memoryOptions }), epoch: 0 };
      memories.set(middleware, memory);
    }
    return memory;
  }

  function lifetimeMemory(middleware: string, lifetimeSeconds: number): MemoryRevocations {
    const { byLifetime } = memoryOf(middleware);
    let memory = byLifetime.get(lifetimeSeconds);
    if (memory === undefined) {
      memory = createMemoryRevocations({ sessionLifetimeSeconds: lifetimeSeconds, ...memoryOptions });
      byLifetime.set(lifetimeSeconds, memory);
    }
    return memory;
  }

  function apply(event: RevocationEvent): void {
    const memory = lifetimeMemory(event.middleware, event.lifetimeSeconds);
    memoryOf(event.middleware).epoch += 1;
    switch (event.kind) {
      case 'session':
        memory.revokeSession(event.session, event.nowSeconds);
        break;
      case 'provider-session':
        memory.revokeProviderSession(event.issuer, event.providerSid, event.nowSeconds);
        break;
      case 'subject':
        memory.revokeSubject(event.issuer, event.subject, event.cutoffSeconds);
        break;
    }
  }

  /** Applied here first, so this process refuses at once; resolved once every other process has it too. */
  async function revoke(event: RevocationEvent): Promise<void> {
    apply(event);
    await share?.publish(event);
  }

  return Object.freeze({
    apply,
    forMiddleware(middleware: string): MiddlewareRevocations {
      return Object.freeze({
        epoch: () => memories.get(middleware)?.epoch ?? 0,
        isRevoked(session: Session, nowSeconds: number): boolean {
          const memory = memories.get(middleware);
          if (memory === undefined) return false;
          for (const revocations of memory.byLifetime.values()) if (revocations.isRevoked(session, nowSeconds)) return true;
          return false;
        },
        revokeSession: (session: Session, nowSeconds: number, lifetimeSeconds: number) =>
          revoke({ kind: 'session', middleware, session: withoutSecrets(session), nowSeconds, lifetimeSeconds }),
        revokeProviderSession: (issuer: string, providerSid: string, nowSeconds: number, lifetimeSeconds: number) =>
          revoke({ kind: 'provider-session', middleware, issuer, providerSid, nowSeconds, lifetimeSeconds }),
        revokeSubject: (issuer: string, subject: string, cutoffSeconds: number, lifetimeSeconds: number) =>
          revoke({ kind: 'subject', middleware, issuer, subject, cutoffSeconds, lifetimeSeconds }),
        async recordOnce(key: string, untilSeconds: number, nowSeconds: number): Promise<boolean> {
          const scoped = `${middleware}\0${key}`;
          if (share !== undefined) return share.recordOnce(scoped, untilSeconds, nowSeconds);
          return memoryOf(middleware).recorded.recordOnce(scoped, untilSeconds, nowSeconds);
        },
      });
    },
  });
}

/** What matching a revoked session needs: no token and no claim leaves the process that held them. */
function withoutSecrets(session: Session): Session {
  const { idToken: _idToken, refreshToken: _refreshToken, accessToken: _accessToken, accessClaims: _accessClaims, idClaims: _idClaims, ...rest } = session;
  return { ...rest, idClaims: {} };
}
