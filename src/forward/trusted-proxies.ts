import { BlockList, isIP } from 'node:net';

/** Whether a peer address may tell us about the original request through X-Forwarded-*. */
export interface IsTrustedProxy {
  (address: string | undefined): boolean;
  /**
   * Told that an untrusted peer sent X-Forwarded-* (which were ignored): true the first time for
   * that peer, false after, so the warning that trustedProxies misses a proxy is written once per
   * peer and the decision costs one lookup in the same memory as the trust itself.
   */
  readonly firstIgnoredForwarding: (address: string | undefined) => boolean;
}

/** Peer addresses whose decision is remembered; past this the memory starts over. */
const DECIDED_PEERS_MAX = 4096;
const MAPPED_IPV4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;
const TRUSTED = 1;
const UNTRUSTED = 0;
/** Untrusted, and already reported for sending X-Forwarded-*. */
const UNTRUSTED_REPORTED = 2;
type PeerState = typeof TRUSTED | typeof UNTRUSTED | typeof UNTRUSTED_REPORTED;

/**
 * Built once from server.trustedProxies (CIDR blocks or single addresses; default none).
 * A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d, so both forms are checked.
 */
export function createTrustedProxies(cidrs: readonly string[]): IsTrustedProxy {
  const decide = cidrs.length === 0 ? () => false : decideByList(cidrs);
  // A proxy keeps a few addresses and many requests: the answer is worked out once per peer
  // address, not per request. Bounded, so a flood of peers cannot grow it without end.
  const decided = new Map<string, PeerState>();
  const stateOf = (address: string): PeerState => {
    let state = decided.get(address);
    if (state === undefined) {
      state = decide(address) ? TRUSTED : UNTRUSTED;
      if (decided.size >= DECIDED_PEERS_MAX) decided.clear();
      decided.set(address, state);
    }
    return state;
  };
  const isTrusted = (address: string | undefined): boolean => typeof address === 'string' && stateOf(address) === TRUSTED;
  const firstIgnoredForwarding = (address: string | undefined): boolean => {
    if (typeof address !== 'string' || stateOf(address) !== UNTRUSTED) return false;
    decided.set(address, UNTRUSTED_REPORTED);
    return true;
  };
  return Object.assign(isTrusted, { firstIgnoredForwarding });
}

function decideByList(cidrs: readonly string[]): (address: string) => boolean {
  const list = new BlockList();
  for (const entry of cidrs) {
    const [address = '', prefix, ...rest] = entry.trim().split('/');
    const family = isIP(address);
    if (family === 0 || rest.length > 0) throw new TypeError(`invalid trusted proxy entry: ${entry}`);
    const type = family === 4 ? 'ipv4' : 'ipv6';
    if (prefix === undefined) {
      list.addAddress(address, type);
      continue;
    }
    const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
    if (!(bits >= 0 && bits <= (family === 4 ? 32 : 128))) throw new TypeError(`invalid trusted proxy prefix: ${entry}`);
    list.addSubnet(address, bits, type);
  }
  return (address) => {
    const mapped = MAPPED_IPV4.exec(address);
    const candidate = mapped?.[1] ?? address;
    const family = isIP(candidate);
    if (family === 0) return false;
    if (list.check(candidate, family === 4 ? 'ipv4' : 'ipv6')) return true;
    return mapped !== null && list.check(address, 'ipv6');
  };
}
