import type { Logger } from 'pino';
import { readClaim, type ClaimKey, type ClaimSources, type CompiledClaims } from '../claims/index.js';
import { createAdmissionFilter } from '../cache/admission.js';
import { createLru, type Lru } from '../cache/lru.js';
import type { Answer } from './answer.js';
import { checkIdentityHeaderBudget, claimText, headerValueFromClaim, type IdentityHeaderBudget } from './forwarded-headers.js';

/**
 * Who the claims say the caller is, for sessions and bearer tokens alike: the claims rule's
 * answer, the forwardHeaders, the access-log username, and the refusal when those headers are
 * more than the proxies can carry.
 */

export interface ForwardedHeader {
  readonly name: string;
  readonly key: ClaimKey;
}

/** What a middleware runtime holds for identity; the runtime itself satisfies it. */
export interface IdentityRules {
  readonly claims: CompiledClaims | undefined;
  readonly forwardHeaders: readonly ForwardedHeader[];
  readonly usernameKey: ClaimKey | undefined;
  /** Verdicts already reached under these rules, see createClaimsVerdicts. */
  readonly claimsVerdicts: ClaimsVerdicts;
}

/** The runtime's memory of verdicts, keyed by the frozen ID-token claims object. */
export interface ClaimsVerdicts {
  get(idClaims: object): ClaimsVerdict | undefined;
  /** Kept while there is room, then when `sessionId` was offered before (or is absent): see createClaimsVerdicts. */
  offer(idClaims: object, verdict: ClaimsVerdict, sessionId: string | undefined): void;
  readonly size: number;
}

export interface ForwardedIdentity {
  readonly headers: Readonly<Record<string, string>>;
  readonly budget: IdentityHeaderBudget;
  readonly username: string | undefined;
}

/** What a session's claims come to under one runtime: the rule's answer, then the identity it forwards. */
export interface ClaimsVerdict {
  readonly accessClaims: ClaimSources['accessToken'];
  readonly allowed: boolean;
  /** Computed on first use: a denied session never needs it. */
  identity(): ForwardedIdentity;
}

export type TooLargeBudget = Extract<IdentityHeaderBudget, { ok: false }>;

const VERDICTS_PER_RUNTIME = 1000;

/**
 * Verdicts per runtime and session, computed once: a decoded session is shared by every request
 * that carries its cookie (the stores cache it), and its claims are deeply frozen
 * (sealed-session.ts), so the rule's answer and the header values cannot change while the same
 * claims objects live. Keyed by the ID-token claims object, which a sliding renewal's copy of the
 * session keeps; a refresh or a re-sealed session brings new claims objects, hence a new entry.
 * One per runtime, since a reload builds a new one (perhaps another rule, other headers). A bounded
 * LRU, not a WeakMap keyed by the claims: with sessions coming and going, a WeakMap's entries cost
 * the garbage collector more than the verdict saves. Once full, a session's verdict is kept from its
 * second check on (admission.ts): with more sessions than it holds, each checked once, entries
 * would live just long enough to be promoted to the old generation and then be evicted unused.
 */
export function createClaimsVerdicts(): ClaimsVerdicts {
  const verdicts: Lru<object, ClaimsVerdict> = createLru(VERDICTS_PER_RUNTIME);
  const admission = createAdmissionFilter(VERDICTS_PER_RUNTIME);
  return {
    get: (idClaims) => verdicts.get(idClaims),
    offer(idClaims, verdict, sessionId) {
      if (sessionId === undefined || verdicts.size < VERDICTS_PER_RUNTIME || admission.offer(sessionId)) verdicts.set(idClaims, verdict);
    },
    get size() {
      return verdicts.size;
    },
  };
}

/** The rule's answer for one set of claims; without a rule everyone signed in is allowed. */
export function claimsAllow(rules: Pick<IdentityRules, 'claims'>, sources: ClaimSources): boolean {
  return rules.claims === undefined || rules.claims.evaluate(sources);
}

/**
 * A session's verdict, from the runtime's memory when its claims are the frozen ones seen before.
 * `sessionId` gates what is remembered (second sight); without it a verdict is always kept.
 */
export function claimsVerdict(rules: IdentityRules, sources: ClaimSources, sessionId?: string): ClaimsVerdict {
  const { idToken, accessToken } = sources;
  const cacheable = Object.isFrozen(idToken) && (accessToken === undefined || Object.isFrozen(accessToken));
  const cached = cacheable ? rules.claimsVerdicts.get(idToken) : undefined;
  if (cached !== undefined && cached.accessClaims === accessToken) return cached;
  let identity: ForwardedIdentity | undefined;
  const verdict: ClaimsVerdict = {
    accessClaims: accessToken,
    allowed: claimsAllow(rules, sources),
    identity() {
      if (identity !== undefined) return identity;
      identity = forwardedIdentity(rules, sources);
      // Frozen: one headers object goes into the answers of every request of this session.
      Object.freeze(identity.headers);
      return identity;
    },
  };
  if (cacheable) rules.claimsVerdicts.offer(idToken, verdict, sessionId);
  return verdict;
}

/**
 * The forwardHeaders, their size against the budget and the username for a set of claim sources.
 * The headers are a new object, the caller's to add to (a bearer answer's token headers) or freeze.
 */
export function forwardedIdentity(
  rules: Pick<IdentityRules, 'forwardHeaders' | 'usernameKey'>,
  sources: ClaimSources,
): ForwardedIdentity & { readonly headers: Record<string, string> } {
  const headers: Record<string, string> = {};
  for (const header of rules.forwardHeaders) headers[header.name] = headerValueFromClaim(readIdentityClaim(sources, header.key));
  const username = rules.usernameKey === undefined ? undefined : claimText(readIdentityClaim(sources, rules.usernameKey));
  return { headers, budget: checkIdentityHeaderBudget(headers), username };
}

/** A key without a token prefix reads the access token when there is one, else the ID token. */
function readIdentityClaim(sources: ClaimSources, key: ClaimKey): unknown {
  if (key.token === 'id_token') return readClaim(sources.idToken, key);
  if (key.token === 'access_token') return readClaim(sources.accessToken, key);
  return readClaim(sources.accessToken ?? sources.idToken, key);
}

/**
 * Identity headers past what the proxies can carry (nginx would answer 502, others cut them
 * silently): a clear refusal instead.
 */
export function identityTooLarge(budget: TooLargeBudget, cookies: readonly string[]): Answer {
  return {
    kind: 'error',
    code: 'OFA_IDENTITY_HEADERS_TOO_LARGE',
    detail: `the identity headers take ${budget.bytes} bytes, more than the ${budget.limit} the proxies can carry (largest: ${budget.largest})`,
    retryUrl: undefined,
    cookies,
  };
}

/** Sizes and the largest header's name only: the values are someone's claims. */
export function warnIdentityTooLarge(log: Logger, budget: TooLargeBudget): void {
  log.warn({ code: 'OFA_IDENTITY_HEADERS_TOO_LARGE', bytes: budget.bytes, limit: budget.limit, largest: budget.largest }, 'identity headers exceed their size budget; refusing');
}

/** Which terms said no, at debug level only: the explanation walks the whole rule. */
export function debugClaimsDenied(log: Logger, rules: Pick<IdentityRules, 'claims'>, sources: ClaimSources, message: string): void {
  if (rules.claims !== undefined && log.isLevelEnabled('debug')) log.debug({ explanation: rules.claims.explain(sources) }, message);
}
