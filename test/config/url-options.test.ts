import { describe, expect, it } from 'vitest';
import { checkFlexibleUrl, checkIssuerUrl } from '../../src/config/url-options.js';

describe('checkFlexibleUrl', () => {
  it.each(['/callback', '/a/b?x=1', 'example.com/callback', 'localhost:8080/cb', '10.0.0.1/cb', '[::1]:8443/cb', 'https://example.com/cb', 'HTTP://example.com'])(
    'accepts %s',
    (value) => {
      expect(checkFlexibleUrl(value)).toBeUndefined();
    },
  );

  it.each([
    ['javascript:alert(1)', 'scheme "javascript:" is not supported'],
    ['ftp://example.com/x', 'scheme "ftp:" is not supported'],
    ['data:text/html,x', 'scheme "data:" is not supported'],
    ['http:example.com', 'must be a path'],
    ['//evil.example/x', 'must be a path'],
    ['callback', 'a path starts with "/"'],
    ['example.com', 'a path starts with "/"'],
    ['/call back', 'whitespace and backslashes are not allowed'],
    ['/\\evil.example', 'whitespace and backslashes are not allowed'],
    ['https://user:pw@example.com/cb', 'must not contain credentials'],
    ['exa mple.com/x', 'whitespace'],
    ['-bad-.com/x', 'must be a path'],
  ])('rejects %s', (value, reason) => {
    expect(checkFlexibleUrl(value)).toContain(reason);
  });
});

describe('checkIssuerUrl', () => {
  it('accepts an absolute http or https URL', () => {
    expect(checkIssuerUrl('https://tenant.auth0.com/realms/myrealm')).toBeUndefined();
    expect(checkIssuerUrl('http://127.0.0.1:3000')).toBeUndefined();
  });

  it.each([
    ['/realms/x', 'must be an absolute http(s) URL'],
    ['tenant.auth0.com/realms/x', 'must be an absolute http(s) URL'],
    ['ftp://tenant.auth0.com', 'scheme "ftp:" is not supported'],
    ['https://id.example.com/?tenant=a', 'must not have a query or fragment'],
    ['https://id.example.com/#x', 'must not have a query or fragment'],
  ])('rejects %s', (value, reason) => {
    expect(checkIssuerUrl(value)).toContain(reason);
  });
});
