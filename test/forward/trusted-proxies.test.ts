import { describe, expect, it } from 'vitest';
import { createTrustedProxies } from '../../src/forward/trusted-proxies.js';

describe('createTrustedProxies', () => {
  it('trusts nobody by default', () => {
    const trusted = createTrustedProxies([]);
    expect(trusted('127.0.0.1')).toBe(false);
    expect(trusted('::1')).toBe(false);
  });

  it('trusts addresses inside an IPv4 CIDR block and nothing outside it', () => {
    const trusted = createTrustedProxies(['10.0.0.0/8']);
    expect(trusted('10.1.2.3')).toBe(true);
    expect(trusted('11.0.0.1')).toBe(false);
    expect(trusted('9.255.255.255')).toBe(false);
  });

  it('trusts a single address given without a prefix', () => {
    const trusted = createTrustedProxies(['192.168.1.10']);
    expect(trusted('192.168.1.10')).toBe(true);
    expect(trusted('192.168.1.11')).toBe(false);
  });

  it('matches IPv4-mapped IPv6 peers (a dual-stack socket) against IPv4 blocks', () => {
    const trusted = createTrustedProxies(['127.0.0.0/8']);
    expect(trusted('::ffff:127.0.0.1')).toBe(true);
    expect(trusted('::FFFF:127.0.0.1')).toBe(true);
    expect(trusted('::ffff:128.0.0.1')).toBe(false);
  });

  it('matches IPv6 blocks', () => {
    const trusted = createTrustedProxies(['fd00::/8', '::1']);
    expect(trusted('fd12:3456::1')).toBe(true);
    expect(trusted('::1')).toBe(true);
    expect(trusted('fe80::1')).toBe(false);
    expect(trusted('127.0.0.1')).toBe(false);
  });

  it('treats /0 as everyone of that family', () => {
    const trusted = createTrustedProxies(['0.0.0.0/0']);
    expect(trusted('8.8.8.8')).toBe(true);
    expect(trusted('2001:db8::1')).toBe(false);
  });

  it('trusts no missing or malformed peer address', () => {
    const trusted = createTrustedProxies(['0.0.0.0/0', '::/0']);
    for (const address of [undefined, '', 'localhost', '10.0.0.1:80', '1.2.3.4.5', 'garbage']) {
      expect(trusted(address)).toBe(false);
    }
  });

  it.each(['10.0.0.0/33', 'fd00::/129', 'not-an-ip', '10.0.0.0/8/8', '10.0.0.0/x', '10.0.0.0/'])('refuses the entry %s', (entry) => {
    expect(() => createTrustedProxies([entry])).toThrow(TypeError);
  });
});
