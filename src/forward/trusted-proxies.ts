import { BlockList, isIP } from 'node:net';

/** Whether a peer address may tell us about the original request through X-Forwarded-*. */
export type IsTrustedProxy = (address: string | undefined) => boolean;

/** Peer addresses whose decision is remembered; past this the memory starts over. */
const DECIDED_PEERS_MAX = 4096;
const MAPPED_IPV4 = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i;

/**
 * Built once from server.trustedProxies (CIDR blocks or single addresses; default none).
 * A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d, so both forms are checked.
 */
export function createTrustedProxies(cidrs: readonly string[]): IsTrustedProxy {
  if (cidrs.length === 0) return () => false;
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
  const decide = (address: string): boolean => {
    const mapped = MAPPED_IPV4.exec(address);
    const candidate = mapped?.[1] ?? address;
    const family = isIP(candidate);
    if (family === 0) return false;
    if (list.check(candidate, family === 4 ? 'ipv4' : 'ipv6')) return true;
    return mapped !== null && list.check(address, 'ipv6');
  };
  // A proxy keeps a few addresses and many requests: the answer is worked out once per peer
  // address, not per request. Bounded, so a flood of peers cannot grow it without end.
  const decided = new Map<string, boolean>();
  return (address) => {
    if (typeof address !== 'string') return false;
    let trusted = decided.get(address);
    if (trusted === undefined) {
      trusted = decide(address);
      if (decided.size >= DECIDED_PEERS_MAX) decided.clear();
      decided.set(address, trusted);
    }
    return trusted;
  };
}
