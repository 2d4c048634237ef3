import { describe, expect, it } from 'vitest';
import { compileClaims, parseClaimKey, readClaim } from '../../src/claims/index.js';

// The data of the spec's "claims" section (its nested example, with the missing ":" after "user" restored).
const SPEC_CLAIMS = Object.freeze({
  active: true,
  grp: 'admin',
  scope: 'reader writer deploy',
  referrer: 'http://example.com/foo/bar',
  areas: ['office', 'home'],
  user: { name: 'John Snow', status: 'undead' },
});

const SPEC_EXAMPLES = [
  'Equals(`grp`, `admin`)',
  'Prefix(`referrer`, `http://example.com`)',
  'Contains(`referrer`, `/foo/`)',
  'Contains(`areas`, `home`)',
  'SplitContains(`scope`, ` `, `writer`)',
  'OneOf(`areas`, `office`, `lab`)',
  'Equals(`grp`, `admin`) && Equals(`active`, `true`)',
  'Equals(`grp`, `admin`) || Equals(`active`, `true`)',
  '!Equals(`grp`, `testers`)',
  'Equals(`id_token.grp`, `admin`)',
  'Prefix(`access_token.referrer`, `http://example.com`)',
] as const;

describe('the examples of the spec', () => {
  const sources = { idToken: SPEC_CLAIMS, accessToken: SPEC_CLAIMS };

  for (const example of SPEC_EXAMPLES) {
    it(`${example} is true for the spec's data`, () => {
      const compiled = compileClaims(example);
      expect(compiled.evaluate(sources)).toBe(true);
      expect(compiled.explain(sources)[0]).toBe('true');
    });
  }

  it('the nested key user.name reads "John Snow"', () => {
    expect(readClaim(SPEC_CLAIMS, parseClaimKey('user.name'))).toBe('John Snow');
    expect(compileClaims('Equals(`user.name`, `John Snow`)').evaluate(sources)).toBe(true);
    expect(compileClaims('Equals(`user.status`, `undead`)').evaluate(sources)).toBe(true);
  });

  it('a changed value makes each single-function example false', () => {
    const changed = { idToken: { ...SPEC_CLAIMS, grp: 'users', referrer: 'https://other.example/', areas: ['lab2'], scope: 'reader' }, accessToken: undefined };
    for (const example of SPEC_EXAMPLES.slice(0, 6)) {
      expect(compileClaims(example).evaluate(changed), example).toBe(false);
    }
  });

  it('the access_token. prefix reads the access token, not the ID token', () => {
    const onlyInIdToken = { idToken: SPEC_CLAIMS, accessToken: {} };
    expect(compileClaims('Prefix(`access_token.referrer`, `http://example.com`)').evaluate(onlyInIdToken)).toBe(false);
    const onlyInAccessToken = { idToken: {}, accessToken: SPEC_CLAIMS };
    expect(compileClaims('Equals(`grp`, `admin`)').evaluate(onlyInAccessToken)).toBe(false);
    expect(compileClaims('Equals(`access_token.grp`, `admin`)').evaluate(onlyInAccessToken)).toBe(true);
  });
});
