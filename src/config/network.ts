import { BlockList, isIP } from 'node:net';

/** host:port, with IPv6 hosts in brackets ([::1]:4181). Returns a reason on failure. */
export function parseHostPort(raw: string): { host: string; port: number } | { reason: string } {
  const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw);
  if (match === null) return { reason: `"${raw}" is not host:port (IPv6 as [::1]:4181)` };
  const bracketed = match[1];
  const host = bracketed ?? match[2] ?? '';
  const port = Number(match[3]);
  if (bracketed !== undefined && isIP(bracketed) !== 6) return { reason: `"${bracketed}" is not an IPv6 address` };
  if (bracketed === undefined && isIP(host) === 0 && !isHostName(host)) return { reason: `"${host}" is not a host name or address` };
  if (port > 65535) return { reason: `port ${port} is out of range` };
  return { host, port };
}

export function isHostName(value: string): boolean {
  return (
    value.length <= 253 &&
    value.split('.').every((label) => /^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/.test(label))
  );
}

/** An address or CIDR block as server.trustedProxies accepts it; returns a reason on failure. */
export function checkAddressOrCidr(raw: string): string | undefined {
  const [address = '', prefix, extra] = raw.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return `"${raw}" is not an IP address or CIDR block`;
  if (prefix === undefined) return undefined;
  const bits = Number(prefix);
  const max = family === 4 ? 32 : 128;
  if (!/^\d{1,3}$/.test(prefix) || bits > max) return `"${raw}" has an invalid prefix length (0-${max})`;
  try {
    new BlockList().addSubnet(address, bits, family === 4 ? 'ipv4' : 'ipv6');
  } catch {
    return `"${raw}" is not a valid CIDR block`;
  }
  return undefined;
}
