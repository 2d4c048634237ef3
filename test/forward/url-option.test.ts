import { describe, expect, it } from 'vitest';
import { matchesUrlOption, parseUrlOption, resolveParsedUrlOption, resolveUrlOption } from '../../src/forward/url-option.js';

describe('resolveUrlOption (the spec redirectUrl tables)', () => {
  it.each([
    ['http://expl.co', '/cback', 'http://expl.co/cback'],
    ['https://scur.co', 'expl.co/cback', 'https://expl.co/cback'],
    ['https://scur.co', 'http://expl.co/cback', 'http://expl.co/cback'],
  ])('request %s with option %s resolves to %s', (request, option, expected) => {
    expect(resolveUrlOption(option, new URL(request)).href).toBe(expected);
  });

  it('keeps the request port for a path option', () => {
    expect(resolveUrlOption('/cb', new URL('http://app.example:8080/page')).href).toBe('http://app.example:8080/cb');
  });

  it('keeps the port written in a host/path option', () => {
    expect(resolveUrlOption('auth.example:8443/cb', new URL('https://app.example/')).href).toBe('https://auth.example:8443/cb');
  });

  it('treats a bare host as its root path', () => {
    expect(resolveUrlOption('expl.co', new URL('https://scur.co/x')).href).toBe('https://expl.co/');
  });

  it('keeps a query written in the option', () => {
    expect(resolveUrlOption('/after?from=logout', new URL('https://app.example/')).href).toBe('https://app.example/after?from=logout');
  });

  it('does not take the request query or path along', () => {
    expect(resolveUrlOption('/cb', new URL('https://app.example/deep/page?a=1')).href).toBe('https://app.example/cb');
  });

  it.each(['ftp://expl.co/cb', 'javascript://x/alert(1)', '//evil.example/cb', '', 'https://user:pw@expl.co/cb', 'expl.co:99999/cb', 'a b/cb', '/c\\b', 'evil@expl.co/cb'])(
    'refuses the option %s',
    (option) => {
      expect(() => parseUrlOption(option)).toThrow(TypeError);
    },
  );

  it('resolves a pre-parsed option to a fresh URL each time', () => {
    const parsed = parseUrlOption('/cb');
    const a = resolveParsedUrlOption(parsed, new URL('https://one.example/'));
    a.pathname = '/changed';
    expect(resolveParsedUrlOption(parsed, new URL('https://one.example/')).href).toBe('https://one.example/cb');
  });
});

describe('matchesUrlOption', () => {
  const callback = parseUrlOption('/callback');

  it('matches the same host, port and exact raw path, ignoring the query', () => {
    const original = new URL('https://app.example/callback?code=x&state=y');
    expect(matchesUrlOption(callback, original, '/callback')).toBe(true);
  });

  it('ignores the scheme (TLS may end before us)', () => {
    expect(matchesUrlOption(parseUrlOption('http://app.example/callback'), new URL('https://app.example/callback'), '/callback')).toBe(true);
  });

  it('does not match another host or port', () => {
    expect(matchesUrlOption(parseUrlOption('auth.example/callback'), new URL('https://app.example/callback'), '/callback')).toBe(false);
    const original = new URL('https://app.example:8443/callback');
    expect(matchesUrlOption(parseUrlOption('https://app.example/callback'), original, '/callback')).toBe(false);
    expect(matchesUrlOption(parseUrlOption('APP.example:8443/callback'), original, '/callback')).toBe(true);
  });

  it.each(['/callback/', '/Callback', '/callback;x', '/a/../callback', '/%63allback', '/callback%2F', '//callback', '/./callback', '/callback/.'])(
    'does not treat the raw path %s as the callback path',
    (rawPath) => {
      const original = new URL(`https://app.example${rawPath}`);
      expect(matchesUrlOption(callback, original, rawPath)).toBe(false);
    },
  );
});
