import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { reconstructOriginalRequest, type AuthRequestInput, type ReconstructResult } from '../../src/forward/original-request.js';
import { createTrustedProxies } from '../../src/forward/trusted-proxies.js';
import { matchesUrlOption, parseUrlOption } from '../../src/forward/url-option.js';

const trusted = createTrustedProxies(['10.0.0.0/8']);
const PROXY = '10.0.0.2';
const STRANGER = '203.0.113.9';

function reconstruct(headers: IncomingHttpHeaders, overrides: Partial<AuthRequestInput> = {}): ReconstructResult {
  return reconstructOriginalRequest({ peerAddress: PROXY, method: 'GET', url: '/auth/app', headers, ...overrides }, trusted);
}

function ok(result: ReconstructResult) {
  if (!result.ok) throw new Error(`expected ok, got: ${result.reason}`);
  return result.request;
}

const forwarded = {
  host: 'auth:4181',
  'x-forwarded-proto': 'https',
  'x-forwarded-host': 'app.example',
  'x-forwarded-uri': '/page?a=1',
  'x-forwarded-method': 'POST',
};

describe('reconstructOriginalRequest from a trusted proxy', () => {
  it('uses X-Forwarded-Proto, -Host, -Uri and -Method', () => {
    const request = ok(reconstruct(forwarded));
    expect(request.url.href).toBe('https://app.example/page?a=1');
    expect(request.method).toBe('POST');
    expect(request.rawPath).toBe('/page');
    expect(request.trustedForwarding).toBe(true);
  });

  it('falls back to Host, the auth request URL and method when X-Forwarded-* are absent', () => {
    const request = ok(reconstruct({ host: 'app.example:8080' }, { url: '/direct?x=1', method: 'DELETE' }));
    expect(request.url.href).toBe('http://app.example:8080/direct?x=1');
    expect(request.method).toBe('DELETE');
  });

  it('trusts a proxy that connects over IPv4-mapped IPv6', () => {
    expect(ok(reconstruct(forwarded, { peerAddress: '::ffff:10.0.0.2' })).trustedForwarding).toBe(true);
  });

  it('maps Traefik ws/wss protocols to http/https and ignores protocol case', () => {
    expect(ok(reconstruct({ ...forwarded, 'x-forwarded-proto': 'wss' })).url.protocol).toBe('https:');
    expect(ok(reconstruct({ ...forwarded, 'x-forwarded-proto': 'ws' })).url.protocol).toBe('http:');
    expect(ok(reconstruct({ ...forwarded, 'x-forwarded-proto': 'HTTPS' })).url.protocol).toBe('https:');
  });

  it('lower-cases the host and drops a default port', () => {
    expect(ok(reconstruct({ ...forwarded, 'x-forwarded-host': 'App.Example:443' })).url.host).toBe('app.example');
    expect(ok(reconstruct({ ...forwarded, 'x-forwarded-host': 'app.example:8443' })).url.host).toBe('app.example:8443');
  });

  it('gives host and protocol as the URL prints them, without building the URL for them', () => {
    for (const host of ['App.Example:443', 'app.example:8443', '192.0.2.1:8080', '[::1]:8080', '[::1]']) {
      const request = ok(reconstruct({ ...forwarded, 'x-forwarded-host': host }));
      expect(request.host).toBe(request.url.host);
      expect(request.protocol).toBe(request.url.protocol);
    }
  });

  it('refuses a host that WHATWG parsing would change (numeric IPv4 forms), every time it is asked', () => {
    for (let attempt = 0; attempt < 2; attempt += 1) {
      for (const host of ['0x7f.1', '127.1', '2130706433', '1.2.3']) {
        const result = reconstruct({ ...forwarded, 'x-forwarded-host': host });
        expect(result.ok, host).toBe(false);
      }
    }
  });

  it('accepts IPv4 and bracketed IPv6 hosts', () => {
    expect(ok(reconstruct({ ...forwarded, 'x-forwarded-host': '192.0.2.1:8080' })).url.host).toBe('192.0.2.1:8080');
    expect(ok(reconstruct({ ...forwarded, 'x-forwarded-host': '[::1]:8080' })).url.host).toBe('[::1]:8080');
  });

  it('keeps commas in the URI (they are legal in paths and queries)', () => {
    expect(ok(reconstruct({ ...forwarded, 'x-forwarded-uri': '/a,b?x=1,2' })).url.search).toBe('?x=1,2');
  });

  it.each<[string, IncomingHttpHeaders]>([
    ['a list in X-Forwarded-Host', { 'x-forwarded-host': 'app.example, evil.example' }],
    ['a list in X-Forwarded-Proto', { 'x-forwarded-proto': 'https, http' }],
    ['an array X-Forwarded-Host', { 'x-forwarded-host': ['a.example', 'b.example'] as unknown as string }],
    ['an array X-Forwarded-Uri', { 'x-forwarded-uri': ['/a', '/b'] as unknown as string }],
    ['a list in X-Forwarded-Method', { 'x-forwarded-method': 'GET, POST' }],
    ['an unsupported protocol', { 'x-forwarded-proto': 'ftp' }],
    ['javascript as the protocol', { 'x-forwarded-proto': 'javascript' }],
    ['a host with userinfo', { 'x-forwarded-host': 'user@evil.example' }],
    ['a host with a path', { 'x-forwarded-host': 'app.example/evil' }],
    ['a host with a space', { 'x-forwarded-host': 'app.example evil' }],
    ['a host with a control character', { 'x-forwarded-host': 'app.example\x01' }],
    ['a host with a backslash', { 'x-forwarded-host': 'evil.example\\app.example' }],
    ['an empty host', { 'x-forwarded-host': '' }],
    ['an over-long host', { 'x-forwarded-host': 'a'.repeat(254) }],
    ['an out-of-range port', { 'x-forwarded-host': 'app.example:65536' }],
    ['a port with a leading zero', { 'x-forwarded-host': 'app.example:0443' }],
    ['an invalid IPv6 host', { 'x-forwarded-host': '[::g]' }],
    ['a host the URL parser would rewrite (short IPv4)', { 'x-forwarded-host': '1.2.3' }],
    ['a host the URL parser would rewrite (hex IPv4)', { 'x-forwarded-host': '0x7f.1' }],
    ['a scheme-relative URI', { 'x-forwarded-uri': 'evil.example/x' }],
    ['an absolute URI', { 'x-forwarded-uri': 'https://evil.example/x' }],
    ['a URI starting with "@"', { 'x-forwarded-uri': '@evil.example/x' }],
    ['a URI starting with a backslash', { 'x-forwarded-uri': '\\\\evil.example/x' }],
    ['an asterisk URI', { 'x-forwarded-uri': '*' }],
    ['a URI with a space', { 'x-forwarded-uri': '/a b' }],
    ['a URI with a control character', { 'x-forwarded-uri': '/a\x00b' }],
    ['a URI with raw non-ASCII', { 'x-forwarded-uri': '/caf\u00e9' }],
    ['an oversized URI', { 'x-forwarded-uri': '/' + 'a'.repeat(8 * 1024) }],
    ['a method that is not a token', { 'x-forwarded-method': 'GE T' }],
    ['an empty method', { 'x-forwarded-method': '' }],
  ])('refuses %s', (_name, change) => {
    const result = reconstruct({ ...forwarded, ...change });
    expect(result.ok).toBe(false);
  });

  it('refuses a request without any host', () => {
    expect(reconstruct({}).ok).toBe(false);
  });

  it('refuses a repeated header it can see through rawHeaders', () => {
    const rawHeaders = ['Host', 'app.example', 'X-Forwarded-Host', 'app.example', 'x-forwarded-host', 'evil.example'];
    const result = reconstruct({ host: 'app.example', 'x-forwarded-host': 'app.example' }, { rawHeaders });
    expect(result).toEqual({ ok: false, reason: 'repeated x-forwarded-host header' });
  });

  it('refuses a repeated header whatever the case of its names', () => {
    for (const [first, second] of [['HOST', 'host'], ['X-FORWARDED-URI', 'x-Forwarded-Uri'], ['x-forwarded-proto', 'X-Forwarded-PROTO']]) {
      const rawHeaders = ['Host', 'app.example', first as string, 'a', second as string, 'b'].slice(first === 'HOST' ? 2 : 0);
      expect(reconstruct({ host: 'app.example' }, { rawHeaders }).ok).toBe(false);
    }
  });

  it('refuses a repeated Host, which Node hides by keeping the first', () => {
    const rawHeaders = ['Host', 'app.example', 'Host', 'evil.example'];
    expect(reconstruct({ host: 'app.example' }, { rawHeaders, peerAddress: STRANGER }).ok).toBe(false);
  });

  it('keeps a URI starting with "//" on the forwarded host', () => {
    const request = ok(reconstruct({ ...forwarded, 'x-forwarded-uri': '//evil.example/x' }));
    expect(request.url.host).toBe('app.example');
    expect(request.url.pathname).toBe('//evil.example/x');
    expect(request.rawPath).toBe('//evil.example/x');
  });

  it('keeps "/\\\\evil" and "/@evil" on the forwarded host', () => {
    expect(ok(reconstruct({ ...forwarded, 'x-forwarded-uri': '/\\\\evil.example/x' })).url.host).toBe('app.example');
    expect(ok(reconstruct({ ...forwarded, 'x-forwarded-uri': '/@evil.example' })).url.host).toBe('app.example');
  });
});

describe('reconstructOriginalRequest from an untrusted peer', () => {
  it('ignores X-Forwarded-* and uses plain http, the Host header and the auth request', () => {
    const request = ok(reconstruct(forwarded, { peerAddress: STRANGER, url: '/callback?code=c', method: 'GET' }));
    expect(request.url.href).toBe('http://auth:4181/callback?code=c');
    expect(request.method).toBe('GET');
    expect(request.trustedForwarding).toBe(false);
  });

  it('uses https when the connection to us is TLS', () => {
    expect(ok(reconstruct({ host: 'app.example' }, { peerAddress: STRANGER, secure: true })).url.protocol).toBe('https:');
  });

  it('does not refuse malformed X-Forwarded-* it is ignoring anyway', () => {
    const result = reconstruct({ host: 'app.example', 'x-forwarded-host': 'a, b', 'x-forwarded-proto': 'ftp' }, { peerAddress: STRANGER });
    expect(ok(result).url.host).toBe('app.example');
  });

  it('refuses an absolute-form request target', () => {
    expect(reconstruct({ host: 'app.example' }, { peerAddress: STRANGER, url: 'http://evil.example/x' }).ok).toBe(false);
  });

  it('trusts nobody when no proxies are configured', () => {
    const nobody = createTrustedProxies([]);
    const result = reconstructOriginalRequest({ peerAddress: '127.0.0.1', method: 'GET', url: '/x', headers: forwarded }, nobody);
    expect(ok(result).trustedForwarding).toBe(false);
  });
});

describe('path tricks cannot turn a request into the callback or logout path', () => {
  const callback = parseUrlOption('/callback');

  it.each(['/a/../callback', '/a/%2e%2e/callback', '/x/..%2Fcallback', '/%63allback', '/callback/', '/callback;jsessionid=1', '/./callback', '/CALLBACK', '/\\callback', '//callback'])(
    '%s is not the callback path, although the URL may normalise to it',
    (uri) => {
      const request = ok(reconstruct({ ...forwarded, 'x-forwarded-uri': `${uri}?code=c&state=s` }));
      expect(matchesUrlOption(callback, request.url, request.rawPath)).toBe(false);
    },
  );

  it('the exact path is the callback path', () => {
    const request = ok(reconstruct({ ...forwarded, 'x-forwarded-uri': '/callback?code=c&state=s' }));
    expect(matchesUrlOption(callback, request.url, request.rawPath)).toBe(true);
  });

  it('shows that the URL itself normalises dot segments, which is why matching uses rawPath', () => {
    const request = ok(reconstruct({ ...forwarded, 'x-forwarded-uri': '/a/../callback' }));
    expect(request.url.pathname).toBe('/callback');
    expect(request.rawPath).toBe('/a/../callback');
  });
});
